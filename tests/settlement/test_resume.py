"""A run that stops half way (a chunk that cannot get its locks, a process killed between
chunks) keeps what it committed, and running the date again finishes the job once."""

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError

from apps.ledger.models import JournalEntry, LedgerAccount
from apps.settlement.models import SettlementInstruction, SettlementRun
from tests.factories import trading
from tests.settlement.conftest import assert_books_clean, balance, due_date, run, trade

ROOT = Path(__file__).resolve().parents[2]


def _connect() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"])


def _market_with_buyers(count: int):
    """A seller and ``count`` buyers, one trade each; accounts due in id order."""
    market = trading.open_instrument(settlement_cycle=1)
    seller = trading.trader()
    trading.shares(seller, market, 10 * count)
    buyers = [trading.trader() for _ in range(count)]
    for buyer in buyers:
        trade(market, seller, buyer, 10, "100.00")
    return market, seller, buyers


def _hold_lock(conn: psycopg.Connection, account, market) -> None:
    """Another transaction holds the row lock of one of the account's ledger buckets."""
    bucket = LedgerAccount.objects.get(owner=account, instrument=market, bucket="unsettled")
    conn.execute("SELECT 1 FROM ledger_ledgeraccount WHERE id = %s FOR UPDATE", [bucket.pk])


@pytest.mark.django_db(transaction=True)
def test_a_run_stopped_by_a_lock_timeout_resumes(settings):
    settings.SETTLEMENT_LOCK_TIMEOUT_MS = 300
    market, seller, buyers = _market_with_buyers(5)
    on = due_date(seller)
    # Chunks of two accounts: [seller, buyer 0], [buyer 1, buyer 2], [buyer 3, buyer 4].
    with _connect() as blocker:
        _hold_lock(blocker, buyers[2], market)
        with pytest.raises(OperationalError):
            run(on, chunk_size=2)
        stopped = SettlementRun.objects.get()
        assert stopped.status == "failed" and "lock" in stopped.error.lower()
        assert stopped.chunks_done == 1 and stopped.last_account_id == buyers[0].pk
        assert stopped.instructions_settled == 6  # the seller's five sales and one purchase
        assert SettlementInstruction.objects.filter(status="pending").count() == 4
        assert balance(buyers[0], market) == 10 and balance(buyers[1], market) == 0
        blocker.rollback()

    entries = JournalEntry.objects.filter(kind="settlement").count()
    resumed = run(on, chunk_size=2)

    assert resumed.pk == stopped.pk
    assert (resumed.status, resumed.attempts, resumed.instructions_settled) == ("completed", 2, 10)
    assert JournalEntry.objects.filter(kind="settlement").count() == entries + 4
    assert all(balance(b, market) == 10 for b in buyers)
    assert balance(seller, "USD") == Decimal("105000.00")
    assert_books_clean()


def _backends_waiting(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).fetchone()
    return row[0]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_killed_between_chunks_resumes():
    """``run_settlement`` in its own process; it is killed while its third chunk waits for a
    lock. The two chunks before stay settled, the run stays "running", and running the date
    again settles the rest exactly once."""
    market, seller, buyers = _market_with_buyers(5)
    on = due_date(seller)
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "SETTLEMENT_LOCK_TIMEOUT_MS": "600000",
    }
    with _connect() as blocker, _connect() as watcher:
        watcher.autocommit = True
        _hold_lock(blocker, buyers[3], market)
        command = ["manage.py", "run_settlement", "--date", on.isoformat(), "--chunk-size", "2"]
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while _backends_waiting(watcher) == 0:
                assert process.poll() is None, "the run ended instead of waiting"
                assert time.monotonic() < deadline, "the run never reached the locked chunk"
                time.sleep(0.2)
        finally:
            process.kill()
            process.wait()
        crashed = SettlementRun.objects.get()
        assert crashed.status == "running" and crashed.chunks_done == 2
        assert SettlementInstruction.objects.filter(status="settled").count() == 8
        blocker.rollback()  # the killed run's backend gets its lock, then finds no client

    deadline = time.monotonic() + 30
    while True:
        try:
            resumed = run(on, chunk_size=2)
            break
        except Exception as exc:  # the dead run's session still holds the run lock
            assert time.monotonic() < deadline, exc
            time.sleep(0.5)

    assert (resumed.status, resumed.attempts, resumed.instructions_settled) == ("completed", 2, 10)
    assert all(balance(b, market) == 10 for b in buyers)
    assert balance(seller, "USD") == Decimal("105000.00")
    assert SettlementInstruction.objects.filter(status="settled").count() == 10
    assert_books_clean()
