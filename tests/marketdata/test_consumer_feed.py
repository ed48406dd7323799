"""The feed's protocol: subscribe/unsubscribe, errors, what market_data_apply publishes,
conflation, sequence numbers and a stalled client. Real Redis channel layer."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async

from apps.marketdata import realtime, services
from tests.factories.marketdata import InstrumentFactory, book, trade

from .conftest import api_token, open_socket, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(client_user):
    return api_token(client_user)


def apply(instrument, trades=(), top=None):
    return database_sync_to_async(services.market_data_apply)(
        instrument=instrument, trades=list(trades), book=top
    )


async def publish_quote(instrument, seq, last):
    await realtime.apublish(
        [
            (
                realtime.market_group("quotes", instrument.pk),
                realtime.market_message(
                    "quotes",
                    instrument.symbol,
                    [{"symbol": instrument.symbol, "seq": seq, "last": last}],
                ),
            )
        ]
    )


async def publish_prints(instrument, seqs):
    items = [{"symbol": instrument.symbol, "seq": s, "price": str(s)} for s in seqs]
    await realtime.apublish(
        [
            (
                realtime.market_group("trades", instrument.pk),
                realtime.market_message("trades", instrument.symbol, items),
            )
        ]
    )


def test_subscribe_sends_the_current_quote_then_updates(instrument, token, fast_feed):
    services.market_data_apply(
        instrument=instrument,
        trades=[trade("100.00", 5)],
        book=book([("99.99", "10")], [("100.01", "20")]),
    )

    async def scenario():
        socket = await open_socket(token=token)
        ack = await socket.subscribe("quotes", ["acme"])
        assert ack == {"channel": "subscribed", "data": {"channel": "quotes", "symbols": ["ACME"]}}
        snapshot = await socket.receive()
        assert snapshot["channel"] == "quotes" and snapshot["seq"] == 1
        [quote] = snapshot["data"]
        assert (quote["symbol"], quote["last"], quote["bid"], quote["ask"], quote["seq"]) == (
            "ACME",
            "100.00",
            "99.99",
            "100.01",
            1,
        )
        await apply(instrument, [trade("100.50", 2, seconds=1)])
        update = await socket.receive()
        assert update["seq"] == 2
        assert update["data"][0]["last"] == "100.50" and update["data"][0]["seq"] == 2
        assert update["data"][0]["volume"] == "7"
        await socket.close()

    run(scenario)


def test_depth_and_trades_streams(instrument, token, fast_feed):
    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("trades", ["ACME"])
        await socket.subscribe("depth", ["ACME"])
        await socket.drain(0.2)  # the (empty) depth snapshot
        await apply(
            instrument,
            [trade("10.00", 1, trade_id="X1"), trade("10.05", 2, seconds=1, trade_id="X2")],
            book([("9.99", "5"), ("9.98", "7")], [("10.06", "3")]),
        )
        messages = await socket.drain()
        trades = [m for m in messages if m["channel"] == "trades"]
        depth = [m for m in messages if m["channel"] == "depth"]
        assert [
            (p["trade_id"], p["price"], p["quantity"], p["side"], p["seq"])
            for p in trades[0]["data"]
        ] == [
            ("X1", "10.00", "1", "buy", 1),
            ("X2", "10.05", "2", "buy", 2),
        ]
        assert depth[-1]["data"] == [
            {
                "symbol": "ACME",
                "bids": [["9.99", "5"], ["9.98", "7"]],
                "asks": [["10.06", "3"]],
                "timestamp": depth[-1]["data"][0]["timestamp"],
                "seq": 1,
            }
        ]
        await socket.close()

    run(scenario)


def test_unsubscribe_stops_the_stream(instrument, token, fast_feed):
    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("trades", ["ACME"])
        await socket.send({"action": "unsubscribe", "channel": "trades", "symbols": ["ACME"]})
        assert await socket.receive() == {
            "channel": "unsubscribed",
            "data": {"channel": "trades", "symbols": []},
        }
        await apply(instrument, [trade("10.00", 1)])
        assert await socket.nothing(0.5)
        # Without symbols: every symbol of the channel.
        other = await database_sync_to_async(InstrumentFactory)(symbol="BETA")
        await socket.subscribe("quotes", ["ACME", "BETA"])
        await socket.drain(0.2)
        await socket.send({"action": "unsubscribe", "channel": "quotes"})
        assert (await socket.receive())["data"] == {"channel": "quotes", "symbols": []}
        await apply(other, [trade("5.00", 1)])
        assert await socket.nothing(0.5)
        await socket.close()

    run(scenario)


@pytest.mark.parametrize(
    ("message", "code", "words"),
    [
        ("{not json", "bad_json", "not valid JSON"),
        ("[1, 2]", "invalid", "JSON object"),
        ({"action": "watch", "channel": "quotes"}, "invalid", "subscribe"),
        (
            {"action": "subscribe", "channel": "news", "symbols": ["ACME"]},
            "unknown_channel",
            "news",
        ),
        ({"action": "subscribe", "channel": "quotes"}, "invalid", "symbols"),
        ({"action": "subscribe", "channel": "quotes", "symbols": "ACME"}, "invalid", "symbols"),
        ({"action": "subscribe", "channel": "quotes", "symbols": [""]}, "invalid", "symbols"),
    ],
)
def test_bad_requests_get_a_clear_error_and_the_connection_stays(
    instrument, token, message, code, words
):
    async def scenario():
        socket = await open_socket(token=token)
        await socket.send(message)
        error = await socket.receive()
        assert error["channel"] == "error"
        assert error["data"]["code"] == code
        assert words in error["data"]["message"]
        assert (await socket.subscribe("orders"))["channel"] == "subscribed"
        await socket.close()

    run(scenario)


def test_unknown_symbols_are_named_and_nothing_is_subscribed(instrument, token):
    async def scenario():
        socket = await open_socket(token=token)
        await socket.send(
            {"action": "subscribe", "channel": "quotes", "symbols": ["ACME", "nope", "ZZZ"]}
        )
        error = await socket.receive()
        assert error["data"] == {
            "code": "unknown_symbol",
            "message": "Unknown symbols: NOPE, ZZZ.",
            "details": {"symbols": ["NOPE", "ZZZ"]},
        }
        await apply(instrument, [trade("1.00")])
        assert await socket.nothing(0.5)
        await socket.close()

    run(scenario)


def test_binary_frames_and_too_many_symbols_are_refused(instrument, token, settings):
    settings.MARKETDATA_WS_MAX_SYMBOLS = 1

    async def scenario():
        socket = await open_socket(token=token)
        await socket.communicator.send_to(bytes_data=b"\x00\x01")
        assert (await socket.receive())["data"]["code"] == "bad_json"
        await database_sync_to_async(InstrumentFactory)(symbol="BETA")
        await socket.subscribe("trades", ["ACME"])
        await socket.send({"action": "subscribe", "channel": "quotes", "symbols": ["BETA"]})
        error = await socket.receive()
        assert error["data"]["code"] == "limit_exceeded"
        await socket.close()

    run(scenario)


def test_quotes_are_conflated_to_the_rate_and_the_latest_wins(instrument, token, settings):
    settings.MARKETDATA_WS_QUOTES_PER_SECOND = 5
    settings.MARKETDATA_WS_BATCH_WINDOW_MS = 10

    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("quotes", ["ACME"])
        await socket.drain(0.3)  # the snapshot
        started = time.monotonic()
        for n in range(1, 121):  # 120 updates in about 1.2 s
            await publish_quote(instrument, n, str(n))
            await asyncio.sleep(0.01)
        _, messages = await socket.receive_until(lambda m: m["data"][-1]["last"] == "120")
        elapsed = time.monotonic() - started
        assert len(messages) <= 5 * elapsed + 2, (len(messages), elapsed)
        assert len(messages) >= 3  # it did stream, not only at the end
        lasts = [int(m["data"][0]["last"]) for m in messages]
        assert lasts == sorted(lasts)  # never goes back in time
        assert [m["seq"] for m in messages] == list(range(2, 2 + len(messages)))  # no gaps
        assert await socket.nothing(0.4)  # nothing left queued behind the latest
        await socket.close()

    run(scenario)


def test_several_symbols_are_batched_in_one_message(token, settings, db):
    settings.MARKETDATA_WS_BATCH_WINDOW_MS = 150
    instruments = [InstrumentFactory(symbol=s) for s in ("AAA", "BBB", "CCC")]

    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("quotes", ["AAA", "BBB", "CCC"])
        snapshot = await socket.receive()
        assert sorted(q["symbol"] for q in snapshot["data"]) == ["AAA", "BBB", "CCC"]
        for n, instrument in enumerate(instruments, start=1):
            await publish_quote(instrument, n, f"{n}.00")
        message = await socket.receive()
        assert {q["symbol"]: q["last"] for q in message["data"]} == {
            "AAA": "1.00",
            "BBB": "2.00",
            "CCC": "3.00",
        }
        await socket.close()

    run(scenario)


def test_a_stalled_client_gets_a_bounded_backlog_and_ends_with_the_right_state(
    instrument, token, settings
):
    settings.MARKETDATA_WS_QUOTES_PER_SECOND = 4
    settings.MARKETDATA_WS_TRADES_PER_SECOND = 4
    settings.MARKETDATA_WS_MAX_PENDING = 50

    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("quotes", ["ACME"])
        await socket.subscribe("trades", ["ACME"])
        # The client stops reading while the market publishes 1,000 quotes and 1,000 prints.
        started = time.monotonic()
        for n in range(1, 1001):
            await publish_quote(instrument, n, str(n))
            await publish_prints(instrument, [n])
        await asyncio.sleep(0.6)
        elapsed = time.monotonic() - started
        backlog = socket.communicator.output_queue.qsize()
        # Per channel at most 4 messages a second (+ the first): never one per update.
        assert backlog <= 2 * (4 * elapsed + 2) + 3, (backlog, elapsed)
        messages = await socket.drain(0.6)
        quotes = [m for m in messages if m["channel"] == "quotes"]
        trades = [m for m in messages if m["channel"] == "trades"]
        assert quotes[-1]["data"][-1]["last"] == "1000"  # the latest state
        prints = [p["seq"] for m in trades for p in m["data"]]
        assert prints[-1] == 1000 and prints == sorted(prints)
        if len(prints) < 1000:  # it could not keep every print: it is told, by a gap
            seqs = [m["seq"] for m in trades]
            assert seqs != list(range(1, len(seqs) + 1))
        await socket.close()

    run(scenario)


def test_a_print_lost_upstream_shows_as_a_gap(instrument, token, fast_feed):
    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("trades", ["ACME"])
        await publish_prints(instrument, [1, 2])
        first = await socket.receive()
        await publish_prints(instrument, [3])
        second = await socket.receive()
        await publish_prints(instrument, [5])  # 4 was published but never arrived
        third = await socket.receive()
        await publish_prints(instrument, [5, 6])  # 5 again (a repeat) and 6
        fourth = await socket.receive()
        assert [m["seq"] for m in (first, second, third, fourth)] == [1, 2, 4, 5]
        assert [p["seq"] for p in fourth["data"]] == [6]
        await socket.close()

    run(scenario)


def test_private_streams_are_numbered_per_user_and_channel(client_user, token, fast_feed):
    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("orders")
        await socket.subscribe("account")
        for n in range(3):
            await database_sync_to_async(services.private_publish)(
                user_id=client_user.pk, channel="orders", data={"id": n}
            )
        await database_sync_to_async(services.private_publish)(
            user_id=client_user.pk, channel="account", data={"cash": "10.00"}
        )
        messages = await socket.drain()
        orders = [(m["seq"], m["data"]) for m in messages if m["channel"] == "orders"]
        account = [(m["seq"], m["data"]) for m in messages if m["channel"] == "account"]
        assert orders == [(1, {"id": 0}), (2, {"id": 1}), (3, {"id": 2})]
        assert account == [(1, {"cash": "10.00"})]
        await socket.close()

    run(scenario)


def test_private_publish_waits_for_the_commit(client_user, token):
    from django.db import transaction

    def publish_then_fail():
        try:
            with transaction.atomic():
                services.private_publish(user_id=client_user.pk, channel="orders", data={"id": 1})
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass

    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("orders")
        await database_sync_to_async(publish_then_fail)()
        assert await socket.nothing(0.5)
        await socket.close()

    run(scenario)


def test_a_lost_last_update_is_made_good_from_the_cache(instrument, token, settings):
    settings.MARKETDATA_WS_HEARTBEAT_SECONDS = 1
    from apps.marketdata import snapshots

    async def scenario():
        socket = await open_socket(token=token)
        await socket.subscribe("quotes", ["ACME"])
        assert (await socket.receive())["data"][0]["seq"] == 0
        # The pipeline cached seq 5 but its publication never reached this process.
        newer = {**snapshots.quote_entry(instrument, None), "last": "42.00", "seq": 5}
        await database_sync_to_async(snapshots.store)(instrument.pk, quote=newer)
        recovered = await socket.receive(timeout=4)
        assert recovered["data"][0]["last"] == "42.00"
        assert await socket.nothing(1.5)  # offered again on the next beat, but not newer
        await socket.close()

    run(scenario)
