"""GET /api/v1/trades: a client's own executions, filtered by account, symbol and order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.orders.models import FeeSchedule
from tests.conftest import token_client
from tests.factories import trading
from tests.factories.ledger import funded_account

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def market():
    FeeSchedule.objects.create(asset_class="equity", bps=D("10"), minimum_per_order=D("1.00"))
    instrument = trading.open_instrument()
    seller, buyer = trading.trader("0"), trading.trader("50000.00")
    trading.shares(seller, instrument, 100)
    return instrument, seller, buyer


def _trade(instrument, seller, buyer, quantity, price):
    trading.place(seller, instrument, "sell", quantity, price)
    trading.match(instrument)
    order = trading.place(buyer, instrument, "buy", quantity, price)
    trading.match(instrument)
    return order


def test_a_client_sees_its_own_side_of_each_trade(market):
    instrument, seller, buyer = market
    order = _trade(instrument, seller, buyer, 10, "100.00")
    response = token_client(buyer.owner).get("/api/v1/trades")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (execution,) = body["results"]
    assert execution["order_id"] == order.pk and execution["side"] == "buy"
    assert execution["symbol"] == instrument.symbol and execution["liquidity"] == "taker"
    assert execution["price"] == "100.00" and execution["quantity"] == "10"
    assert execution["notional"] == "1000.00" and execution["fee"] == "1.00"
    assert execution["net_amount"] == "-1001.00"
    assert execution["status"] == "active"
    assert execution["trade_date"] and execution["settlement_date"] and execution["executed_at"]
    sold = token_client(seller.owner).get("/api/v1/trades").json()["results"]
    assert [(e["side"], e["liquidity"], e["net_amount"]) for e in sold] == [
        ("sell", "maker", "999.00")
    ]
    assert sold[0]["trade_id"] == execution["trade_id"]
    assert token_client(trading.trader().owner).get("/api/v1/trades").json()["count"] == 0


def test_filters_and_other_clients_accounts(market):
    instrument, seller, buyer = market
    other = trading.open_instrument()
    trading.shares(seller, other, 10)
    first = _trade(instrument, seller, buyer, 5, "100.00")
    _trade(other, seller, buyer, 5, "100.00")
    second_account = funded_account("0", owner=buyer.owner)
    api = token_client(buyer.owner)

    def count(query: str) -> int:
        response = api.get(f"/api/v1/trades{query}")
        assert response.status_code == 200, response.json()
        return response.json()["count"]

    assert count("") == 2
    assert count(f"?symbol={instrument.symbol}") == 1
    assert count(f"?order={first.pk}") == 1
    assert count(f"?account={buyer.pk}") == 2
    assert count(f"?account={second_account.pk}") == 0
    stranger = api.get(f"/api/v1/trades?account={seller.pk}")
    assert stranger.status_code == 404
    assert stranger.json()["error"]["code"] == "not_found"


def test_the_list_costs_the_same_queries_for_many_trades(market):
    instrument, seller, buyer = market
    api = token_client(buyer.owner)
    _trade(instrument, seller, buyer, 1, "100.00")
    api.get("/api/v1/trades")
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/trades")
    for _ in range(4):
        _trade(instrument, seller, buyer, 1, "100.00")
    with CaptureQueriesContext(connection) as many:
        assert api.get("/api/v1/trades").json()["count"] == 5
    assert len(many) == len(few)
