"""Quote, depth, prints and movers endpoints: served from the cache the pipeline keeps
current, rebuilt from the market state (never from orders) when the cache lost it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command

from apps.instruments.choices import AssetClass
from apps.marketdata import services, snapshots
from tests.factories.marketdata import T0, InstrumentFactory, book, trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def traded(instrument, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.market_data_apply(
            instrument=instrument,
            trades=[trade("99.00", 10, at=T0 - timedelta(days=1), trade_id="Y1")],
            book=None,
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.market_data_apply(
            instrument=instrument,
            trades=[
                trade("100.00", 5, trade_id="P1"),
                trade("101.00", 3, seconds=1, side="sell", trade_id="P2"),
            ],
            book=book(
                [("100.90", "200"), ("100.80", "100"), ("100.70", "50")],
                [("101.10", "150"), ("101.20", "75")],
                version=3,
            ),
        )
    return instrument


def test_quote(traded, as_client, django_assert_num_queries):
    as_client.get("/api/v1/me")  # the token's first use is recorded; not part of this count
    with django_assert_num_queries(2):  # the token, the instrument; the quote is cached
        response = as_client.get("/api/v1/instruments/ACME/quote")
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("symbol", "bid", "bid_size", "ask", "ask_size")} == {
        "symbol": "ACME",
        "bid": "100.90",
        "bid_size": "200",
        "ask": "101.10",
        "ask_size": "150",
    }
    assert (body["last"], body["last_size"], body["volume"]) == ("101.00", "3", "8")
    assert (body["previous_close"], body["change"], body["change_percent"]) == (
        "99.00",
        "2.00",
        "2.02",
    )
    assert (body["open"], body["high"], body["low"]) == ("100.00", "101.00", "100.00")
    assert body["trading_day"] == "2026-03-02"
    assert body["timestamp"].endswith("Z")
    assert body["seq"] == 2


def test_depth_with_a_number_of_levels(traded, as_client):
    response = as_client.get("/api/v1/instruments/ACME/depth", {"levels": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["bids"] == [["100.90", "200"], ["100.80", "100"]]
    assert body["asks"] == [["101.10", "150"], ["101.20", "75"]]
    assert body["seq"] == 1
    assert as_client.get("/api/v1/instruments/ACME/depth").json()["bids"][2] == ["100.70", "50"]


@pytest.mark.parametrize("levels", ["0", "21", "ten"])
def test_depth_levels_are_checked(traded, as_client, levels):
    response = as_client.get("/api/v1/instruments/ACME/depth", {"levels": levels})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["levels"]


def test_recent_prints_newest_first(traded, as_client):
    response = as_client.get("/api/v1/instruments/ACME/trades")
    assert response.status_code == 200
    assert response.json()[:2] == [
        {
            "price": "101.00",
            "quantity": "3",
            "side": "sell",
            "timestamp": "2026-03-02T14:30:01Z",
            "trade_id": "P2",
            "seq": 3,
        },
        {
            "price": "100.00",
            "quantity": "5",
            "side": "buy",
            "timestamp": "2026-03-02T14:30:00Z",
            "trade_id": "P1",
            "seq": 2,
        },
    ]
    assert len(as_client.get("/api/v1/instruments/ACME/trades", {"limit": 1}).json()) == 1


def test_a_lost_cache_is_rebuilt_from_the_database(traded, as_client):
    cache.clear()
    assert as_client.get("/api/v1/instruments/ACME/quote").json()["last"] == "101.00"
    assert as_client.get("/api/v1/instruments/ACME/depth").json()["asks"][0] == ["101.10", "150"]
    assert [p["trade_id"] for p in as_client.get("/api/v1/instruments/ACME/trades").json()] == [
        "P2",
        "P1",
        "Y1",
    ]
    assert cache.get(snapshots.QUOTE.format(traded.pk))["seq"] == 2


def test_the_cache_command_rewrites_every_instrument(traded):
    cache.clear()
    call_command("marketdata_cache", stdout=__import__("io").StringIO())
    assert cache.get(snapshots.DEPTH.format(traded.pk))["bids"][0] == ["100.90", "200"]


def test_an_instrument_without_trades_has_an_empty_quote(instrument, as_client):
    body = as_client.get("/api/v1/instruments/ACME/quote").json()
    assert body["last"] is None and body["bid"] is None and body["volume"] == "0"
    assert as_client.get("/api/v1/instruments/ACME/trades").json() == []


def test_unknown_symbols_and_anonymous_callers(instrument, api, as_client):
    missing = as_client.get("/api/v1/instruments/NOPE/quote")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/instruments/ACME/quote").status_code == 401


def test_prices_use_the_instruments_tick(as_client, db, django_capture_on_commit_callbacks):
    gold = InstrumentFactory(
        symbol="GOLD",
        tick_size=Decimal("0.001"),
        lot_size=Decimal("0.001"),
        asset_class="commodity",
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.market_data_apply(instrument=gold, trades=[trade("61.5", "0.25")], book=None)
    body = as_client.get("/api/v1/instruments/GOLD/quote").json()
    assert (body["last"], body["last_size"]) == ("61.500", "0.250")


def _session(instrument, previous, last, volume):
    services.market_data_apply(
        instrument=instrument,
        trades=[
            trade(previous, 1, at=T0 - timedelta(days=1)),
            trade(last, volume),
        ],
        book=None,
    )


def test_movers_per_asset_class(as_client, db, django_assert_max_num_queries):
    equities = {
        "UPUP": ("10.00", "12.00", 100),
        "UP": ("10.00", "10.50", 900),
        "DOWN": ("10.00", "9.00", 50),
        "FLAT": ("10.00", "10.00", 10),
    }
    for symbol, (previous, last, volume) in equities.items():
        _session(InstrumentFactory(symbol=symbol), previous, last, volume)
    _session(InstrumentFactory(symbol="FUNDX", asset_class=AssetClass.FUND), "10.00", "20.00", 5)

    with django_assert_max_num_queries(6):
        response = as_client.get("/api/v1/market/movers", {"asset_class": "equity"})
    body = response.json()
    assert body["trading_day"] == "2026-03-02"
    assert [m["symbol"] for m in body["gainers"]] == ["UPUP", "UP"]
    assert body["gainers"][0]["change_percent"] == "20.00"
    assert [m["symbol"] for m in body["losers"]] == ["DOWN"]
    assert [m["symbol"] for m in body["most_active"]] == ["UP", "UPUP", "DOWN", "FLAT"]
    everything = as_client.get("/api/v1/market/movers", {"limit": 1}).json()
    assert [m["symbol"] for m in everything["gainers"]] == ["FUNDX"]
    bad = as_client.get("/api/v1/market/movers", {"asset_class": "crypto"})
    assert bad.status_code == 400
