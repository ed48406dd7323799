"""WebSocket fan-out of one daphne process while the market simulator trades.

One daphne process serves Bourse (config.asgi, the default ``hub`` transport: one Redis
subscription per stream in the process, fan-out by function call). N WebSocket clients
(asyncio + websockets, spread over a few client processes) sign in with an API token and
subscribe to the quotes, depth and trades of one symbol. The house market makers
(``manage.py simulate_market``, two processes by default) trade that symbol through the real
pipeline: order intake in their processes, one Celery worker for the matching queues and one
for market data and notifications, as in production.

Measured over a steady window (after a warm-up):

* messages/s the daphne process delivered to its clients (WebSocket messages; a message can
  carry several prints), and items/s (prints, quotes, depth snapshots);
* commit-to-client latency, p50 / p99 / max: the time a message arrived at a client minus
  the newest timestamp it carries - a print's execution time, or the book's as-of time for
  quotes and depth - both taken in the matching transaction just before it commits. So it
  covers the commit, the outbox, the Celery hop to market data, its own commit, Redis,
  daphne's conflation (quotes and depth at most 4/s, prints 10/s per symbol unless
  ``--unconflated``) and the socket. Measured on every client.
* that latency split in two by a probe on Redis that notes when each update was published:
  execution -> published (the pipeline) and published -> client (the fan-out);
* daphne's CPU time over the window, and per delivered message.

Run (a PostgreSQL user that may create databases; a Redis database of its own, since the
workers' queues live there):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bourse \\
    REDIS_URL=redis://127.0.0.1:6379/15 .venv/bin/python bench/ws_fanout.py \\
        [--clients 1000] [--seconds 60] [--rate 0] [--simulators 2] [--unconflated]
        [--synthetic QUOTES_PER_S] [--renice -10] [--heartbeat S] [--profile FILE] [--keep]

``--synthetic`` adds (with ``--simulators 0``, replaces) the trading by quotes published at a
fixed rate, to see the fan-out alone; ``--renice`` gives daphne and the clients first call on
a shared machine's CPU; ``--profile`` writes daphne's cProfile.

It creates ``<database>_bench_ws`` next to DATABASE_URL's database, loads the demo data into
it and trades XAU-G (gold, quoted round the clock); the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SYMBOL = "XAU-G"
PREFIX = "bourse-bench-ws"
MATCHING_QUEUES = "matching.0,matching.1"
OTHER_QUEUES = "default,notifications,settlement,surveillance,reporting"
QUEUES = f"{MATCHING_QUEUES},{OTHER_QUEUES}"
CHANNELS = ("quotes", "depth", "trades")
HANDSHAKES = 10  # per client process, in flight at once


# Quotes published the way market data publishes them, at a fixed rate, with no trading
# behind them: what the fan-out does without the pipeline (``--synthetic``).
SYNTHETIC = """
import time
from django.utils import timezone
from apps.instruments.models import Instrument
from apps.marketdata import realtime, snapshots
instrument = Instrument.objects.get(symbol="{symbol}")
quote = dict(snapshots.quote(instrument))
seq = 10_000_000
end = time.monotonic() + {seconds}
sent = 0
while time.monotonic() < end:
    seq += 1
    quote.update(seq=seq, timestamp=snapshots.iso(timezone.now()))
    realtime.publish([(realtime.market_group("quotes", instrument.pk),
                       realtime.market_message("quotes", instrument.symbol, [quote]))])
    sent += 1
    time.sleep(max(0.0, sent / {rate} - (time.monotonic() - end + {seconds})))
print(f"Published {{sent}} synthetic quotes.")
"""


# --- Setup ----------------------------------------------------------------------------------


def _scratch_database() -> tuple[str, str, str]:
    """Create <name>_bench_ws; return (admin url, its name, its url)."""
    import psycopg

    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bourse"
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'bourse'}_bench_ws"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin, name, urlunsplit(parts._replace(path=f"/{name}"))


def _drop(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(database_url: str, conflated: bool, heartbeat: int | None) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DJANGO_DEBUG": "false",
        "REDIS_KEY_PREFIX": PREFIX,
        "LOG_LEVEL": "WARNING",
        "MARKETDATA_WS_MAX_CONNECTIONS_PER_USER": "1000000",
        "PYTHONUNBUFFERED": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    }
    if heartbeat:
        env["MARKETDATA_WS_HEARTBEAT_SECONDS"] = str(heartbeat)
    if not conflated:
        env.update(
            MARKETDATA_WS_QUOTES_PER_SECOND="1000000",
            MARKETDATA_WS_DEPTH_PER_SECOND="1000000",
            MARKETDATA_WS_TRADES_PER_SECOND="1000000",
            MARKETDATA_WS_BATCH_WINDOW_MS="0",
        )
    return env


def _spawn(command: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    """Start one of our own commands (never user input) from the project's root."""
    return subprocess.Popen(command, cwd=ROOT, env=env, **kwargs)  # noqa: S603


def _manage(env: dict[str, str], *args: str) -> str:
    process = _spawn(
        [sys.executable, "manage.py", *args],
        env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{err}")
    return out


def _token(env: dict[str, str]) -> str:
    """An API token for the demo client Alice (the WebSocket clients all use it)."""
    code = (
        "from django.conf import settings\n"
        "from apps.accounts.services import api_token_issue\n"
        "print(api_token_issue(email='alice@example.com', password=settings.DEMO_PASSWORD)[1])\n"
    )
    return _manage(env, "shell", "-c", code).strip().splitlines()[-1]


def _purge(env: dict[str, str]) -> None:
    _spawn(
        [sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", QUEUES],
        env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).wait()


def _forget_redis_keys() -> None:
    import redis

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


class PublishProbe(threading.Thread):
    """Notes when each market-data update was published (its Redis PUBLISH), so a client's
    latency splits into the pipeline's (execution to publish) and the fan-out's (publish to
    the client)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import redis

        self.pubsub = redis.Redis.from_url(os.environ["REDIS_URL"]).pubsub()
        self.pubsub.psubscribe(f"{PREFIX}:md:md.*")
        self.published: dict[tuple[str, int], float] = {}
        self.pipeline: list[tuple[float, str, float]] = []
        self.stopping = False

    def run(self) -> None:
        while not self.stopping:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is None:
                continue
            now = time.time()
            payload = json.loads(message["data"])
            channel = payload.get("channel")
            if channel not in CHANNELS:
                continue
            for item in payload.get("items", ()):
                self.published.setdefault((channel, item["seq"]), now)
                if item.get("timestamp"):
                    self.pipeline.append((now, channel, now - _instant(item["timestamp"])))

    def stop(self) -> None:
        self.stopping = True
        self.join(timeout=5)
        self.pubsub.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- The clients (their own processes) -------------------------------------------------------


def _instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def _connect(url: str, gate: asyncio.Semaphore):
    """Open a connection and subscribe, a few handshakes at a time (each one authenticates
    against the database), retrying the ones daphne timed out."""
    import websockets

    for attempt in range(8):
        async with gate:
            try:
                ws = await websockets.connect(url, max_queue=None, open_timeout=60)
            except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidMessage):
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            for channel in CHANNELS:
                await ws.send(
                    json.dumps({"action": "subscribe", "channel": channel, "symbols": [SYMBOL]})
                )
            acks = 0
            while acks < len(CHANNELS):
                message = json.loads(await ws.recv())
                if message["channel"] == "subscribed":
                    acks += 1
                elif message["channel"] == "error":
                    raise RuntimeError(message["data"])
            return ws
    raise RuntimeError("could not connect")


async def _client(
    url: str,
    gate: asyncio.Semaphore,
    started: asyncio.Event,
    ready: list,
    window: list,
    stats: dict,
):
    async with await _connect(url, gate) as ws:
        ready.append(1)
        await started.wait()
        t0, t1 = window
        while True:
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=max(0.1, t1 + 2 - time.time()))
            except TimeoutError:
                break
            now = time.time()
            if now > t1:
                break
            if now < t0:
                continue
            message = json.loads(text)
            channel = message.get("channel")
            if channel not in CHANNELS:
                continue
            stats["messages"][channel] += 1
            stats["items"][channel] += len(message["data"])
            stamps = [i["timestamp"] for i in message["data"] if i.get("timestamp")]
            if stamps:
                stats["latency"][channel].append(now - _instant(max(stamps)))
            newest = max((i["seq"] for i in message["data"] if "seq" in i), default=None)
            if newest is not None:
                stats["arrivals"].append((channel, newest, now))
            if isinstance(message.get("seq"), int):
                last = stats["seq"].get(channel)
                if last is not None and message["seq"] > last + 1:
                    stats["gaps"] += 1
                stats["seq"][channel] = message["seq"]


def _client_process(count: int, url: str, ready_q, window_q, result_q) -> None:
    async def main() -> None:
        started = asyncio.Event()
        gate = asyncio.Semaphore(HANDSHAKES)
        ready: list = []
        window: list = []
        totals = {
            "messages": dict.fromkeys(CHANNELS, 0),
            "items": dict.fromkeys(CHANNELS, 0),
            "latency": {c: [] for c in CHANNELS},
            "arrivals": [],
            "gaps": 0,
            "failed": 0,
            "cpu": 0.0,
        }
        per_client = []
        tasks = []
        for _ in range(count):
            stats = {
                "messages": totals["messages"],
                "items": totals["items"],
                "latency": totals["latency"],
                "arrivals": totals["arrivals"],
                "seq": {},
                "gaps": 0,
            }
            per_client.append(stats)
            tasks.append(asyncio.ensure_future(_client(url, gate, started, ready, window, stats)))
        deadline = time.monotonic() + 300
        while len(ready) < count and time.monotonic() < deadline:
            if any(t.done() and t.exception() for t in tasks):
                break
            await asyncio.sleep(0.2)
        ready_q.put(len(ready))
        t0, t1 = await asyncio.get_running_loop().run_in_executor(None, window_q.get)
        window.extend([t0, t1])
        started.set()

        async def meter() -> None:
            await asyncio.sleep(max(0.0, t0 - time.time()))
            before = time.process_time()
            await asyncio.sleep(max(0.0, t1 - time.time()))
            totals["cpu"] = time.process_time() - before

        metering = asyncio.ensure_future(meter())
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await metering
        errors = [r for r in results if isinstance(r, BaseException)]
        totals["failed"] = len(errors)
        totals["error"] = repr(errors[0]) if errors else ""
        totals["gaps"] = sum(s["gaps"] for s in per_client)
        result_q.put(totals)

    asyncio.run(main())


# --- The run --------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0, help="Measured window.")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="Simulator steps/s (0: max).")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument(
        "--simulators", type=int, default=2, help="simulate_market processes (more order flow)."
    )
    parser.add_argument("--unconflated", action="store_true", help="Send every update at once.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--profile", metavar="FILE", help="Profile daphne (cProfile) into FILE.")
    parser.add_argument(
        "--synthetic",
        type=float,
        default=0,
        help="Also publish this many synthetic quotes a second (no trading behind them).",
    )
    parser.add_argument(
        "--renice",
        type=int,
        default=0,
        help="Scheduling priority of daphne and the clients (e.g. -10: first call on the CPU "
        "on a shared host, so the fan-out is measured, not the neighbours).",
    )
    parser.add_argument(
        "--heartbeat",
        type=int,
        default=None,
        help="MARKETDATA_WS_HEARTBEAT_SECONDS for daphne (default: the setting's default).",
    )
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        sys.exit("REDIS_URL is required: the feed crosses processes through Redis.")

    admin, name, database_url = _scratch_database()
    env = _env(database_url, conflated=not args.unconflated, heartbeat=args.heartbeat)
    workers: list = []
    simulators: list = []
    daphne = None
    clients: list = []
    try:
        print(f"Preparing {name}: migrate, demo data, house market makers ...", flush=True)
        _manage(env, "migrate", "--noinput")
        _manage(env, "bootstrap_demo")
        _purge(env)
        _forget_redis_keys()
        token = _token(env)
        # Matching on its own worker, as in production (a queue per shard, one process);
        # market data and notifications on another.
        workers = [
            _spawn(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    queues,
                    "-P",
                    "solo",
                    "-l",
                    "WARNING",
                    "-n",
                    f"bench-ws-{n}@%h",
                ],
                env,
            )
            for n, queues in enumerate((MATCHING_QUEUES, OTHER_QUEUES))
        ]
        # The makers are created, KYC-approved, funded and stocked before anything is timed.
        _manage(env, "simulate_market", "--symbols", SYMBOL, "--steps", "4", "--seed", "1")
        port = _free_port()
        serve = ["-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
        if args.profile:
            # daphne under cProfile; its reactor stops on SIGTERM and the profile is written.
            code = (
                "import cProfile, sys\n"
                "from daphne.cli import CommandLineInterface\n"
                "profile = cProfile.Profile()\n"
                "profile.enable()\n"
                "try:\n"
                "    CommandLineInterface().run(sys.argv[2:])\n"
                "finally:\n"
                "    profile.disable()\n"
                "    profile.dump_stats(sys.argv[1])\n"
            )
            daphne = _spawn([sys.executable, "-c", code, args.profile, *serve], env)
        else:
            daphne = _spawn([sys.executable, "-m", "daphne", *serve], env)
        if args.renice:
            os.setpriority(os.PRIO_PROCESS, daphne.pid, args.renice)
        url = f"ws://127.0.0.1:{port}/ws/?token={token}"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or daphne.poll() is not None:
                raise RuntimeError("daphne did not start")
            time.sleep(0.2)

        print(f"Connecting {args.clients} WebSocket clients ...", flush=True)
        ctx = multiprocessing.get_context("spawn")
        ready_q, result_q = ctx.Queue(), ctx.Queue()
        shares = [args.clients // args.client_processes] * args.client_processes
        shares[0] += args.clients - sum(shares)
        window_qs = []
        for share in shares:
            window_q = ctx.Queue()
            window_qs.append(window_q)
            process = ctx.Process(
                target=_client_process, args=(share, url, ready_q, window_q, result_q)
            )
            process.start()
            if args.renice:
                os.setpriority(os.PRIO_PROCESS, process.pid, args.renice)
            clients.append(process)
        connected = sum(ready_q.get(timeout=600) for _ in clients)
        print(f"{connected} clients subscribed to {SYMBOL} quotes, depth and trades.", flush=True)

        total = args.warmup + args.seconds
        probe = PublishProbe()
        probe.start()
        simulators = [
            _spawn(
                [
                    sys.executable,
                    "manage.py",
                    "simulate_market",
                    "--symbols",
                    SYMBOL,
                    "--seconds",
                    str(total + 2),
                    "--rate",
                    str(args.rate),
                    "--seed",
                    str(7 + n),
                ],
                env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for n in range(args.simulators)
        ]
        if args.synthetic:
            simulators.append(
                _spawn(
                    [
                        sys.executable,
                        "manage.py",
                        "shell",
                        "-c",
                        SYNTHETIC.format(symbol=SYMBOL, rate=args.synthetic, seconds=total + 2),
                    ],
                    env,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        t0 = time.time() + args.warmup
        t1 = t0 + args.seconds
        for window_q in window_qs:
            window_q.put((t0, t1))
        time.sleep(max(0.0, t0 - time.time()))
        cpu0 = _cpu_seconds(daphne.pid)
        time.sleep(max(0.0, t1 - time.time()))
        cpu1 = _cpu_seconds(daphne.pid)
        results = [result_q.get(timeout=120) for _ in clients]
        sim_out = [p.communicate(timeout=120)[0].strip() for p in simulators]
        probe.stop()
    finally:
        for process in clients:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        for proc in (*simulators, daphne, *workers):
            _stop(proc)
        _purge(env)
        _forget_redis_keys()
        if not args.keep:
            _drop(admin, name)

    messages = {c: sum(r["messages"][c] for r in results) for c in CHANNELS}
    items = {c: sum(r["items"][c] for r in results) for c in CHANNELS}
    latency = {c: [v for r in results for v in r["latency"][c]] for c in CHANNELS}
    everything = [v for c in CHANNELS for v in latency[c]]
    seconds = args.seconds
    print()
    print(
        f"WebSocket fan-out: 1 daphne process, {connected} clients on {SYMBOL}, "
        f"{seconds:.0f} s window, {'unconflated' if args.unconflated else 'default conflation'}"
    )
    for out in sim_out:
        print(f"  simulator: {out.splitlines()[-1] if out else '-'}")
    print(
        f"  delivered: {sum(messages.values()) / seconds:,.0f} messages/s "
        f"({sum(items.values()) / seconds:,.0f} items/s); daphne CPU "
        f"{(cpu1 - cpu0) / seconds * 100:.0f}% of a core "
        f"({(cpu1 - cpu0) / max(sum(messages.values()), 1) * 1e6:.0f} us a message); "
        "the client processes "
        f"{sum(r['cpu'] for r in results) / seconds * 100:.0f}%; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"  {'channel':<8} {'msgs/s':>10} {'items/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    for channel in (*CHANNELS, "all"):
        values = everything if channel == "all" else latency[channel]
        count = sum(messages.values()) if channel == "all" else messages[channel]
        count_items = sum(items.values()) if channel == "all" else items[channel]
        print(
            f"  {channel:<8} {count / seconds:>10,.0f} {count_items / seconds:>10,.0f} "
            f"{_percentile(values, 0.5) * 1000:>8.0f} {_percentile(values, 0.99) * 1000:>8.0f} "
            f"{(max(values) if values else float('nan')) * 1000:>8.0f}"
        )
    published = {
        c: sum(1 for (ch, _), at in probe.published.items() if ch == c and t0 <= at <= t1)
        for c in CHANNELS
    }
    pipeline = [lat for at, _, lat in probe.pipeline if t0 <= at <= t1]
    fanout = [
        at - probe.published[(ch, seq)]
        for r in results
        for ch, seq, at in r["arrivals"]
        if (ch, seq) in probe.published
    ]
    print(
        "  updates published/s: " + ", ".join(f"{c} {published[c] / seconds:.1f}" for c in CHANNELS)
    )
    print(
        f"  execution -> published (the pipeline): p50 {_percentile(pipeline, 0.5) * 1000:.0f} ms,"
        f" p99 {_percentile(pipeline, 0.99) * 1000:.0f} ms; published -> client (the fan-out,"
        f" conflation included): p50 {_percentile(fanout, 0.5) * 1000:.0f} ms,"
        f" p99 {_percentile(fanout, 0.99) * 1000:.0f} ms"
    )
    print(
        f"  sequence gaps seen: {sum(r['gaps'] for r in results)}; "
        f"clients failed: {sum(r['failed'] for r in results)}"
    )
    for error in {r["error"] for r in results if r["error"]}:
        print(f"  a client failed with: {error}")


if __name__ == "__main__":
    main()
