"""The per-connection conflator, on a clock the test controls."""

import math
from itertools import pairwise

from apps.marketdata.conflation import Conflator


def make(**overrides):
    options = {
        "rates": {"quotes": 4, "depth": 4, "trades": 10},
        "batch_window": 0.01,
        "max_pending": 5,
    }
    options.update(overrides)
    return Conflator(**options)


def quote(symbol, seq, last):
    return {"symbol": symbol, "seq": seq, "last": last}


def test_an_idle_stream_sends_after_the_batch_window():
    feed = make()
    feed.offer("quotes", "ACME", [quote("ACME", 1, "10")], now=100.0)
    assert feed.next_deadline() == 100.01
    assert feed.drain(100.005) == []
    assert feed.drain(100.01) == [{"channel": "quotes", "seq": 1, "data": [quote("ACME", 1, "10")]}]
    assert feed.next_deadline() is None


def test_at_most_rate_per_second_per_symbol_and_the_latest_wins():
    feed = make()
    sent = []
    now = 0.0
    for n in range(1, 201):  # 200 updates over 2 seconds
        now = n * 0.01
        feed.offer("quotes", "ACME", [quote("ACME", n, str(n))], now=now)
        sent += feed.drain(now)
    now += 1
    sent += feed.drain(now)
    assert len(sent) <= 2 * 4 + 2  # 4 per second, plus the first and the trailing one
    assert [m["seq"] for m in sent] == list(range(1, len(sent) + 1))
    assert sent[-1]["data"] == [quote("ACME", 200, "200")]
    gaps = [b["data"][0]["seq"] - a["data"][0]["seq"] for a, b in pairwise(sent)]
    assert all(g > 1 for g in gaps)  # intermediate values conflated away, never a backlog


def test_symbols_due_together_share_one_message():
    feed = make()
    for symbol in ("AAA", "BBB", "CCC"):
        feed.offer("quotes", symbol, [quote(symbol, 1, "1")], now=5.0)
    [message] = feed.drain(5.02)
    assert [q["symbol"] for q in message["data"]] == ["AAA", "BBB", "CCC"]


def test_stale_and_repeated_items_are_ignored():
    feed = make()
    feed.baseline("quotes", "ACME", 10)
    assert not feed.offer("quotes", "ACME", [quote("ACME", 9, "old")], now=0)
    assert not feed.offer("quotes", "ACME", [quote("ACME", 10, "same")], now=0)
    assert feed.offer("quotes", "ACME", [quote("ACME", 11, "new")], now=0)


def test_trades_keep_every_print_in_order():
    feed = make()
    prints = [{"symbol": "ACME", "seq": n, "price": str(n)} for n in (1, 2, 3)]
    feed.offer("trades", "ACME", prints[:2], now=0)
    feed.offer("trades", "ACME", prints[2:], now=0.001)
    assert feed.drain(1) == [{"channel": "trades", "seq": 1, "data": prints}]


def test_a_client_that_falls_behind_loses_the_oldest_prints_and_sees_a_gap():
    feed = make(max_pending=5)
    feed.offer("trades", "ACME", [{"seq": 1}], now=0)
    assert feed.drain(1)[0]["seq"] == 1
    feed.offer("trades", "ACME", [{"seq": n} for n in range(2, 12)], now=1.5)
    assert feed.pending_items() == 5  # bounded
    [message] = feed.drain(3)
    assert [p["seq"] for p in message["data"]] == [7, 8, 9, 10, 11]
    assert message["seq"] == 3  # 2 was skipped: something was lost, fetch a snapshot
    feed.offer("trades", "ACME", [{"seq": 12}], now=4)
    assert feed.drain(5)[0]["seq"] == 4  # and contiguous again


def test_a_gap_upstream_is_passed_on():
    feed = make()
    feed.offer("trades", "ACME", [{"seq": 1}], now=0)
    feed.drain(1)
    feed.offer("trades", "ACME", [{"seq": 3}], now=2)  # the publisher's 2 never came
    assert feed.drain(3)[0]["seq"] == 3


def test_private_events_are_one_message_each_and_bounded():
    feed = make(max_pending=3)
    for n in range(1, 6):
        feed.offer("orders", "", [{"seq": n, "data": {"id": n}}], now=0)
    messages = feed.drain(1)
    assert [m["data"]["id"] for m in messages] == [3, 4, 5]
    assert [m["seq"] for m in messages] == [2, 3, 4]  # the drop shows as a gap before the first


def test_pending_state_never_exceeds_one_snapshot_per_symbol():
    feed = make(rates={"quotes": math.inf}, batch_window=10)
    for n in range(10_000):
        feed.offer("quotes", f"S{n % 50}", [quote(f"S{n % 50}", n, str(n))], now=0)
    assert feed.pending_items() == 50


def test_forgetting_a_stream_drops_what_it_held():
    feed = make()
    feed.offer("quotes", "ACME", [quote("ACME", 1, "1")], now=0)
    feed.forget("quotes", "ACME")
    assert feed.drain(10) == []
    assert feed.next_deadline() is None
