"""Demo holdings, all through the real services:

* the demo clients' shares transferred in from their previous brokers (applied at once: each
  is below the four-eyes value), so they have positions and tax lots, long and short term;
* a larger transfer waits for a second staff member's approval;
* a custodian receipt booked in the ledger before its lot: the reconciliation records the
  break, the lot is booked, and the break is resolved, so staff find one in the admin.

Idempotent: transfers carry fixed idempotency keys and the receipt a fixed journal key.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TextIO

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import TradingAccount, User
from apps.core.errors import ApplicationError
from apps.instruments.models import Instrument
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import JournalEntry
from apps.ledger.services import journal_post, ledger_account_get
from apps.positions import services
from apps.positions.models import LotSource, ReconciliationBreak

STAFF = "admin@bourse.local"
D = Decimal

# (client, symbol, quantity, cost per share, days held, delivering broker)
TRANSFERS = [
    ("alice@example.com", "AAPL", D("40"), D("142.35"), 1210, "Northbridge Securities"),
    ("alice@example.com", "MSFT", D("15"), D("331.20"), 640, "Northbridge Securities"),
    ("alice@example.com", "SPY", D("12"), D("512.80"), 190, "Northbridge Securities"),
    ("bob@example.com", "NVDA", D("60"), D("118.40"), 420, "Harbor Direct"),
    ("bob@example.com", "XOM", D("25"), D("109.75"), 95, "Harbor Direct"),
]
AWAITING = ("alice@example.com", "QQQ", D("60"), D("488.10"), 300, "Northbridge Securities")
RECEIPT = ("bob@example.com", "JNJ", D("5"), "demo-custody-receipt-bob-jnj")


def _account(email: str) -> TradingAccount | None:
    return TradingAccount.objects.filter(owner__email=email).order_by("number").first()


def _transfer(staff: User, spec: tuple, out: TextIO) -> None:
    email, symbol, quantity, cost, days, broker = spec
    account, instrument = _account(email), Instrument.objects.filter(symbol=symbol).first()
    if account is None or instrument is None:
        return
    try:
        transfer = services.securities_transfer_request(
            account=account,
            instrument=instrument,
            quantity=quantity,
            cost_basis=cost,
            acquired_on=timezone.localdate() - dt.timedelta(days=days),
            reason=f"ACATS transfer in from {broker}",
            external_reference=f"ACATS-{account.number}-{symbol}",
            actor=staff,
            idempotency_key=f"demo-transfer-{email}-{symbol}",
        )
    except ApplicationError as exc:
        out.write(f"Demo transfer of {symbol} to {account.number} skipped: {exc.message}\n")
        return
    out.write(
        f"Transfer in: {quantity} {symbol} to {account.number} ({email}), {transfer.status}.\n"
    )


@transaction.atomic
def _custody_receipt(staff: User, out: TextIO) -> None:
    email, symbol, quantity, key = RECEIPT
    account, instrument = _account(email), Instrument.objects.filter(symbol=symbol).first()
    if (
        account is None
        or instrument is None
        or JournalEntry.objects.filter(idempotency_key=key).exists()
    ):
        return
    journal_post(
        kind="securities_transfer",
        postings=[
            (
                ledger_account_get(
                    house=HouseAccount.CUSTODY, instrument=instrument, bucket=Bucket.SETTLED
                ),
                -quantity,
            ),
            (
                ledger_account_get(owner=account, instrument=instrument, bucket=Bucket.SETTLED),
                quantity,
            ),
        ],
        memo=f"Custodian statement: {quantity} {symbol} received for {account.number}",
        actor=staff,
        idempotency_key=key,
        reference="CUSTODY-RECEIPT",
    )
    found = [
        b
        for b in services.positions_reconcile()
        if (b.account_id, b.instrument_id) == (account.pk, instrument.pk)
    ]
    cost = quantity * (instrument.reference_price or D(0))
    services.positions_apply(
        changes=[
            services.PositionChange(
                account_id=account.pk,
                instrument_id=instrument.pk,
                side="buy",
                quantity=quantity,
                amount=cost.quantize(D("0.01")),
                on=timezone.localdate(),
                reference="CUSTODY-RECEIPT",
                source=LotSource.TRANSFER_IN,
            )
        ]
    )
    services.positions_settle(quantities={(account.pk, instrument.pk): quantity})
    for item in ReconciliationBreak.objects.filter(pk__in=[b.pk for b in found]):
        services.reconciliation_break_resolve(
            item=item,
            actor=staff,
            resolution="Custodian receipt booked in the ledger before its tax lot; lot booked "
            "at the day's reference price pending the delivering broker's cost basis.",
        )
    out.write(f"A reconciliation break on {symbol} for {account.number} was found and resolved.\n")


def load(out: TextIO) -> None:
    staff = User.objects.filter(email=STAFF).first()
    if staff is None:
        return
    for spec in TRANSFERS:
        _transfer(staff, spec, out)
    _transfer(staff, AWAITING, out)
    _custody_receipt(staff, out)
