"""Row locks of the ledger, always taken in one fixed order so that concurrent postings never
deadlock: client ledger accounts first (here, by primary key), then house accounts (by
primary key) and the hash chain's head, both inside the statement that writes the entries
(the SQL function ledger_chain_append).

House accounts (the bank, clearing, fees) and the head are touched by most entries; locking
them last, inside the write, keeps them locked for the shortest time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

import psycopg
from django.db import connection

LOCK_ACCOUNTS_SQL = """
SELECT id, balance FROM ledger_ledgeraccount
WHERE id = ANY(%s)
ORDER BY (owner_id IS NULL), id
FOR UPDATE
"""


# Django opens psycopg connections with prepare_threshold=None, which turns prepared
# statements off altogether. A threshold no query reaches keeps Django's own queries
# unprepared, as before, while statements executed with prepare=True are prepared.
PREPARE_ONLY_WHEN_ASKED = 2**62


@contextmanager
def posting_cursor() -> Iterator[psycopg.Cursor]:
    """A cursor on the current connection and transaction for the posting path.

    It binds parameters on the server, so the posting statements (executed with
    ``prepare=True``) are parsed and planned once per connection instead of on every entry.
    Database errors still arrive as Django's (IntegrityError, ...).
    """
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = PREPARE_ONLY_WHEN_ASKED
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        yield cursor


def ledger_accounts_lock(account_ids: Iterable[int]) -> dict[int, Decimal]:
    """Lock client ledger accounts (FOR UPDATE, by id) until the end of the transaction.

    Returns their current balances by id; ids that do not exist are missing from the result.
    """
    ids = sorted(set(account_ids))
    with posting_cursor() as cursor:
        cursor.execute(LOCK_ACCOUNTS_SQL, [ids], prepare=True)
        return dict(cursor.fetchall())
