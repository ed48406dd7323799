"""Row locks of the ledger, always taken in one fixed order so that concurrent postings never
deadlock: client ledger accounts first, then house accounts, each by primary key; the hash
chain's head last of all, just before commit.

House accounts (the bank, clearing, fees) are touched by many entries; locking them after the
client accounts keeps them locked for the shortest time.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db import connection

from apps.ledger.models import GENESIS_HASH

LOCK_ACCOUNTS_SQL = """
SELECT id, balance FROM ledger_ledgeraccount
WHERE id = ANY(%s)
ORDER BY (owner_id IS NULL), id
FOR UPDATE
"""

LOCK_HEAD_SQL = "SELECT last_sequence, last_hash FROM ledger_chainhead WHERE id = 1 FOR UPDATE"

CREATE_HEAD_SQL = """
INSERT INTO ledger_chainhead (id, last_sequence, last_hash, updated_at)
VALUES (1, 0, %s, now())
ON CONFLICT (id) DO NOTHING
"""


def ledger_accounts_lock(account_ids: Iterable[int]) -> dict[int, Decimal]:
    """Lock ledger accounts (FOR UPDATE, in the fixed order) until the end of the transaction.

    Returns their current balances by id; ids that do not exist are missing from the result.
    """
    ids = sorted(set(account_ids))
    with connection.cursor() as cursor:
        cursor.execute(LOCK_ACCOUNTS_SQL, [ids])
        return dict(cursor.fetchall())


def chain_head_lock() -> tuple[int, str]:
    """Lock the hash chain's head; returns (last sequence, last hash). Take it last."""
    with connection.cursor() as cursor:
        cursor.execute(LOCK_HEAD_SQL)
        row = cursor.fetchone()
        if row is None:  # an emptied database (tests flush tables): start the chain again
            cursor.execute(CREATE_HEAD_SQL, [GENESIS_HASH])
            cursor.execute(LOCK_HEAD_SQL)
            row = cursor.fetchone()
    return int(row[0]), row[1]
