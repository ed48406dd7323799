"""A committed matching batch reaches market data, the clients' streams and their inboxes."""

from decimal import Decimal

import pytest

from apps.marketdata.models import MarketState, Notification
from apps.marketdata.selectors import instrument_quote
from tests.factories import trading

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_trade_prints_updates_the_quote_and_confirms_both_sides():
    instrument = trading.open_instrument()
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, instrument, 50)
    trading.place(seller, instrument, "sell", 50, "100.00")
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", 20, "100.00")
    trading.match(instrument)

    state = MarketState.objects.get(instrument=instrument)
    assert state.last == Decimal("100.00")
    quote = instrument_quote(instrument=instrument)
    assert Decimal(quote["ask"]) == Decimal("100.00")
    assert Decimal(quote["ask_size"]) == Decimal("30")
    confirmations = Notification.objects.filter(event="order_fill")
    assert {n.user_id for n in confirmations} == {seller.owner_id, buyer.owner_id}
    assert all("Trade confirmation" in n.body for n in confirmations)
