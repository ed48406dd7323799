"""Positions, lots and the portfolio through the API, on a scenario worked out by hand.

The instrument's reference price is 100.00 and its previous close 99.00; fees are 10 bps with
a 1.00 minimum per order. The seller received 100 shares two years ago at 90.00 each
(9000.00); the buyer starts with 100000.00 cash. Two trades today:

1. 60 @ 100.00 (the seller's resting ask): notional 6000.00, each side pays 6.00;
2. 10 @ 102.00: notional 1020.00, each side pays 1.02 (above the minimum).

Buyer: 70 shares costing 6006.00 + 1021.02 = 7027.02; cash 100000 - 7027.02 = 92972.98.
At the last price 102.00: market value 7140.00, unrealized 112.98; all bought today, so the
day's P&L is 7140.00 - 7027.02 = 112.98.

Seller: 30 shares left costing 2700.00; realized (long term) 5994.00 - 5400.00 = 594.00 and
1018.98 - 900.00 = 118.98, 712.98 in all; market value 3060.00, unrealized 360.00, total P&L
1072.98; cash 7012.98 (unsettled sale proceeds); 100 shares settled until the sales settle.
Day P&L: 100 shares held at the open at 99.00 (9900.00) against 3060.00 still held plus
7012.98 received = 172.98.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.orders.models import FeeSchedule
from apps.positions.models import TaxLot
from tests.conftest import token_client
from tests.factories import trading
from tests.factories.ledger import funded_account

pytestmark = pytest.mark.django_db

D = Decimal
TWO_YEARS_AGO = timezone.localdate() - dt.timedelta(days=730)


@pytest.fixture
def scenario():
    FeeSchedule.objects.create(asset_class="equity", bps=D("10"), minimum_per_order=D("1.00"))
    instrument = trading.open_instrument(reference_price=D("100.00"), previous_close=D("99.00"))
    seller, buyer = trading.trader("0"), trading.trader("100000.00")
    trading.shares(seller, instrument, 100, cost="9000.00", acquired_on=TWO_YEARS_AGO)
    for quantity, price in ((60, "100.00"), (10, "102.00")):
        trading.place(seller, instrument, "sell", quantity, price)
        trading.match(instrument)
        trading.place(buyer, instrument, "buy", quantity, "101.00" if price == "100.00" else price)
        trading.match(instrument)
    return instrument, seller, buyer


def test_the_buyers_portfolio(scenario):
    instrument, _, buyer = scenario
    response = token_client(buyer.owner).get(f"/api/v1/portfolio?account={buyer.pk}")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["cash"] == "92972.98"
    assert body["positions_value"] == "7140.00"
    assert body["total_value"] == "100112.98"
    assert body["day_pnl"] == "112.98"
    assert body["unrealized_pnl"] == "112.98" and body["realized_pnl"] == "0.00"
    assert body["total_pnl"] == "112.98"
    (position,) = body["positions"]
    assert position["symbol"] == instrument.symbol
    assert position["quantity"] == "70" and position["settled_quantity"] == "0"
    assert position["pending_settlement_quantity"] == "70"  # to receive
    assert position["average_cost"] == "100.386"  # 7027.02 / 70
    assert position["cost_basis"] == "7027.02"
    assert position["price"] == "102.00" and position["price_source"] == "last"
    assert position["market_value"] == "7140.00" and position["unrealized_pnl"] == "112.98"


def test_the_sellers_portfolio(scenario):
    _, seller, _ = scenario
    body = token_client(seller.owner).get("/api/v1/portfolio").json()  # the only account
    assert body["cash"] == "7012.98" and body["cash_unsettled"] == "7012.98"
    assert body["positions_value"] == "3060.00"
    assert body["total_value"] == "10072.98"
    assert body["unrealized_pnl"] == "360.00"
    assert body["realized_pnl"] == "712.98"
    assert body["total_pnl"] == "1072.98"
    assert body["day_pnl"] == "172.98"
    (position,) = body["positions"]
    # Sold today: the 70 shares leave the settled holding when the sale settles.
    assert position["quantity"] == "30" and position["settled_quantity"] == "100"
    assert position["pending_settlement_quantity"] == "-70"
    assert position["realized_long_term"] == "712.98"
    assert position["realized_short_term"] == "0.00"
    assert position["available_quantity"] == "30" and position["reserved_quantity"] == "0"


def test_positions_list_and_closed_positions(scenario):
    instrument, _, buyer = scenario
    trading.place(buyer, instrument, "sell", 70, "102.00")
    trading.match(instrument)
    trading.place(trading.trader(), instrument, "buy", 70, "102.00")
    trading.match(instrument)
    api = token_client(buyer.owner)
    assert api.get("/api/v1/positions").json()["count"] == 0
    closed = api.get("/api/v1/positions?include_closed=true").json()["results"]
    assert [(p["symbol"], p["quantity"]) for p in closed] == [(instrument.symbol, "0")]
    # 70 x 102 - 7.14 fee = 7132.86 received against 7027.02 paid.
    assert closed[0]["realized_pnl"] == "105.84"
    body = api.get("/api/v1/portfolio").json()
    assert body["positions"] == [] and body["realized_pnl"] == "105.84"
    assert body["total_pnl"] == "105.84"
    assert body["day_pnl"] == "105.84"  # bought and sold today: all of it is today's
    assert body["positions_value"] == "0.00" and body["cash"] == "100105.84"


def test_a_position_that_never_traded_is_valued_at_the_reference_price():
    quiet = trading.open_instrument(reference_price=D("50.00"), previous_close=D("48.00"))
    holder = trading.trader("0")
    trading.shares(holder, quiet, 10, cost="400.00", acquired_on=TWO_YEARS_AGO)
    api = token_client(holder.owner)
    (position,) = api.get(f"/api/v1/positions?account={holder.pk}").json()["results"]
    assert position["price"] == "50.00" and position["price_source"] == "reference"
    assert position["market_value"] == "500.00" and position["unrealized_pnl"] == "100.00"
    assert position["day_pnl"] == "20.00"  # 10 x (50.00 - 48.00)
    assert position["previous_close"] == "48.00"
    assert api.get(f"/api/v1/positions/{position['id']}").json() == position


def test_lots_of_a_position(scenario):
    _, seller, buyer = scenario
    api = token_client(buyer.owner)
    (position,) = api.get("/api/v1/positions").json()["results"]
    lots = api.get(f"/api/v1/positions/{position['id']}/lots").json()["results"]
    assert [(lot["quantity"], lot["cost"], lot["source"], lot["term"]) for lot in lots] == [
        ("60", "6006.00", "trade", "short"),
        ("10", "1021.02", "trade", "short"),
    ]
    assert lots[0]["cost_per_share"] == "100.10"
    assert lots[0]["market_value"] == "6120.00" and lots[0]["unrealized_pnl"] == "114.00"
    sellers = token_client(seller.owner)
    (theirs,) = sellers.get("/api/v1/positions").json()["results"]
    (lot,) = sellers.get(f"/api/v1/positions/{theirs['id']}/lots").json()["results"]
    assert lot["quantity"] == "30" and lot["original_quantity"] == "100"
    assert lot["term"] == "long" and lot["source"] == "transfer_in"
    every = sellers.get(f"/api/v1/positions/{theirs['id']}/lots?include_closed=1").json()
    assert every["count"] == 1


def test_a_sell_of_chosen_lots_relieves_them_first(scenario):
    instrument, _, buyer = scenario
    api = token_client(buyer.owner)
    newer = TaxLot.objects.filter(position__account=buyer).order_by("-pk").first()
    placed = api.post(
        "/api/v1/orders",
        {
            "account": buyer.pk,
            "symbol": instrument.symbol,
            "side": "sell",
            "type": "limit",
            "quantity": "10",
            "limit_price": "102.00",
            "time_in_force": "gtc",
            "lot_ids": [newer.pk],
        },
        format="json",
    )
    assert placed.status_code == 201, placed.json()
    trading.match(instrument)
    trading.place(trading.trader(), instrument, "buy", 10, "102.00")
    trading.match(instrument)
    newer.refresh_from_db()
    assert newer.quantity == 0
    (position,) = api.get("/api/v1/positions").json()["results"]
    lots = api.get(f"/api/v1/positions/{position['id']}/lots").json()["results"]
    assert [lot["quantity"] for lot in lots] == ["60"]


def test_another_clients_positions_are_not_found(scenario):
    _, seller, buyer = scenario
    api = token_client(buyer.owner)
    (theirs,) = token_client(seller.owner).get("/api/v1/positions").json()["results"]
    for url in (f"/api/v1/positions/{theirs['id']}", f"/api/v1/positions/{theirs['id']}/lots"):
        response = api.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert api.get(f"/api/v1/positions?account={seller.pk}").status_code == 404
    assert api.get(f"/api/v1/portfolio?account={seller.pk}").status_code == 404


def test_portfolio_of_a_client_with_two_accounts_needs_the_account(scenario):
    _, _, buyer = scenario
    funded_account("10.00", owner=buyer.owner)
    api = token_client(buyer.owner)
    response = api.get("/api/v1/portfolio")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["account"]
    assert api.get(f"/api/v1/portfolio?account={buyer.pk}").json()["total_value"] == "100112.98"


def test_positions_cost_the_same_queries_for_many_instruments():
    holder = trading.trader("0")
    api = token_client(holder.owner)
    trading.shares(holder, trading.open_instrument(), 1)
    api.get("/api/v1/positions")
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/positions")
        api.get("/api/v1/portfolio")
    for _ in range(4):
        trading.shares(holder, trading.open_instrument(), 1)
    with CaptureQueriesContext(connection) as many:
        assert api.get("/api/v1/positions").json()["count"] == 5
        assert len(api.get("/api/v1/portfolio").json()["positions"]) == 5
    assert len(many) == len(few)
