"""The journal's hash chain: SHA-256 over each entry's content, its postings and the previous
entry's hash. Changing any posted amount, account, running balance or entry field, or removing
or reordering entries, breaks the chain from that entry on; ``ledger_verify`` finds it.

The canonical form is fixed: changing it invalidates every stored hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from decimal import Decimal

from apps.ledger.models import AMOUNT_PLACES, GENESIS_HASH

__all__ = ["GENESIS_HASH", "amount_text", "entry_hash"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)


def amount_text(value: Decimal) -> str:
    """An amount as stored (8 decimal places), e.g. '-100.00000000'."""
    return f"{value.quantize(_QUANTUM):f}"


def _micros(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def entry_hash(
    *,
    prev_hash: str,
    sequence: int,
    kind: str,
    created_at: dt.datetime,
    memo: str,
    reference: str,
    idempotency_key: str | None,
    actor_id: int | None,
    correlation_id: str,
    reverses_id: int | None,
    postings: Iterable[tuple[int, Decimal, Decimal]],
) -> str:
    """SHA-256 (hex) of an entry: ``postings`` are (ledger_account_id, amount, balance_after)."""
    lines = sorted(
        (account_id, amount_text(amount), amount_text(balance_after))
        for account_id, amount, balance_after in postings
    )
    content = [
        prev_hash,
        sequence,
        kind,
        _micros(created_at),
        memo,
        reference,
        idempotency_key,
        actor_id,
        correlation_id,
        reverses_id,
        lines,
    ]
    encoded = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()
