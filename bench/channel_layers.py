"""Fan-out of the feed: classic RedisChannelLayer, RedisPubSubChannelLayer, and the hub.

N WebSocket clients (channels' WebsocketCommunicator on Bourse's real consumer, in one process
as in one daphne process) subscribe to the trades of one symbol. A separate publisher process
sends M prints through the layer exactly as market data publishes them (one group message per
batch), at a fixed rate or as fast as it can. Every print carries its stream number and the
instant it was published, so each client counts what it got, what it lost, and the latency
from publish to receipt.

    REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/channel_layers.py \
        [--clients 1000] [--updates 2000] [--rate 0] [--layers classic,pubsub,classic-10k]

Transports: ``classic`` (channel-layer groups on RedisChannelLayer, its defaults: capacity
100), ``classic-10k`` (the same with capacity 10,000), ``pubsub`` (groups on
RedisPubSubChannelLayer) and ``hub`` (MARKETDATA_FEED_TRANSPORT=hub: one Redis PUBLISH per
update, one subscription per stream in the process, fan-out by function call). Each runs in
a fresh process. Prints are never conflated (each one counts): "dropped" prints never came
(a gap), "late" ones had not come when the run ended (--settle seconds after the last
publish). No database is used: the clients are unsaved users and the symbol is resolved in
process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYMBOL = "BENCH"
INSTRUMENT_ID = 999_999
LAYERS = {
    "classic": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {}},
    "classic-10k": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"capacity": 10_000},
    },
    "pubsub": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {}},
    "hub": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {}},
}


def _setup(layer: str, prefix: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bourse")
    import django
    from django.conf import settings

    settings_layer = dict(LAYERS[layer])
    host = os.environ["REDIS_URL"]
    if "core" in settings_layer["BACKEND"]:
        # BZPOPMIN blocks 5 s: give the socket longer than redis-py's 5 s default.
        host = {"address": host, "socket_timeout": 15}
    settings_layer["CONFIG"] = {**settings_layer["CONFIG"], "hosts": [host], "prefix": prefix}
    django.setup()
    settings.CHANNEL_LAYERS = {"default": settings_layer}
    settings.MARKETDATA_FEED_TRANSPORT = "hub" if layer == "hub" else "layer"
    # Every print is delivered on its own as soon as it arrives; nothing is held back.
    settings.MARKETDATA_WS_TRADES_PER_SECOND = float("inf")
    settings.MARKETDATA_WS_BATCH_WINDOW_MS = 0
    settings.MARKETDATA_WS_MAX_PENDING = 1_000_000
    settings.MARKETDATA_WS_MAX_CONNECTIONS_PER_USER = 1_000_000


# --- The publisher (its own process, like a matching worker) --------------------------------


async def _publish(updates: int, rate: float) -> dict:
    from apps.marketdata import realtime

    group = realtime.market_group("trades", INSTRUMENT_ID)
    started_at = time.time()
    started = time.perf_counter()
    for n in range(1, updates + 1):
        if rate:
            delay = started + (n - 1) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        item = {
            "symbol": SYMBOL,
            "price": "100.00",
            "quantity": "1",
            "side": "buy",
            "timestamp": datetime.now(UTC).isoformat(),
            "trade_id": str(n),
            "seq": n,
        }
        publication = [(group, realtime.market_message("trades", SYMBOL, [item]))]
        if realtime.transport() == realtime.HUB:
            realtime.publish(publication)  # what market_data_apply does after its commit
        else:
            await realtime.apublish(publication)
    elapsed = time.perf_counter() - started
    return {
        "published": updates,
        "started_at": started_at,
        "publish_seconds": elapsed,
        "publish_rate": updates / elapsed,
    }


def publisher(args: argparse.Namespace) -> None:
    _setup(args.layer, args.prefix)
    print(json.dumps(asyncio.run(_publish(args.updates, args.rate))))


# --- The clients (one process, like one daphne process) ------------------------------------


async def _clients(args: argparse.Namespace) -> dict:
    from channels.testing import WebsocketCommunicator

    from apps.accounts.models import User
    from apps.marketdata.consumers import MarketDataConsumer

    instrument = SimpleNamespace(pk=INSTRUMENT_ID, symbol=SYMBOL)

    class BenchConsumer(MarketDataConsumer):
        async def instruments(self, symbols: list[str]) -> dict:
            return {s: instrument for s in symbols if s == SYMBOL}

    app = BenchConsumer.as_asgi()

    async def connect(n: int) -> WebsocketCommunicator:
        user = User(pk=10_000_000 + n, email=f"bench{n}@bourse.test")
        communicator = WebsocketCommunicator(app, "/ws/")
        communicator.scope.update(user=user, auth_method="token", auth_token=None)
        connected, _ = await communicator.connect(timeout=60)
        assert connected
        await communicator.send_to(
            text_data=json.dumps({"action": "subscribe", "channel": "trades", "symbols": [SYMBOL]})
        )
        ack = json.loads(await communicator.receive_from(timeout=60))
        assert ack["channel"] == "subscribed", ack
        return communicator

    sockets: list[WebsocketCommunicator] = []
    for first in range(0, args.clients, 25):
        batch = range(first, min(first + 25, args.clients))
        sockets += await asyncio.gather(*(connect(n) for n in batch))

    expected = args.updates
    stats = [{"prints": 0, "messages": 0, "gaps": 0, "last": 0} for _ in sockets]
    latencies: list[float] = []
    done = asyncio.Event()
    remaining = [len(sockets)]
    last_receipt = [0.0]

    async def read(index: int, communicator: WebsocketCommunicator) -> None:
        mine = stats[index]
        while True:
            output = await communicator.output_queue.get()
            now = time.time()
            message = json.loads(output["text"])
            mine["messages"] += 1
            if message["seq"] != mine.get("envelope", 0) + 1:
                mine["gaps"] += 1
            mine["envelope"] = message["seq"]
            for item in message["data"]:
                mine["prints"] += 1
                mine["last"] = item["seq"]
                if index % 10 == 0:  # a sample of clients is plenty for the distribution
                    sent = datetime.fromisoformat(item["timestamp"]).timestamp()
                    latencies.append((now - sent) * 1000)
            last_receipt[0] = now
            if mine["last"] >= expected:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()
                return

    readers = [asyncio.ensure_future(read(i, c)) for i, c in enumerate(sockets)]
    await asyncio.sleep(0.5)  # subscriptions settle
    env = {**os.environ}
    command = [
        sys.executable,
        __file__,
        "--publisher",
        "--layer",
        args.layer,
        "--prefix",
        args.prefix,
        "--updates",
        str(args.updates),
        "--rate",
        str(args.rate),
    ]
    proc = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(err.decode()[-2000:])
    published = json.loads(out.decode().strip().splitlines()[-1])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=args.settle)
    for reader in readers:
        reader.cancel()
    for first in range(0, len(sockets), 25):
        await asyncio.gather(*(c.disconnect() for c in sockets[first : first + 25]))

    received = sum(s["prints"] for s in stats)
    messages = sum(s["messages"] for s in stats)
    wanted = expected * len(sockets)
    # From the first print's publication (the publisher reports when it began) to the last
    # receipt: the publisher's own start-up is not part of the fan-out.
    began = published["started_at"]
    span = (last_receipt[0] - began) if last_receipt[0] else float("nan")
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))]
            if latencies
            else float("nan")
        )

    return {
        "layer": args.layer,
        "clients": len(sockets),
        "updates": expected,
        "rate": args.rate or "max",
        **published,
        "delivered": received,
        "dropped": sum(s["last"] - s["prints"] for s in stats),
        "late": sum(expected - s["last"] for s in stats),
        "lost_percent": round(100 * (wanted - received) / wanted, 2),
        "clients_with_gaps": sum(1 for s in stats if s["gaps"] or s["last"] < expected),
        "ws_messages": messages,
        "seconds": round(span, 3),
        "delivered_per_second": round(received / span) if span == span and span > 0 else None,
        "latency_ms_p50": round(pct(0.50), 1),
        "latency_ms_p99": round(pct(0.99), 1),
        "latency_ms_max": round(latencies[-1], 1) if latencies else None,
        "latency_ms_mean": round(statistics.fmean(latencies), 1) if latencies else None,
    }


def clients(args: argparse.Namespace) -> None:
    _setup(args.layer, args.prefix)
    print(json.dumps(asyncio.run(_clients(args))))


# --- The driver -----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0, help="prints per second; 0 = max")
    parser.add_argument("--layers", default="classic,pubsub,hub")
    parser.add_argument("--settle", type=float, default=30, help="seconds to wait for stragglers")
    parser.add_argument("--layer", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--publisher", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        parser.error("REDIS_URL must point at a Redis server")
    if args.publisher:
        publisher(args)
        return
    if args.child:
        clients(args)
        return
    rows = []
    for layer in args.layers.split(","):
        prefix = f"bench-{os.getpid()}-{layer}"
        command = [
            sys.executable,
            __file__,
            "--child",
            "--layer",
            layer,
            "--prefix",
            prefix,
            "--clients",
            str(args.clients),
            "--updates",
            str(args.updates),
            "--rate",
            str(args.rate),
            "--settle",
            str(args.settle),
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode:
            print(result.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{layer}: failed")
        row = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row))
    print()
    header = (
        f"{'transport':<12} {'clients':>7} {'rate':>6} {'delivered/s':>11} {'dropped':>8} "
        f"{'late':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'publish/s':>9}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['layer']:<12} {r['clients']:>7} {r['rate']!s:>6} "
            f"{r['delivered_per_second']!s:>11} {r['dropped']:>8} {r['late']:>8} "
            f"{r['latency_ms_p50']:>8} {r['latency_ms_p99']:>8} {r['latency_ms_max']!s:>8} "
            f"{round(r['publish_rate'])!s:>9}"
        )


if __name__ == "__main__":
    main()
