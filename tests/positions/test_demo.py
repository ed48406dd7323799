"""The demo holdings: transfers in applied through the service, one waiting for approval, a
resolved reconciliation break, a clean book, and the same result when loaded twice."""

import io
from decimal import Decimal

import pytest

from apps.accounts import demo as accounts_demo
from apps.instruments import demo as instruments_demo
from apps.kyc import demo as kyc_demo
from apps.ledger import demo as ledger_demo
from apps.ledger.selectors import ledger_integrity
from apps.positions import demo, services
from apps.positions.models import Position, ReconciliationBreak, SecuritiesTransfer, TaxLot

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (SecuritiesTransfer, Position, TaxLot, ReconciliationBreak)
    }


def test_demo_holdings_load_twice_alike():
    for module in (accounts_demo, kyc_demo, instruments_demo, ledger_demo):
        module.load(io.StringIO())
    out = io.StringIO()
    demo.load(out)
    first = counts()
    demo.load(io.StringIO())
    assert counts() == first
    assert first == {
        "SecuritiesTransfer": 6,
        "Position": 6,
        "TaxLot": 6,
        "ReconciliationBreak": 1,
    }
    alice = Position.objects.filter(account__owner__email="alice@example.com")
    assert sorted(p.instrument.symbol for p in alice) == ["AAPL", "MSFT", "SPY"]
    aapl = alice.get(instrument__symbol="AAPL")
    assert aapl.quantity == aapl.settled_quantity == Decimal("40")
    assert aapl.average_cost == Decimal("142.35")
    waiting = SecuritiesTransfer.objects.get(status="pending_approval")
    assert waiting.instrument.symbol == "QQQ"
    resolved = ReconciliationBreak.objects.get()
    assert resolved.resolved_at is not None and "Custodian receipt" in resolved.resolution
    assert services.positions_reconcile() == []
    assert ledger_integrity().ok
    assert "Transfer in: 40 AAPL" in out.getvalue()
