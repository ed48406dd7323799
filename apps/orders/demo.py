"""Demo fees and a little trading, all through the real services:

* a fee schedule for every asset class: equities and ETFs 0.5 bps (1.00 to 50.00 an order),
  bonds, funds, gold and private shares their own;
* on gold by the gram (XAU-G trades round the clock, so its market is open whenever the demo
  loads): Bob, whose gold arrived from his previous broker, sells to Alice twice; the second
  trade is busted (one staff member asks, another approves); Alice's lower bid rests on the
  book, so the blotter has an open order.

Idempotent: schedules are created once per asset class (staff edits are kept), orders carry
fixed client order ids, the transfer a fixed idempotency key; the bust is made once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TextIO

from django.utils import timezone

from apps.accounts.models import TradingAccount, User
from apps.core.errors import ApplicationError
from apps.instruments.choices import AssetClass
from apps.instruments.models import Instrument
from apps.orders import services
from apps.orders.models import FeeSchedule, Order

D = Decimal
STAFF = "admin@bourse.local"
OPERATIONS = "ops@bourse.local"
SYMBOL = "XAU-G"

# asset class -> (bps, per share, minimum per order, maximum per order)
FEES = {
    AssetClass.EQUITY: (D("0.5"), D("0"), D("1.00"), D("50.00")),
    AssetClass.ETF: (D("0.5"), D("0"), D("1.00"), D("50.00")),
    AssetClass.BOND: (D("5"), D("0"), D("5.00"), D("150.00")),
    AssetClass.FUND: (D("0"), D("0"), D("0"), None),
    AssetClass.COMMODITY: (D("15"), D("0"), D("1.00"), D("100.00")),
    AssetClass.PRIVATE: (D("100"), D("0"), D("25.00"), None),
}

# (client order id, client, side, quantity, limit price, time in force). Bob's KYC tier lets him
# trade 1000.00 a day: his sales here stay small.
ORDERS = [
    ("demo-gold-ask-1", "bob@example.com", "sell", D("1"), D("128.60"), "gtc"),
    ("demo-gold-bid-1", "alice@example.com", "buy", D("1"), D("128.70"), "ioc"),
    ("demo-gold-ask-2", "bob@example.com", "sell", D("1"), D("128.65"), "gtc"),
    ("demo-gold-bid-2", "alice@example.com", "buy", D("1"), D("128.65"), "ioc"),
    ("demo-gold-bid-3", "alice@example.com", "buy", D("10"), D("125.00"), "gtc"),
]
BUST = ("demo-gold-bid-2", "Demo: printed while the gold price feed was stale")


def _fee_schedules(out: TextIO) -> None:
    created = []
    for asset_class, (bps, per_share, low, high) in FEES.items():
        _, new = FeeSchedule.objects.get_or_create(
            asset_class=asset_class,
            defaults={
                "bps": bps,
                "per_share": per_share,
                "minimum_per_order": low,
                "maximum_per_order": high,
            },
        )
        if new:
            created.append(str(asset_class))
    if created:
        out.write(f"Fee schedules: {', '.join(created)}.\n")


def _account(email: str) -> TradingAccount | None:
    return TradingAccount.objects.filter(owner__email=email).order_by("number").first()


def _gold_for_bob(staff: User, gold: Instrument, out: TextIO) -> bool:
    from apps.positions.services import securities_transfer_request

    bob = _account("bob@example.com")
    if bob is None:
        return False
    try:
        securities_transfer_request(
            account=bob,
            instrument=gold,
            quantity=D("50"),
            cost_basis=D("121.30"),
            acquired_on=timezone.localdate() - dt.timedelta(days=200),
            reason="Allocated gold transferred in from Harbor Direct",
            actor=staff,
            idempotency_key="demo-gold-transfer-bob",
        )
    except ApplicationError as exc:
        out.write(f"Demo gold for {bob.number} skipped: {exc.message}\n")
        return False
    return True


def _trade(gold: Instrument, out: TextIO) -> None:
    from apps.matching.services import match_instrument

    placed = 0
    for client_order_id, email, side, quantity, price, tif in ORDERS:
        account = _account(email)
        if account is None:
            continue
        try:
            _, created = services.order_place(
                account=account,
                instrument=gold,
                side=side,
                type="limit",
                quantity=quantity,
                limit_price=price,
                time_in_force=tif,
                client_order_id=client_order_id,
                actor=account.owner,
            )
        except ApplicationError as exc:
            out.write(f"Demo order {client_order_id} skipped: {exc.message}\n")
            continue
        placed += created
        match_instrument(instrument_id=gold.pk)
    if placed:
        out.write(f"Demo trading on {gold.symbol}: {placed} orders placed and matched.\n")


def _bust(staff: User, out: TextIO) -> None:
    """Staff bust Alice's second purchase: one asks, operations approve (before the day's
    settlement run could settle it)."""
    from apps.matching.models import Trade
    from apps.matching.services import trade_bust_request, trade_correction_approve

    ops = User.objects.filter(email=OPERATIONS).first()
    order = Order.objects.filter(client_order_id=BUST[0]).first()
    trade = Trade.objects.filter(buy_order=order).first() if order else None
    if ops is None or trade is None or trade.corrections.exists():
        return
    try:
        request = trade_bust_request(trade=trade, actor=staff, reason=BUST[1])
        trade_correction_approve(
            correction=request, actor=ops, reason="Demo: checked against the vault's price log"
        )
    except ApplicationError as exc:
        out.write(f"Demo bust skipped: {exc.message}\n")
        return
    out.write(f"Trade {trade.pk} busted after a second staff member's approval.\n")


def load(out: TextIO) -> None:
    _fee_schedules(out)
    staff = User.objects.filter(email=STAFF).first()
    gold = Instrument.objects.filter(symbol=SYMBOL).first()
    if staff is None or gold is None:
        return
    if not Order.objects.filter(client_order_id=ORDERS[0][0]).exists() and not _gold_for_bob(
        staff, gold, out
    ):
        return
    _trade(gold, out)
    _bust(staff, out)
