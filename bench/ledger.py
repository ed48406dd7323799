"""Ledger throughput and balance-as-of latency.

Measures, on a scratch database created next to DATABASE_URL's (dropped afterwards):

1. single entries per second: journal_post, one entry per transaction, from one thread and
   from several threads at once (deposit-like entries touching the house bank, and client-only
   moves settled -> reserved that share nothing but the hash chain);
2. batched entries per second: journal_post_batch, one transaction per batch;
3. balance_as_of latency on one client account with a million postings (and cash_balances
   with as_of), at random instants across its history;
4. how long ledger_verify takes over all of it.

Run: .venv/bin/python bench/ledger.py [--quick] [--keep]
DATABASE_URL must point at a PostgreSQL server whose user may create databases.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _scratch_database(keep: bool) -> tuple[str, str]:
    """Create <name>_bench_ledger next to DATABASE_URL's database; return (admin url, name)."""
    import psycopg

    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bourse"
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'bourse'}_bench_ledger"
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


def _setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _clients(count: int, prefix: str = "bench") -> list:
    from django.contrib.auth.hashers import make_password

    from apps.accounts import services as account_services
    from apps.accounts.models import User
    from apps.ledger import services
    from apps.ledger.choices import Bucket

    password = make_password("bench-password-1234")
    users = User.objects.bulk_create(
        [User(email=f"{prefix}{i}@example.com", password=password) for i in range(count)]
    )
    rows = []
    for user in users:
        account = account_services.trading_account_open(owner=user, actor=user)
        rows.append(
            (
                services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.SETTLED),
                services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.RESERVED),
            )
        )
    return rows


def _settle() -> None:
    """Vacuum and analyze the ledger tables between phases, so that autovacuum waking up in
    the middle of a phase does not decide its figure."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) ledger_posting, ledger_journalentry, ledger_ledgeraccount, "
            "ledger_chainhead"
        )


def _run_threads(count: int, work) -> float:
    from django.db import connection

    barrier = threading.Barrier(count + 1)
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def bench_single(clients: list, total: int, threads: int) -> dict[str, float]:
    from apps.ledger import services
    from apps.ledger.services import house_account

    bank = house_account("bank", "USD")
    one = Decimal("1.00")
    results = {}

    started = time.perf_counter()
    for i in range(total):
        settled, _ = clients[i % len(clients)]
        services.journal_post(kind="deposit", postings=[(settled, one), (bank, -one)])
    results["single, 1 thread, deposit (client + house bank)"] = total / (
        time.perf_counter() - started
    )

    per_thread = total // threads
    share = len(clients) // threads

    def deposits(index: int) -> None:
        mine = clients[index * share : (index + 1) * share]
        for i in range(per_thread):
            settled, _ = mine[i % len(mine)]
            services.journal_post(kind="deposit", postings=[(settled, one), (bank, -one)])

    elapsed = _run_threads(threads, deposits)
    results[f"single, {threads} threads, deposit (client + house bank)"] = (
        per_thread * threads / elapsed
    )

    def holds(index: int) -> None:
        mine = clients[index * share : (index + 1) * share]
        for i in range(per_thread):
            settled, reserved = mine[i % len(mine)]
            services.journal_post(kind="hold", postings=[(settled, -one), (reserved, one)])

    elapsed = _run_threads(threads, holds)
    results[f"single, {threads} threads, hold (client settled -> reserved)"] = (
        per_thread * threads / elapsed
    )
    return results


def bench_batch(clients: list, total: int, size: int, legs: int = 3) -> dict[str, float]:
    """``legs`` postings per entry: 3 is fill-like (client, bank, fee), 2 a plain transfer."""
    from apps.ledger import services
    from apps.ledger.services import EntrySpec, house_account

    bank = house_account("bank", "USD")
    fees = house_account("fees", "USD")
    amount, fee = Decimal("10.00"), Decimal("0.10")
    elapsed = 0.0
    posted = 0
    postings = 0
    batch_number = 0
    while posted < total:
        specs = []
        for i in range(size):
            settled, _ = clients[(posted + i) % len(clients)]
            lines = (
                [(settled, amount), (bank, -amount - fee), (fees, fee)]
                if legs == 3
                else [(settled, amount), (bank, -amount)]
            )
            specs.append(EntrySpec(kind="trade", postings=lines, reference=f"B{batch_number}-{i}"))
        started = time.perf_counter()
        services.journal_post_batch(entries=specs)
        elapsed += time.perf_counter() - started
        posted += size
        postings += sum(len(s.postings) for s in specs)
        batch_number += 1
    return {
        f"batched, {size} entries of {legs} postings per batch (entries/s)": posted / elapsed,
        f"batched, {size} entries of {legs} postings per batch (postings/s)": postings / elapsed,
    }


def bench_batch_parallel(clients: list, total: int, size: int, posters: int) -> dict[str, float]:
    """Several posters at once (as matching shards post their batches), each on its own
    clients, all sharing the house accounts and the chain."""
    from apps.ledger import services
    from apps.ledger.services import EntrySpec, house_account

    bank = house_account("bank", "USD")
    fees = house_account("fees", "USD")
    amount, fee = Decimal("10.00"), Decimal("0.10")
    share = len(clients) // posters
    batches = total // size // posters

    def post(index: int) -> None:
        mine = clients[index * share : (index + 1) * share]
        for batch in range(batches):
            specs = [
                EntrySpec(
                    kind="trade",
                    postings=[(mine[i % len(mine)][0], amount), (bank, -amount - fee), (fees, fee)],
                    reference=f"P{index}-{batch}-{i}",
                )
                for i in range(size)
            ]
            services.journal_post_batch(entries=specs)

    elapsed = _run_threads(posters, post)
    return {
        f"batched, {posters} posters in parallel, {size} entries of 3 postings (entries/s)": (
            batches * size * posters / elapsed
        )
    }


def bench_as_of(target_postings: int, size: int) -> dict[str, float]:
    from django.db import connection
    from django.utils import timezone

    from apps.ledger import selectors, services
    from apps.ledger.services import EntrySpec, house_account

    ((settled, _),) = _clients(1, prefix="history")
    account = settled.owner
    bank = house_account("bank", "USD")
    up, down = Decimal("2.00"), Decimal("-1.00")
    first = timezone.now()
    made = 0
    fill_started = time.perf_counter()
    while made < target_postings:
        n = min(size, target_postings - made)
        specs = [
            EntrySpec(
                kind="deposit" if (made + i) % 2 == 0 else "withdrawal_payout",
                postings=[
                    (settled, up if (made + i) % 2 == 0 else down),
                    (bank, -up if (made + i) % 2 == 0 else -down),
                ],
            )
            for i in range(n)
        ]
        services.journal_post_batch(entries=specs)
        made += n
    fill = time.perf_counter() - fill_started
    last = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_posting")

    span = (last - first).total_seconds()
    rng = random.Random(7)
    instants = [first + (last - first) * rng.random() for _ in range(500)]
    latencies = []
    for instant in instants:
        started = time.perf_counter()
        selectors.balance_as_of(ledger_account=settled, instant=instant)
        latencies.append(time.perf_counter() - started)
    page_latencies = []
    for instant in instants[:200]:
        started = time.perf_counter()
        selectors.cash_balances(account=account, as_of=instant)
        page_latencies.append(time.perf_counter() - started)
    final = selectors.balance_as_of(ledger_account=settled, instant=timezone.now())
    settled.refresh_from_db()
    assert final == settled.balance, (final, settled.balance)
    latencies.sort()
    page_latencies.sort()
    return {
        f"as-of fill ({target_postings} postings on one account, {span:.0f} s of history)": fill,
        "balance_as_of p50 (ms)": statistics.median(latencies) * 1000,
        "balance_as_of p99 (ms)": latencies[int(len(latencies) * 0.99)] * 1000,
        "balance_as_of max (ms)": latencies[-1] * 1000,
        "cash_balances(as_of) p50 (ms)": statistics.median(page_latencies) * 1000,
        "cash_balances(as_of) p99 (ms)": page_latencies[int(len(page_latencies) * 0.99)] * 1000,
    }


def bench_verify() -> dict[str, float]:
    from apps.ledger import services

    started = time.perf_counter()
    run = services.ledger_verify()
    elapsed = time.perf_counter() - started
    assert run.ok, run.problems
    return {
        f"ledger_verify over {run.entries_checked} entries / {run.postings_checked} postings (s)": (
            elapsed
        )
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes, for a smoke run.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--threads", type=int, default=2, help="Threads posting single entries.")
    args = parser.parse_args()
    single = 500 if args.quick else 6000
    batched = 5000 if args.quick else 200_000
    as_of = 20_000 if args.quick else 1_000_000

    admin, name = _scratch_database(args.keep)
    try:
        _setup_django()
        clients = _clients(40 if args.quick else 400)
        figures: dict[str, float] = {}
        phases = [
            lambda: bench_single(clients, single, args.threads),
            lambda: bench_batch(clients, batched, 1000),
            lambda: bench_batch(clients, batched, 1000, legs=2),
            lambda: bench_batch(clients, batched, 5000),
            lambda: bench_batch_parallel(clients, batched, 1000, posters=2),
            lambda: bench_as_of(as_of, 10_000),
            bench_verify,
        ]
        for phase in phases:
            _settle()
            figures.update(phase())
        print(f"Ledger benchmark (scratch database {name})")
        for label, value in figures.items():
            unit = "" if "(" in label else " entries/s"
            print(f"  {label:<75} {value:>12,.1f}{unit}")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _drop(admin, name)


if __name__ == "__main__":
    main()
