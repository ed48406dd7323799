"""The trading pipeline end to end: orders persisted per second, and order-ack latency.

On a scratch database created next to DATABASE_URL's (dropped afterwards), with real Celery
workers (one per matching shard, as in production) on REDIS_URL:

1. intake: orders accepted per second by apps.orders.services.order_place from several
   threads (validation, pre-trade risk, the hold posted to the ledger), workers stopped;
2. drain: the workers take that backlog; orders per second matched and persisted (trades,
   fills, ledger entries, positions and tax lots, settlement instructions, order updates);
3. end to end: intake threads and workers together, from the first order placed to the last
   one persisted, orders per second;
4. ack latency through the API: POST /api/v1/orders to a daphne process at a steady rate
   (default 100/s), p50/p99 from each request's scheduled send time to its response (so a
   slow response does not hide the ones queued behind it).

Run: .venv/bin/python bench/matching_pipeline.py [--orders 20000] [--rate 100] [--seconds 20]
DATABASE_URL must point at a PostgreSQL server whose user may create databases; REDIS_URL at a
Redis the workers can use (give it a database of its own, e.g. redis://127.0.0.1:6379/5).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRICE = Decimal("50.00")
PASSWORD = "bench-password-1234"  # noqa: S105  (scratch database, dropped afterwards)


def _scratch_database() -> tuple[str, str]:
    import psycopg

    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bourse"
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'bourse'}_bench_pipeline"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    return admin, name


def _drop(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _setup() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.dev"
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["THROTTLE_USER"] = "1000000/min"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _market(traders: int, instruments: int) -> tuple[list, list]:
    """Traders with cash and shares (KYC approved), and instruments on the round-the-clock
    calendar, one or more per matching shard."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from apps.accounts import services as account_services
    from apps.accounts.models import User
    from apps.instruments import services as instrument_services
    from apps.instruments.identifiers import cusip_check_digit, isin_from_cusip
    from apps.instruments.models import TradingCalendar
    from apps.kyc.models import KycApplication
    from apps.ledger import references
    from apps.ledger.choices import Bucket, HouseAccount
    from apps.ledger.services import (
        EntrySpec,
        bank_credit_receive,
        journal_post_batch,
        ledger_account_get,
    )
    from apps.positions.models import LotSource
    from apps.positions.services import PositionChange, positions_apply, positions_settle

    calendar = TradingCalendar.objects.get(code="24x7")
    symbols = []
    for n in range(instruments):
        base = f"9Y{n:04d}10"  # an issuer number nobody is assigned
        symbols.append(
            instrument_services.instrument_create(
                actor=None,
                symbol=f"BNCH{n}",
                name=f"Bench {n}",
                asset_class="equity",
                currency="USD",
                tick_size=Decimal("0.01"),
                lot_size=Decimal("1"),
                reference_price=PRICE,
                calendar=calendar.code,
                isin=isin_from_cusip(base + cusip_check_digit(base)),
            )
        )
    password = make_password(PASSWORD)
    users = User.objects.bulk_create(
        [User(email=f"trader{i}@bench.example", password=password) for i in range(traders)]
    )
    KycApplication.objects.bulk_create(
        [
            KycApplication(user=u, status="approved", tier=3, legal_name=f"Trader {i}")
            for i, u in enumerate(users)
        ]
    )
    accounts = []
    for user in users:
        account = account_services.trading_account_open(owner=user, actor=user)
        account_services.trading_account_activate(
            account=account, actor=None, reason="bench", enforce_permission=False
        )
        bank_credit_receive(
            bank_transaction_id=f"BENCH-{account.pk}",
            reference=references.reference_for(account.number),
            amount=Decimal("10000000.00"),
            currency="USD",
        )
        accounts.append(account)
    entries, changes = [], []
    for instrument in symbols:
        custody = ledger_account_get(
            house=HouseAccount.CUSTODY, instrument=instrument, bucket=Bucket.SETTLED
        )
        for account in accounts:
            entries.append(
                EntrySpec(
                    kind="securities_transfer",
                    postings=[
                        (custody, Decimal(-100000)),
                        (
                            ledger_account_get(
                                owner=account, instrument=instrument, bucket=Bucket.SETTLED
                            ),
                            Decimal(100000),
                        ),
                    ],
                    memo="bench shares",
                )
            )
            changes.append(
                PositionChange(
                    account_id=account.pk,
                    instrument_id=instrument.pk,
                    side="buy",
                    quantity=Decimal(100000),
                    amount=Decimal(100000) * PRICE,
                    on=timezone.localdate(),
                    source=LotSource.TRANSFER_IN,
                )
            )
    journal_post_batch(entries=entries)
    positions_apply(changes=changes)
    positions_settle(quantities={(c.account_id, c.instrument_id): c.quantity for c in changes})
    return accounts, symbols


def _orders(accounts: list, instruments: list, count: int, seed: int) -> list[dict]:
    """A realistic flow: limit orders around the price, a fifth of them crossing."""
    rng = random.Random(seed)
    flow = []
    for _ in range(count):
        side = rng.choice(("buy", "sell"))
        offset = Decimal(rng.randint(1, 25)) / 100
        crossing = rng.random() < 0.2
        price = PRICE + (offset if (side == "buy") == crossing else -offset)
        flow.append(
            {
                "account": rng.choice(accounts),
                "instrument": rng.choice(instruments),
                "side": side,
                "quantity": Decimal(rng.randint(1, 100)),
                "price": price if side == "buy" or crossing else PRICE + offset,
            }
        )
    return flow


def _place_all(flow: list[dict], threads: int) -> float:
    from django.db import connection

    from apps.orders.services import order_place

    chunks = [flow[i::threads] for i in range(threads)]
    errors: list[BaseException] = []

    def work(chunk: list[dict]) -> None:
        try:
            for o in chunk:
                order_place(
                    account=o["account"],
                    instrument=o["instrument"],
                    side=o["side"],
                    type="limit",
                    quantity=o["quantity"],
                    limit_price=o["price"],
                    time_in_force="gtc",
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def _waiting() -> int:
    from apps.orders.choices import OPEN_ORDER_STATUSES
    from apps.orders.models import Order

    return Order.objects.filter(needs_match=True, status__in=OPEN_ORDER_STATUSES).count()


def _wait_drained(timeout: float = 900) -> float:
    started = time.perf_counter()
    while _waiting():
        if time.perf_counter() - started > timeout:
            raise RuntimeError("the workers did not drain the backlog")
        time.sleep(0.05)
    return time.perf_counter() - started


class Workers:
    def __init__(self, shards: int) -> None:
        self.shards = shards
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev"}
        for shard in range(self.shards):
            self.processes.append(
                subprocess.Popen(  # noqa: S603
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "config",
                        "worker",
                        "-Q",
                        f"matching.{shard}",
                        "--pool",
                        "solo",
                        "-n",
                        f"bench{shard}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "-l",
                        "WARNING",
                    ],
                    cwd=ROOT,
                    env=env,
                    start_new_session=True,
                )
            )
        # market data and notifications after each batch, as in production
        self.processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    "default,notifications",
                    "-c",
                    "1",
                    "-n",
                    "benchmd@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "-l",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
        )
        time.sleep(4)

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.processes = []


def _enqueue_all(instruments: list) -> None:
    from apps.core.queues import matching_queue
    from apps.matching.tasks import match_instrument

    for instrument in instruments:
        match_instrument.apply_async(args=[instrument.pk], queue=matching_queue(instrument.pk))


def _counts() -> dict[str, int]:
    from apps.ledger.models import JournalEntry
    from apps.matching.models import Fill, Trade
    from apps.orders.models import Order
    from apps.positions.models import TaxLot

    return {
        "orders": Order.objects.count(),
        "trades": Trade.objects.count(),
        "fills": Fill.objects.count(),
        "journal_entries": JournalEntry.objects.count(),
        "tax_lots": TaxLot.objects.count(),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_latency(
    accounts: list, instruments: list, rate: float, seconds: float, servers: int
) -> dict:
    """POST /api/v1/orders at a steady ``rate`` through daphne; latencies in ms."""
    from apps.accounts.services import api_token_issue

    tokens = {}
    for account in accounts[:20]:
        _, key = api_token_issue(email=account.owner.email, password=PASSWORD)
        tokens[account.pk] = key
    # Daphne runs Django's synchronous views one at a time per process; production runs
    # several processes behind a load balancer, and so does this benchmark (round robin).
    ports = [_free_port() for _ in range(servers)]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.dev"}
    processes = [
        subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for port in ports
    ]
    try:
        for port in ports:
            for _ in range(150):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
        rng = random.Random(3)
        total = int(rate * seconds)
        plan = []
        for i in range(total):
            account = accounts[i % len(tokens)]
            side = rng.choice(("buy", "sell"))
            price = PRICE + Decimal(rng.randint(-10, 10)) / 100
            plan.append(
                (
                    tokens[account.pk],
                    {
                        "account": account.pk,
                        "symbol": rng.choice(instruments).symbol,
                        "side": side,
                        "type": "limit",
                        "quantity": str(rng.randint(1, 50)),
                        "limit_price": str(price),
                        "time_in_force": "gtc",
                    },
                )
            )
        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        start = time.perf_counter() + 0.5
        threads = 24

        def worker(index: int) -> None:
            port = ports[index % len(ports)]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for i in range(index, total, threads):
                token, body = plan[i]
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                try:
                    conn.request(
                        "POST",
                        "/api/v1/orders",
                        body=json.dumps(body),
                        headers={
                            "Authorization": f"Token {token}",
                            "Content-Type": "application/json",
                        },
                    )
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    with lock:
                        failures.append(repr(exc))
                    continue
                elapsed = (time.perf_counter() - due) * 1000
                with lock:
                    if response.status == 201:
                        latencies.append(elapsed)
                    else:
                        failures.append(f"{response.status} {payload[:200]!r}")

        pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(20)
    latencies.sort()
    return {
        "sent": total,
        "ok": len(latencies),
        "failures": len(failures),
        "first_failure": failures[0] if failures else "",
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan"),
        "max_ms": latencies[-1] if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--traders", type=int, default=200)
    parser.add_argument("--instruments", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--servers", type=int, default=3, help="daphne processes")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        sys.exit("REDIS_URL is required: the pipeline runs on real Celery workers")
    admin, name = _scratch_database()
    try:
        _setup()
        from django.conf import settings

        shards = settings.MATCHING_SHARDS
        print(f"setting up {args.traders} traders, {args.instruments} instruments ...", flush=True)
        accounts, instruments = _market(args.traders, args.instruments)
        workers = Workers(shards)

        half = args.orders // 2
        flow = _orders(accounts, instruments, args.orders, seed=1)
        seconds = _place_all(flow[:half], args.threads)
        print(
            f"intake ({args.threads} threads, workers stopped): {half} orders in {seconds:.2f} s"
            f" = {half / seconds:,.0f} orders/s",
            flush=True,
        )
        before = _counts()
        workers.start()
        _enqueue_all(instruments)
        started = time.perf_counter()
        _wait_drained()
        drained = time.perf_counter() - started
        after = _counts()
        print(
            f"drain ({shards} shards): {half} orders matched and persisted in {drained:.2f} s"
            f" = {half / drained:,.0f} orders/s; {after['trades'] - before['trades']} trades,"
            f" {after['journal_entries'] - before['journal_entries']} journal entries",
            flush=True,
        )
        started = time.perf_counter()
        _place_all(flow[half:], args.threads)
        _wait_drained()
        total = time.perf_counter() - started
        rest = args.orders - half
        print(
            f"end to end (intake + {shards} shards together): {rest} orders in {total:.2f} s"
            f" = {rest / total:,.0f} orders/s",
            flush=True,
        )
        latency = bench_latency(accounts, instruments, args.rate, args.seconds, args.servers)
        print(
            f"API ack latency at {args.rate:.0f} orders/s for {args.seconds:.0f} s "
            f"({args.servers} daphne processes): "
            f"p50 {latency['p50_ms']:.1f} ms, p99 {latency['p99_ms']:.1f} ms, "
            f"max {latency['max_ms']:.1f} ms ({latency['ok']}/{latency['sent']} accepted, "
            f"{latency['failures']} failed {latency['first_failure']})",
            flush=True,
        )
        _wait_drained()
        workers.stop()
        from apps.ledger.selectors import ledger_integrity
        from apps.positions.services import positions_reconcile

        print(
            f"afterwards: ledger integrity {'ok' if ledger_integrity().ok else 'BROKEN'}, "
            f"position breaks {len(positions_reconcile())}, {_counts()}",
            flush=True,
        )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _drop(admin, name)


if __name__ == "__main__":
    main()
