"""Demo settlement, all through the real services, on allocated gold (XAU-G, round the clock,
T+2) so it works at any hour:

* Alice opens a second cash account holding 30 g of gold transferred in and no cash. She
  sells the gold there, buys 20 g with the unsettled proceeds and sells those 20 g at once:
  a good-faith violation (Regulation T). Her first account is the other side of each trade.
* The vault reports a delivery to Alice's first account 10 g short: ops hold the 10 g in
  suspense. The demo then settles the trades' date: everything settles but the purchase the
  missing grams belong to, which waits in the fails queue.
* Bob buys 5 g afterwards: a pending instruction on the settlement calendar and his portal.

The settlement is run for the trades' own settlement date at once, as the end-of-day run
would on that date, so staff find a run, settled and failed instructions and a violation.
Idempotent: it does nothing once its first order exists.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TextIO

from django.utils import timezone

from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount, User
from apps.accounts.services import trading_account_activate, trading_account_open
from apps.core.errors import ApplicationError
from apps.instruments.choices import MarketState
from apps.instruments.models import Instrument
from apps.instruments.selectors import market_state
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import LedgerAccount
from apps.ledger.services import journal_post, ledger_account_get
from apps.matching.services import match_instrument
from apps.orders.models import Order
from apps.orders.services import order_place
from apps.positions.services import securities_transfer_request
from apps.settlement.choices import RunTrigger
from apps.settlement.models import SettlementInstruction
from apps.settlement.services import settlement_run

SYMBOL = "XAU-G"
OPERATIONS = "ops@bourse.local"
MARKER = "demo-settlement-1"
D = Decimal


def _accounts(email: str) -> list[TradingAccount]:
    return list(TradingAccount.objects.filter(owner__email=email).order_by("number"))


def _second_account(alice: User, ops: User) -> TradingAccount:
    accounts = _accounts(alice.email)
    if len(accounts) > 1:
        return accounts[1]
    account = trading_account_open(owner=alice, actor=alice, currency="USD")
    return trading_account_activate(
        account=account, actor=ops, reason="Demo: second cash account", enforce_permission=False
    )


def _trade(gold: Instrument, seller, buyer, quantity: Decimal, price: Decimal, name: str) -> None:
    for account, side in ((seller, "sell"), (buyer, "buy")):
        order_place(
            account=account,
            instrument=gold,
            side=side,
            type="limit",
            quantity=quantity,
            limit_price=price,
            time_in_force="gtc",
            client_order_id=f"{name}-{side}",
            actor=account.owner,
        )
        match_instrument(instrument_id=gold.pk)


def _custody_short(main: TradingAccount, gold: Instrument, ops: User) -> None:
    """The vault reports 10 g of a delivery to ``main`` missing: ops hold them in suspense."""
    journal_post(
        kind="custody_break",
        postings=[
            (ledger_account_get(owner=main, instrument=gold, bucket=Bucket.UNSETTLED), -D("10")),
            (
                ledger_account_get(house=HouseAccount.SUSPENSE, instrument=gold, bucket="settled"),
                D("10"),
            ),
        ],
        memo="The vault reported the delivery 10 g short; held in suspense while ops look.",
        actor=ops,
        idempotency_key="demo-settlement-custody-short",
        reference=f"DEMO-{main.number}",
    )


def load(out: TextIO) -> None:
    gold = Instrument.objects.filter(symbol=SYMBOL).select_related("calendar").first()
    ops = User.objects.filter(email=OPERATIONS).first()
    alice = User.objects.filter(email="alice@example.com").first()
    bob_accounts = _accounts("bob@example.com")
    if gold is None or ops is None or alice is None or not _accounts(alice.email):
        return
    if Order.objects.filter(client_order_id__startswith=MARKER).exists():
        return
    if market_state(instrument=gold) != MarketState.OPEN:
        out.write(f"Demo settlement skipped: {SYMBOL} is not trading right now.\n")
        return
    main = _accounts(alice.email)[0]
    if main.status != AccountStatus.ACTIVE:
        return
    price = gold.reference_price.quantize(gold.tick_size)
    try:
        second = _second_account(alice, ops)
        securities_transfer_request(
            account=second,
            instrument=gold,
            quantity=D("30"),
            cost_basis=(price * D("0.9")).quantize(D("0.01")),
            acquired_on=timezone.localdate() - dt.timedelta(days=200),
            reason="Demo: gold transferred in from another dealer",
            actor=ops,
            idempotency_key="demo-settlement-gold",
            enforce_permission=False,
        )
        _trade(gold, second, main, D("30"), price, f"{MARKER}-a")
        _trade(gold, main, second, D("20"), price, f"{MARKER}-b")
        _trade(gold, second, main, D("20"), price, f"{MARKER}-c")
    except ApplicationError as exc:
        out.write(f"Demo settlement skipped: {exc.message}\n")
        return
    delivered = LedgerAccount.objects.filter(
        owner=main, instrument=gold, bucket=Bucket.UNSETTLED, balance__gte=D("10")
    )
    if delivered.exists():
        _custody_short(main, gold, ops)
    due = (
        SettlementInstruction.objects.filter(account=second)
        .order_by("-settlement_date")
        .values_list("settlement_date", flat=True)
        .first()
    )
    if due is None:
        return
    try:
        run = settlement_run(
            run_date=due,
            trigger=RunTrigger.COMMAND,
            reason="Demo: the day's trades settled on their settlement date",
        )
    except ApplicationError as exc:
        out.write(f"Demo settlement run skipped: {exc.message}\n")
        return
    out.write(
        f"Demo settlement: {run}; {run.instructions_settled} settled, "
        f"{run.instructions_failed} in the fails queue; Alice's {second.number} has a "
        "good-faith violation.\n"
    )
    if bob_accounts and bob_accounts[0].status == AccountStatus.ACTIVE:
        try:
            _trade(gold, main, bob_accounts[0], D("5"), price, f"{MARKER}-d")
        except ApplicationError as exc:
            out.write(f"Demo purchase for Bob skipped: {exc.message}\n")
            return
        out.write(f"Bob bought 5 g of gold: it settles on {due}.\n")
