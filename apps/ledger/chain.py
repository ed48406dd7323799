"""The journal's hash chain.

Each entry's ``hash`` is ``SHA-256(prev_hash ":" sequence ":" created_at ":" content_digest)``
(created_at in microseconds since the epoch), where ``content_digest`` is SHA-256 over the
entry's own fields and its postings (account and amount). Changing any posted amount, account
or entry field, or removing or reordering entries, breaks the chain from that entry on;
``ledger_verify`` finds it. Running balances are derived data: ledger_verify recomputes each
one from the (hashed) amounts.

Posting computes the content digest in Python before any chain lock; the database function
``ledger_chain_append`` (migration 0002) then locks the accounts left to it and the chain's head,
reads the clock, links the digests in order and moves the head, inside the statement that
writes the entries, so the chain is locked only for that statement and the commit.
:func:`link_hash` is the same formula in Python.

The canonical form is fixed: changing it invalidates every stored hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from decimal import Decimal

from apps.ledger.models import AMOUNT_PLACES, GENESIS_HASH

__all__ = ["GENESIS_HASH", "amount_text", "content_digest", "link_hash"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)


def amount_text(value: Decimal) -> str:
    """An amount as stored (8 decimal places), e.g. '-100.00000000'."""
    return f"{value.quantize(_QUANTUM):f}"


def _micros(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def content_digest(
    *,
    kind: str,
    memo: str,
    reference: str,
    idempotency_key: str | None,
    actor_id: int | None,
    correlation_id: str,
    reverses_id: int | None,
    postings: Iterable[tuple[int, Decimal | str]],
) -> str:
    """SHA-256 (hex) of an entry's content. ``postings`` are (ledger_account_id, amount), in
    any order; amounts as Decimals or already as :func:`amount_text`."""
    lines = sorted(
        (account_id, amount if isinstance(amount, str) else amount_text(amount))
        for account_id, amount in postings
    )
    content = [
        kind,
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


def link_hash(*, prev_hash: str, sequence: int, created_at: dt.datetime, digest: str) -> str:
    """The entry's chain hash, as ``ledger_chain_append`` computes it."""
    link = f"{prev_hash}:{sequence}:{_micros(created_at)}:{digest}"
    return hashlib.sha256(link.encode()).hexdigest()
