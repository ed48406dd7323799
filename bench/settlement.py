"""A settlement run over 100,000 instructions.

On a scratch database created next to DATABASE_URL's (dropped afterwards) it builds, with
bulk statements:

* a few thousand client accounts and 50 instruments (round-the-clock calendar);
* 50,000 trades between them, as 100,000 pending instructions due on one date, plus 10,000
  more due the next day (they stay pending: their claims hold unsettled balances back);
* the ledger those trades left: per account its unsettled sale proceeds (a fifth of the
  accounts spent a third of theirs on later purchases), its unsettled shares bought, and its
  settled shares less what it sold, posted as opening entries through journal_post_batch;
  positions to match (quantity and settled quantity);

then times ``settlement_run`` for the date (and once more: the idempotent re-run), and checks
the ledger afterwards with ledger_integrity.

Trades and fills are not created (instructions carry made-up trade ids), so the run's bust
check finds nothing to look at; everything else is the production path.

Run: .venv/bin/python bench/settlement.py [--instructions 100000] [--accounts 3000]
     [--chunk-size 250] [--quick] [--keep]
DATABASE_URL must point at a PostgreSQL server whose user may create databases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

INSTRUMENTS = 50
UNIVERSE = 8  # instruments each account trades
OPENING_HOLDING = Decimal(100_000)  # settled shares of each instrument in its universe
LATER_SHARE = 0.1  # extra instructions due the day after, as a share of the main set


def _scratch_database(keep: bool) -> tuple[str, str]:
    import psycopg

    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/bourse"
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'bourse'}_bench_settlement"
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


def _accounts(count: int) -> list[int]:
    from django.contrib.auth.hashers import make_password

    from apps.accounts.models import TradingAccount, User

    password = make_password("bench-password-1234")
    users = User.objects.bulk_create(
        [User(email=f"settle{i}@example.com", password=password) for i in range(count)],
        batch_size=2000,
    )
    accounts = TradingAccount.objects.bulk_create(
        [
            TradingAccount(owner=user, number=f"BENCH-{i:06d}", currency="USD", status="active")
            for i, user in enumerate(users)
        ],
        batch_size=2000,
    )
    return [a.pk for a in accounts]


def _instruments() -> list:
    from tests.factories.instruments import InstrumentFactory

    return [
        InstrumentFactory(
            symbol=f"STL{i:02d}", calendar="24x7", settlement_cycle=1, reference_price=100
        )
        for i in range(INSTRUMENTS)
    ]


def _instructions(accounts: list[int], instruments: list, total: int, due: dt.date) -> list:
    """``total`` instructions (two per trade) due on ``due``, and a tenth more the day after."""
    from apps.settlement.models import SettlementInstruction

    rng = random.Random(7)
    universe = {a: rng.sample(range(len(instruments)), UNIVERSE) for a in accounts}
    rows = []
    later = int(total * LATER_SHARE)
    for n in range((total + later) // 2):
        trade_id = n + 1
        buyer, seller = rng.sample(accounts, 2)
        pick = rng.choice([i for i in universe[buyer] if i in universe[seller]] or [None])
        if pick is None:
            universe[seller][0] = pick = universe[buyer][0]
        instrument = instruments[pick]
        quantity = Decimal(rng.randint(1, 100))
        price = Decimal(rng.randint(1000, 50000)) / 100
        notional = (quantity * price).quantize(Decimal("0.01"))
        settles = due if n < total // 2 else due + dt.timedelta(days=1)
        for account, side, q, cash in (
            (buyer, "buy", quantity, -notional),
            (seller, "sell", -quantity, notional),
        ):
            rows.append(
                SettlementInstruction(
                    trade_id=trade_id,
                    fill_id=trade_id * 2 + (side == "sell"),
                    account_id=account,
                    instrument_id=instrument.pk,
                    side=side,
                    quantity=q,
                    cash_amount=cash,
                    currency="USD",
                    trade_date=due - dt.timedelta(days=1),
                    settlement_date=settles,
                )
            )
    SettlementInstruction.objects.bulk_create(rows, batch_size=5000)
    return rows


def _books(rows: list, instruments: list) -> None:
    """Opening ledger entries and positions matching the instructions: proceeds and bought
    shares unsettled (a fifth of the accounts spent a third of their proceeds), sold shares
    gone from the settled holding."""
    from apps.ledger.choices import Bucket, HouseAccount
    from apps.ledger.models import LedgerAccount
    from apps.ledger.services import EntrySpec, journal_post_batch, ledger_account_get
    from apps.positions.models import Position

    rng = random.Random(11)
    proceeds: dict[int, Decimal] = defaultdict(Decimal)
    bought: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    sold: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for row in rows:
        key = (row.account_id, row.instrument_id)
        if row.side == "sell":
            proceeds[row.account_id] += row.cash_amount
            sold[key] += -row.quantity
        else:
            bought[key] += row.quantity
        bought.setdefault(key, Decimal(0))
    keys = sorted(bought)
    accounts = sorted({a for a, _ in keys})
    # Clients funded their accounts: each has its settled cash bucket.
    wanted = [(a, ("c", "USD"), b) for a in accounts for b in (Bucket.SETTLED, Bucket.UNSETTLED)]
    for a, i in keys:
        wanted += [(a, ("i", i), Bucket.SETTLED), (a, ("i", i), Bucket.UNSETTLED)]
    LedgerAccount.objects.bulk_create(
        [
            LedgerAccount(
                owner_id=a,
                currency=asset[1] if asset[0] == "c" else None,
                instrument_id=asset[1] if asset[0] == "i" else None,
                bucket=bucket,
            )
            for a, asset, bucket in wanted
        ],
        batch_size=5000,
        ignore_conflicts=True,
    )
    ledger = {
        (r.owner_id, ("c", r.currency) if r.currency else ("i", r.instrument_id), r.bucket): r
        for r in LedgerAccount.objects.filter(owner_id__in=accounts)
    }
    clearing = ledger_account_get(house=HouseAccount.CLEARING, currency="USD", bucket="settled")
    custody = {
        i.pk: ledger_account_get(house=HouseAccount.CUSTODY, instrument=i, bucket="settled")
        for i in instruments
    }
    by_account: dict[int, list] = defaultdict(list)
    for a, i in keys:
        by_account[a].append(i)
    specs = []
    for a in accounts:
        postings = []
        cash = proceeds.get(a, Decimal(0))
        if rng.random() < 0.2:
            cash = (cash * 2 / 3).quantize(Decimal("0.01"))  # a third spent on later purchases
        if cash:
            postings += [(ledger[(a, ("c", "USD"), Bucket.UNSETTLED)], cash), (clearing, -cash)]
        for i in by_account[a]:
            settled = OPENING_HOLDING - sold[(a, i)]
            postings += [
                (ledger[(a, ("i", i), Bucket.SETTLED)], settled),
                (custody[i], -settled),
            ]
            if bought[(a, i)]:
                postings += [
                    (ledger[(a, ("i", i), Bucket.UNSETTLED)], bought[(a, i)]),
                    (custody[i], -bought[(a, i)]),
                ]
        specs.append(EntrySpec(kind="opening", postings=postings))
    for start in range(0, len(specs), 500):
        journal_post_batch(entries=specs[start : start + 500])
    Position.objects.bulk_create(
        [
            Position(
                account_id=a,
                instrument_id=i,
                quantity=OPENING_HOLDING + bought[(a, i)] - sold[(a, i)],
                settled_quantity=OPENING_HOLDING,
            )
            for a, i in keys
        ],
        batch_size=5000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=3_000)
    parser.add_argument("--chunk-size", type=int, default=None, help="Accounts per chunk.")
    parser.add_argument("--quick", action="store_true", help="10,000 instructions, 500 accounts.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    args = parser.parse_args()
    if args.quick:
        args.instructions, args.accounts = 10_000, 500
    admin, name = _scratch_database(args.keep)
    try:
        _setup_django()
        from django.conf import settings
        from django.db import connection

        from apps.ledger.selectors import ledger_integrity
        from apps.positions.services import positions_reconcile
        from apps.settlement.services import settlement_run

        due = dt.date(2026, 11, 23)
        started = time.perf_counter()
        accounts = _accounts(args.accounts)
        instruments = _instruments()
        rows = _instructions(accounts, instruments, args.instructions, due)
        _books(rows, instruments)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        setup = time.perf_counter() - started
        chunk = args.chunk_size or settings.SETTLEMENT_CHUNK_ACCOUNTS

        started = time.perf_counter()
        run = settlement_run(run_date=due, chunk_size=chunk)
        first = time.perf_counter() - started
        started = time.perf_counter()
        settlement_run(run_date=due, chunk_size=chunk)
        again = time.perf_counter() - started
        started = time.perf_counter()
        report = ledger_integrity()
        breaks = positions_reconcile()
        checked = time.perf_counter() - started

        print(f"Settlement benchmark (scratch database {name})")
        print(
            f"  set-up: {len(accounts):,} accounts, {INSTRUMENTS} instruments, "
            f"{len(rows):,} instructions ({args.instructions:,} due), {setup:.1f} s"
        )
        print(
            f"  run of {due}: {run.instructions_settled:,} settled, "
            f"{run.instructions_failed:,} failed, {run.groups_netted:,} groups, "
            f"{run.entries_posted:,} ledger entries, {run.chunks_done} chunks of {chunk} accounts"
        )
        print(f"  run time: {first:.1f} s ({run.instructions_settled / first:,.0f} instructions/s)")
        print(f"  the same date again (nothing to do): {again:.2f} s")
        print(
            f"  ledger_integrity ok: {report.ok}; positions_reconcile breaks: {len(breaks)}; "
            f"checked in {checked:.1f} s"
        )
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _drop(admin, name)


if __name__ == "__main__":
    main()
