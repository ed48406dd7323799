from decimal import Decimal

import pytest

from apps.ledger.selectors import ledger_integrity
from apps.matching.models import Trade
from apps.positions.models import Position
from apps.settlement.models import SettlementInstruction
from tests.factories import trading

pytestmark = pytest.mark.django_db


def test_a_crossing_order_trades():
    instrument = trading.open_instrument()
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, instrument, 100)
    ask = trading.place(seller, instrument, "sell", 60, "100.00")
    trading.match(instrument)
    bid = trading.place(buyer, instrument, "buy", 100, "101.00")
    result = trading.match(instrument)
    assert result.trades == 1
    trade = Trade.objects.get()
    assert trade.price == Decimal("100.00") and trade.quantity == 60
    ask.refresh_from_db()
    bid.refresh_from_db()
    assert ask.status == "filled" and bid.status == "partially_filled"
    assert Position.objects.get(account=buyer).quantity == 60
    assert Position.objects.get(account=seller).quantity == 40
    assert SettlementInstruction.objects.count() == 2
    assert ledger_integrity().ok


def test_positions_agree_with_the_ledger_after_trading():
    from apps.positions.services import positions_reconcile

    instrument = trading.open_instrument()
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, instrument, 100)
    trading.place(seller, instrument, "sell", 60, "100.00")
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", 100, "101.00")
    trading.match(instrument)
    assert positions_reconcile() == []
    seller_position = Position.objects.get(account=seller)
    assert (seller_position.quantity, seller_position.settled_quantity) == (40, 100)
