"""Helpers for the settlement tests: trades through the real pipeline, runs through the
service, and the books checked after every scenario."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from apps.ledger.choices import Bucket
from apps.ledger.models import LedgerAccount
from apps.ledger.selectors import ledger_integrity
from apps.positions.models import Position
from apps.positions.services import positions_reconcile
from apps.settlement.choices import OUTSTANDING_STATUSES
from apps.settlement.models import SettlementInstruction, SettlementRun
from apps.settlement.services import settlement_run
from tests.factories import trading


def run(on: dt.date, **kwargs: Any) -> SettlementRun:
    return settlement_run(run_date=on, **kwargs)


def balance(account: Any, asset: Any, bucket: str = Bucket.SETTLED) -> Decimal:
    """A client's balance of cash (a currency code) or shares (an instrument) in a bucket."""
    lookup = {"currency": asset} if isinstance(asset, str) else {"instrument": asset}
    row = LedgerAccount.objects.filter(owner=account, bucket=bucket, **lookup).first()
    return row.balance if row is not None else Decimal(0)


def trade(instrument: Any, seller: Any, buyer: Any, quantity: Any, price: Any) -> None:
    """One trade between two clients: the seller rests, the buyer crosses. (With committed
    transactions the pipeline has matched by the time ``place`` returns.)"""
    from apps.matching.models import Trade

    before = Trade.objects.count()
    trading.place(seller, instrument, "sell", quantity, price)
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", quantity, price)
    trading.match(instrument)
    assert Trade.objects.count() == before + 1


def due_date(account: Any) -> dt.date:
    return (
        SettlementInstruction.objects.filter(account=account).order_by("-settlement_date").first()
    ).settlement_date


def assert_books_clean() -> None:
    """The ledger is intact, positions reconcile, and where nothing is outstanding a
    position's settled quantity is what the ledger's settled bucket holds."""
    report = ledger_integrity()
    assert report.ok, report.problems
    breaks = positions_reconcile()
    assert breaks == [], [
        (b.account_id, b.instrument_id, b.position_quantity, b.ledger_quantity) for b in breaks
    ]
    outstanding = set(
        SettlementInstruction.objects.filter(status__in=OUTSTANDING_STATUSES).values_list(
            "account_id", "instrument_id"
        )
    )
    settled: dict = defaultdict(Decimal)
    for row in LedgerAccount.objects.filter(
        owner__isnull=False, instrument__isnull=False, bucket=Bucket.SETTLED
    ):
        settled[(row.owner_id, row.instrument_id)] = row.balance
    for position in Position.objects.all():
        key = (position.account_id, position.instrument_id)
        if key not in outstanding:
            assert position.settled_quantity == settled[key], key


@pytest.fixture
def market(db):
    """A round-the-clock equity (T+1) and two funded clients."""
    return trading.open_instrument(settlement_cycle=1)
