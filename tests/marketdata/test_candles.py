"""Candles from known ticks on plain PostgreSQL (the roll-up), through the selector and the
candles endpoint."""

from datetime import timedelta

import pytest

from apps.marketdata import selectors, services, storage
from apps.marketdata.models import Candle
from tests.factories.marketdata import T0, trade

pytestmark = pytest.mark.django_db

# 14:30:00 .. 15:10:00 UTC on one day, then the next day.
KNOWN = [
    ("10.00", 1, 0),  # 14:30:00
    ("10.40", 2, 20),  # 14:30:20
    ("9.80", 3, 50),  # 14:30:50
    ("10.10", 4, 65),  # 14:31:05
    ("10.60", 5, 299),  # 14:34:59
    ("10.20", 6, 300),  # 14:35:00
    ("11.00", 7, 1799),  # 14:59:59
    ("10.90", 8, 1800),  # 15:00:00
    ("10.50", 9, 2400),  # 15:10:00
]


def fetch(instrument, interval, start=T0 - timedelta(days=1), end=T0 + timedelta(days=2)):
    candles = selectors.instrument_candles(
        instrument=instrument, interval=interval, start=start, end=end
    )
    return [
        (
            x["time"],
            f"{x['open']:.2f}",
            f"{x['high']:.2f}",
            f"{x['low']:.2f}",
            f"{x['close']:.2f}",
            f"{x['volume']:.0f}",
        )
        for x in candles
    ]


@pytest.fixture
def ticks(instrument):
    services.market_data_apply(
        instrument=instrument, trades=[trade(p, q, seconds=s) for p, q, s in KNOWN], book=None
    )
    return instrument


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def test_one_minute_candles(ticks):
    assert fetch(ticks, "1m") == [
        (at(0), "10.00", "10.40", "9.80", "9.80", "6"),
        (at(60), "10.10", "10.10", "10.10", "10.10", "4"),
        (at(240), "10.60", "10.60", "10.60", "10.60", "5"),
        (at(300), "10.20", "10.20", "10.20", "10.20", "6"),
        (at(1740), "11.00", "11.00", "11.00", "11.00", "7"),
        (at(1800), "10.90", "10.90", "10.90", "10.90", "8"),
        (at(2400), "10.50", "10.50", "10.50", "10.50", "9"),
    ]


def test_wider_candles_roll_up_from_narrower_ones(ticks):
    assert fetch(ticks, "5m") == [
        (at(0), "10.00", "10.60", "9.80", "10.60", "15"),
        (at(300), "10.20", "10.20", "10.20", "10.20", "6"),
        (at(1500), "11.00", "11.00", "11.00", "11.00", "7"),
        (at(1800), "10.90", "10.90", "10.90", "10.90", "8"),
        (at(2400), "10.50", "10.50", "10.50", "10.50", "9"),
    ]
    assert fetch(ticks, "15m") == [
        (at(0), "10.00", "10.60", "9.80", "10.20", "21"),
        (at(900), "11.00", "11.00", "11.00", "11.00", "7"),
        (at(1800), "10.90", "10.90", "10.50", "10.50", "17"),
    ]
    assert fetch(ticks, "1h") == [
        (T0.replace(minute=0), "10.00", "11.00", "9.80", "11.00", "28"),
        (T0.replace(hour=15, minute=0), "10.90", "10.90", "10.50", "10.50", "17"),
    ]
    day = T0.replace(hour=0, minute=0)
    assert fetch(ticks, "1d") == [(day, "10.00", "11.00", "9.80", "10.50", "45")]


def test_prints_arriving_out_of_order_give_the_same_candles(instrument):
    shuffled = [trade(p, q, seconds=s) for p, q, s in KNOWN]
    for batch in (shuffled[6:], shuffled[:3], shuffled[3:6]):
        services.market_data_apply(instrument=instrument, trades=batch, book=None)
    assert fetch(instrument, "1m")[0] == (at(0), "10.00", "10.40", "9.80", "9.80", "6")
    assert fetch(instrument, "1d")[0][1:] == ("10.00", "11.00", "9.80", "10.50", "45")


def test_replaying_a_batch_never_counts_volume_twice(instrument):
    batch = [trade(p, q, seconds=s) for p, q, s in KNOWN[:3]]
    for _ in range(3):
        services.market_data_apply(instrument=instrument, trades=batch, book=None)
    assert fetch(instrument, "1m") == [(at(0), "10.00", "10.40", "9.80", "9.80", "6")]


def test_range_is_start_inclusive_end_exclusive(ticks):
    got = fetch(ticks, "1m", start=at(60), end=at(300))
    assert [row[0] for row in got] == [at(60), at(240)]


def test_a_rebuild_recomputes_from_the_ticks(ticks):
    Candle.objects.filter(instrument=ticks).delete()
    services.candles_rebuild(instrument=ticks, start=T0, end=at(2400))
    assert fetch(ticks, "15m")[0] == (at(0), "10.00", "10.60", "9.80", "10.20", "21")


def test_candles_endpoint(ticks, as_client):
    response = as_client.get(
        "/api/v1/instruments/ACME/candles",
        {"interval": "15m", "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()},
    )
    assert response.status_code == 200, response.json()
    assert response.json() == [
        {
            "time": "2026-03-02T14:30:00Z",
            "open": "10.00",
            "high": "10.60",
            "low": "9.80",
            "close": "10.20",
            "volume": "21",
        },
        {
            "time": "2026-03-02T14:45:00Z",
            "open": "11.00",
            "high": "11.00",
            "low": "11.00",
            "close": "11.00",
            "volume": "7",
        },
        {
            "time": "2026-03-02T15:00:00Z",
            "open": "10.90",
            "high": "10.90",
            "low": "10.50",
            "close": "10.50",
            "volume": "17",
        },
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "2m"}, "interval"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-03-02T15:00:00Z", "end": "2026-03-02T14:00:00Z"}, "start"),
        (
            {"interval": "1m", "start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "start",
        ),
    ],
)
def test_candles_endpoint_explains_bad_parameters(instrument, as_client, params, field):
    response = as_client.get("/api/v1/instruments/ACME/candles", params)
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid"
    assert field in body["details"]


def test_candles_of_an_unknown_symbol_are_not_found(as_client, db):
    response = as_client.get("/api/v1/instruments/NOPE/candles")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_plain_postgresql_is_detected_here(db):
    assert storage.storage_mode() == storage.POSTGRESQL
