"""Writes of the ledger app: the books (posting, reversing, verifying) and funding (deposits,
withdrawals, manual adjustments).

The books
---------
:func:`journal_post` and :func:`journal_post_batch` are the only writers of journal entries
and postings. In one transaction (a savepoint when the caller already has one) they:

1. check each entry: two or more postings, none zero, amounts in the asset's unit, summing to
   zero per asset;
2. lock the client ledger accounts of a call that debits any client, by id
   (:mod:`apps.ledger.lock_objects`), and compute their running balances: a client bucket
   that would go negative refuses the whole call with ``insufficient_funds`` (cash) or
   ``insufficient_position``;
3. digest each entry (apps.ledger.chain), then write entries, postings and cached balances in
   one statement whose first step locks the remaining accounts (house accounts; the clients
   of a call that only credits them) and the hash chain's head and links the entries to it;
   those stay locked only for that statement and the commit.

Post everything a transaction needs in one call, as its last ledger step: a second call in
the same transaction would lock client accounts after the chain's head, against the fixed
order (PostgreSQL would then abort one of two such racing transactions as a deadlock).

An idempotency key is unique per entry: posting it again returns the first entry and moves
nothing (a different entry under the same key is ``idempotency_conflict``).

Sign convention: client buckets hold what the firm owes the client (positive). House bank is
minus the client cash the firm holds: a deposit posts client settled +X, house bank -X.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.db.models.base import ModelState
from django.utils import timezone

from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount, User
from apps.accounts.services import otp_verify
from apps.core import context
from apps.core.audit import stamp
from apps.core.errors import (
    ApplicationError,
    ErrorCode,
    invalid,
    invalid_state,
    not_found,
    permission_denied,
)
from apps.core.services import outbox_enqueue
from apps.instruments.models import Instrument
from apps.ledger import chain, references
from apps.ledger.choices import (
    LIMITED_WITHDRAWAL_STATUSES,
    AdjustmentStatus,
    Bucket,
    DepositStatus,
    HouseAccount,
    JournalKind,
    ReconciliationTrigger,
    SuspenseReason,
    WithdrawalStatus,
)
from apps.ledger.errors import LedgerErrorCode
from apps.ledger.lock_objects import ledger_accounts_lock, posting_cursor
from apps.ledger.models import (
    AMOUNT_PLACES,
    Adjustment,
    Deposit,
    JournalEntry,
    LedgerAccount,
    Posting,
    ReconciliationRun,
    Withdrawal,
)
from apps.ledger.money import cash_amount, currency_code, minor_unit, to_decimal
from apps.ledger.signals import deposit_credited

logger = logging.getLogger("bourse.ledger")

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)
_MAX_AMOUNT = Decimal(10) ** (28 - AMOUNT_PLACES)


# --- Ledger accounts ------------------------------------------------------------------------


def ledger_account_get(
    *,
    owner: TradingAccount | None = None,
    house: str | None = None,
    currency: str | None = None,
    instrument: Instrument | None = None,
    bucket: str,
) -> LedgerAccount:
    """The ledger account of (owner or house) x (currency or instrument) x bucket, created on
    first use. Safe under concurrency: racing callers get the same row."""
    if (owner is None) == (house is None):
        raise invalid("A ledger account belongs to a trading account or to the house.")
    if (currency is None) == (instrument is None):
        raise invalid("A ledger account holds a currency or an instrument.")
    if house is not None and house not in HouseAccount.values:
        raise invalid("Unknown house account.", house=f"Choose one of {HouseAccount.values}.")
    if bucket not in Bucket.values:
        raise invalid("Unknown bucket.", bucket=f"Choose one of {Bucket.values}.")
    if currency is not None:
        currency = currency_code(currency)
    lookup = {
        "owner": owner,
        "house": house,
        "currency": currency,
        "instrument": instrument,
        "bucket": bucket,
    }
    account = LedgerAccount.objects.filter(**lookup).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return LedgerAccount.objects.create(**lookup)
    except IntegrityError:
        return LedgerAccount.objects.get(**lookup)


def house_account(kind: str, currency: str) -> LedgerAccount:
    """A house cash account, e.g. ``house_account(HouseAccount.BANK, "USD")``."""
    return ledger_account_get(house=kind, currency=currency, bucket=Bucket.SETTLED)


def client_cash_account(account: TradingAccount, currency: str, bucket: str) -> LedgerAccount:
    return ledger_account_get(owner=account, currency=currency, bucket=bucket)


# --- Journal entries ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """One journal entry to post: ``postings`` are (LedgerAccount, signed amount) pairs that
    sum to zero per asset. ``actor`` defaults to the user of the audit context."""

    kind: str
    postings: Sequence[tuple[LedgerAccount, Decimal]]
    memo: str = ""
    idempotency_key: str | None = None
    reference: str = ""
    actor: Any = None
    reverses: JournalEntry | None = None


@dataclass(slots=True)
class _Prepared:
    spec: EntrySpec
    # (account, its id, amount to 8 places, the amount as stored: chain.amount_text)
    lines: list[tuple[LedgerAccount, int, Decimal, str]]
    actor_id: int | None
    reverses_id: int | None


def _actor_id(actor: Any) -> int | None:
    if actor is None:
        actor = context.current().actor
    if actor is not None and getattr(actor, "is_authenticated", False) and actor.pk:
        return actor.pk
    return None


def _prepare(spec: EntrySpec, index: int, units: dict[str | None, Decimal]) -> _Prepared:
    """Check one entry; ``units`` caches each currency's minor unit across a batch."""
    where = {"entry": str(index)}
    if not isinstance(spec.kind, str) or not _KIND.match(spec.kind):
        raise invalid("An entry kind is a short snake_case word.", kind=repr(spec.kind), **where)
    if len(spec.reference) > 128 or (spec.idempotency_key and len(spec.idempotency_key) > 255):
        raise invalid("Reference or idempotency key too long.", **where)
    if len(spec.postings) < 2:
        raise invalid("An entry needs at least two postings.", **where)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    lines = []
    for account, raw_amount in spec.postings:
        account_id = account.pk if isinstance(account, LedgerAccount) else None
        if account_id is None:
            raise invalid("Postings name saved ledger accounts.", **where)
        amount = raw_amount if type(raw_amount) is Decimal else to_decimal(raw_amount)
        if not amount or not amount.is_finite() or abs(amount) >= _MAX_AMOUNT:
            raise invalid(
                "A posting is a non-zero amount.", ledger_account=str(account_id), **where
            )
        currency = account.currency
        unit = units.get(currency)
        if unit is None:
            unit = units[currency] = minor_unit(currency) if currency else _QUANTUM
        if amount != amount.quantize(unit):
            raise invalid(
                f"{account.asset} amounts are in steps of {unit.normalize():f}.",
                ledger_account=str(account_id),
                amount=f"{amount:f}",
                **where,
            )
        amount = amount.quantize(_QUANTUM)
        totals[currency or f"instrument:{account.instrument_id}"] += amount
        lines.append((account, account_id, amount, f"{amount:f}"))
    unbalanced = {asset: f"{total:f}" for asset, total in totals.items() if total != 0}
    if unbalanced:
        raise invalid("The postings don't sum to zero per asset.", **unbalanced, **where)
    reverses_id = spec.reverses.pk if spec.reverses is not None else None
    return _Prepared(
        spec=spec, lines=lines, actor_id=_actor_id(spec.actor), reverses_id=reverses_id
    )


def _shortfall(account: LedgerAccount, balance: Decimal, amount: Decimal, index: int) -> None:
    cash = account.currency is not None
    code = LedgerErrorCode.INSUFFICIENT_FUNDS if cash else LedgerErrorCode.INSUFFICIENT_POSITION
    available = f"{balance.quantize(minor_unit(account.currency)):f}" if cash else f"{balance:f}"
    needed = -amount
    needed_text = f"{needed.quantize(minor_unit(account.currency)):f}" if cash else f"{needed:f}"
    raise ApplicationError(
        code,
        f"Not enough {account.asset} in {account.bucket}: {available} available, "
        f"{needed_text} needed.",
        {
            "ledger_account": account.pk,
            "asset": account.asset,
            "bucket": account.bucket,
            "available": available,
            "needed": needed_text,
            "entry": index,
        },
    )


_WRITE_SQL = """
WITH chain AS MATERIALIZED (
    SELECT * FROM ledger_chain_append(%s::text[], %s::bigint[])
), head AS MATERIALIZED (
    SELECT entry_created_at AS at, late_ids, late_balances FROM chain LIMIT 1
), late AS MATERIALIZED (
    SELECT l.id, l.balance FROM head, unnest(head.late_ids, head.late_balances) AS l(id, balance)
), p AS MATERIALIZED (
    SELECT p.*, sum(p.amount) OVER (PARTITION BY p.account_id ORDER BY p.position) AS running
    FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[], %s::numeric[])
        WITH ORDINALITY AS p(entry_position, account_id, amount, balance_after, position)
), new_entries AS (
    INSERT INTO ledger_journalentry (id, sequence, kind, memo, reference, idempotency_key,
        actor_id, correlation_id, reverses_id, created_at, prev_hash, hash)
    SELECT c.entry_id, c.entry_sequence, v.kind, v.memo, v.reference, v.idempotency_key,
        v.actor_id, %s::varchar, v.reverses_id, c.entry_created_at, c.entry_prev_hash,
        c.entry_hash
    FROM unnest(%s::varchar[], %s::text[], %s::varchar[], %s::varchar[], %s::bigint[],
            %s::bigint[])
        WITH ORDINALITY AS v(kind, memo, reference, idempotency_key, actor_id, reverses_id,
            position)
    JOIN chain c ON c.entry_position = v.position
    ORDER BY v.position
), new_postings AS (
    INSERT INTO ledger_posting (entry_id, ledger_account_id, amount, balance_after, created_at)
    SELECT c.entry_id, p.account_id, p.amount, coalesce(p.balance_after, l.balance + p.running),
        c.entry_created_at
    FROM p
    JOIN chain c ON c.entry_position = p.entry_position
    LEFT JOIN late l ON l.id = p.account_id
    ORDER BY p.position
), late_totals AS (
    SELECT account_id, sum(amount) AS total FROM p WHERE balance_after IS NULL GROUP BY account_id
), late_update AS (
    UPDATE ledger_ledgeraccount AS a SET balance = l.balance + t.total, updated_at = head.at
    FROM late l JOIN late_totals t ON t.account_id = l.id, head
    WHERE a.id = l.id
), early_update AS (
    UPDATE ledger_ledgeraccount AS a SET balance = b.balance, updated_at = head.at
    FROM unnest(%s::bigint[], %s::numeric[]) AS b(id, balance), head
    WHERE a.id = b.id
)
SELECT entry_id, entry_sequence, entry_prev_hash, entry_hash, entry_created_at
FROM chain ORDER BY entry_position
"""


def _array(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal of numbers (None as NULL), built once instead of having the
    driver adapt each element: the batch path writes tens of thousands of them."""
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def _text_array(values: Iterable[str | None]) -> str:
    """A PostgreSQL array literal of strings, quoted and escaped (None as NULL)."""
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in values
        )
        + "}"
    )


# The columns of a written entry, in the order _write hands them to JournalEntry.from_db.
_ENTRY_FIELDS = [
    "id",
    "sequence",
    "kind",
    "memo",
    "reference",
    "idempotency_key",
    "actor_id",
    "correlation_id",
    "reverses_id",
    "created_at",
    "prev_hash",
    "hash",
]


def _write(prepared: list[_Prepared]) -> list[JournalEntry]:
    """Lock, compute running balances, chain and write ``prepared`` (already validated).

    Client accounts that any posting of the call debits are locked here, first, because their
    balances decide overdrafts ("early" accounts; Python computes their running balances).
    Every other account (house accounts, and client accounts when the call debits none, as a
    deposit) is locked inside the write statement, after the early ones, then the chain's
    head: they are held only for that statement and the commit, and the database computes
    their running balances. Each transaction thus locks clients, then house accounts, each by
    id, then the head: one fixed order.
    """
    accounts: dict[int, LedgerAccount] = {}
    debited: set[int] = set()
    for item in prepared:
        for account, account_id, amount, _ in item.lines:
            accounts.setdefault(account_id, account)
            if amount < 0 and account.owner_id is not None:
                debited.add(account_id)
    early = {pk: a for pk, a in accounts.items() if a.owner_id is not None} if debited else {}
    late = sorted(set(accounts) - set(early))
    balances = ledger_accounts_lock(early) if early else {}
    missing = set(early) - set(balances)
    if missing:
        raise invalid("Unknown ledger accounts.", ledger_accounts=sorted(str(m) for m in missing))
    correlation_id = context.correlation_id()

    posting_entries: list[int] = []
    posting_accounts: list[int] = []
    posting_amounts: list[str] = []
    posting_balances: list[str | None] = []
    digests: list[str] = []
    for index, item in enumerate(prepared):
        for account, account_id, amount, amount_text in item.lines:
            if account_id in balances:
                balance = balances[account_id] + amount
                if balance < 0:
                    _shortfall(account, balances[account_id], amount, index)
                balances[account_id] = balance
                # Both terms have 8 decimal places, so the sum prints as chain.amount_text.
                posting_balances.append(f"{balance:f}")
            else:
                posting_balances.append(None)
            posting_entries.append(index + 1)
            posting_accounts.append(account_id)
            posting_amounts.append(amount_text)
        spec = item.spec
        digests.append(
            chain.content_digest(
                kind=spec.kind,
                memo=spec.memo,
                reference=spec.reference,
                idempotency_key=spec.idempotency_key,
                actor_id=item.actor_id,
                correlation_id=correlation_id,
                reverses_id=item.reverses_id,
                postings=[(account_id, text) for _, account_id, _, text in item.lines],
            )
        )

    specs = [item.spec for item in prepared]
    with posting_cursor() as cursor:
        cursor.execute(
            _WRITE_SQL,
            [
                _text_array(digests),
                _array(late),
                _array(posting_entries),
                _array(posting_accounts),
                _array(posting_amounts),
                _array(posting_balances),
                correlation_id,
                _text_array([spec.kind for spec in specs]),
                _text_array([spec.memo for spec in specs]),
                _text_array([spec.reference for spec in specs]),
                _text_array([spec.idempotency_key for spec in specs]),
                _array(item.actor_id for item in prepared),
                _array(item.reverses_id for item in prepared),
                _array(balances),
                _array(chain.amount_text(b) for b in balances.values()),
            ],
            # One entry: a prepared plan, made once per connection. A batch: planned for its size.
            prepare=len(prepared) == 1,
        )
        rows = cursor.fetchall()

    alias = connection.alias
    return [
        _entry_from_row(
            alias,
            (
                pk,
                sequence,
                item.spec.kind,
                item.spec.memo,
                item.spec.reference,
                item.spec.idempotency_key,
                item.actor_id,
                correlation_id,
                item.reverses_id,
                created_at,
                prev_hash,
                digest,
            ),
        )
        for item, (pk, sequence, prev_hash, digest, created_at) in zip(prepared, rows, strict=True)
    ]


def _entry_from_row(alias: str, values: tuple) -> JournalEntry:
    """A JournalEntry for a row just written, as ``Model.from_db`` would give it, without the
    per-field work of ``Model.__init__`` (it shows at tens of thousands of entries a second;
    entries have no init signals or defaults to apply)."""
    entry = JournalEntry.__new__(JournalEntry)
    entry.__dict__.update(zip(_ENTRY_FIELDS, values, strict=True))
    entry._state = ModelState()
    entry._state.adding = False
    entry._state.db = alias
    return entry


def _existing_by_key(keys: Iterable[str]) -> dict[str, JournalEntry]:
    return {e.idempotency_key: e for e in JournalEntry.objects.filter(idempotency_key__in=keys)}


def _check_replay(item: _Prepared, entry: JournalEntry) -> None:
    """Posting a key again must describe the same entry; otherwise it's a conflict."""
    stored = sorted(
        (pk, amount) for pk, amount in entry.postings.values_list("ledger_account_id", "amount")
    )
    asked = sorted((account_id, amount) for _, account_id, amount, _ in item.lines)
    if entry.kind != item.spec.kind or stored != asked:
        raise ApplicationError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was already used for a different journal entry.",
            {"idempotency_key": item.spec.idempotency_key, "entry": entry.pk},
        )


def _post_prepared(prepared: list[_Prepared]) -> list[JournalEntry]:
    keys = [item.spec.idempotency_key for item in prepared if item.spec.idempotency_key]
    existing = _existing_by_key(keys) if keys else {}
    result: list[JournalEntry | None] = [None] * len(prepared)
    to_write: list[tuple[int, _Prepared]] = []
    first_with_key: dict[str, int] = {}
    for index, item in enumerate(prepared):
        key = item.spec.idempotency_key
        if key and key in existing:
            _check_replay(item, existing[key])
            result[index] = existing[key]
        elif key and key in first_with_key:
            continue  # the same key twice in one batch: both get the first entry
        else:
            if key:
                first_with_key[key] = index
            to_write.append((index, item))
    if to_write:
        written = _write([item for _, item in to_write])
        for (index, _), entry in zip(to_write, written, strict=True):
            result[index] = entry
    for index, item in enumerate(prepared):
        if result[index] is None:
            result[index] = result[first_with_key[item.spec.idempotency_key]]
    return result  # type: ignore[return-value]


def _is_key_clash(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == "ledger_entry_idempotency_key"


def journal_post_batch(*, entries: Sequence[EntrySpec]) -> list[JournalEntry]:
    """Post many entries in one transaction with bulk writes; returns them in order.

    All or nothing: one entry that is invalid or would overdraw a client bucket refuses the
    batch (``details.entry`` is its index). Entries whose idempotency key was posted before
    are returned as they were and move nothing. Callable inside the caller's transaction.
    """
    if not entries:
        return []
    units: dict[str | None, Decimal] = {}
    prepared = [_prepare(spec, index, units) for index, spec in enumerate(entries)]
    try:
        with transaction.atomic():
            return _post_prepared(prepared)
    except IntegrityError as exc:
        if not _is_key_clash(exc):
            raise
    # A concurrent caller posted one of the keys between our check and our write: replay.
    with transaction.atomic():
        return _post_prepared(prepared)


def journal_post(
    *,
    kind: str,
    postings: Sequence[tuple[LedgerAccount, Decimal]],
    memo: str = "",
    actor: Any = None,
    idempotency_key: str | None = None,
    reverses: JournalEntry | None = None,
    reference: str = "",
) -> JournalEntry:
    """Post one balanced entry (see the module docstring); returns it.

    Raises ``invalid`` (unbalanced, zero, too precise, fewer than two postings),
    ``insufficient_funds`` / ``insufficient_position`` (a client bucket would go negative),
    ``idempotency_conflict`` (the key names a different entry). Callable inside the caller's
    transaction (it uses a savepoint) or on its own.
    """
    spec = EntrySpec(
        kind=kind,
        postings=tuple(postings),
        memo=memo,
        idempotency_key=idempotency_key,
        reference=reference,
        actor=actor,
        reverses=reverses,
    )
    return journal_post_batch(entries=[spec])[0]


def journal_reverse(
    *,
    entry: JournalEntry,
    actor: Any,
    reason: str,
    idempotency_key: str | None = None,
    enforce_permission: bool = False,
) -> JournalEntry:
    """Post the reversing entry of ``entry`` (every posting negated), linked to it.

    An entry is reversed at most once: ``invalid_state`` if it already was (unless the same
    idempotency key asks again, which returns the first reversal). A reversal that would
    overdraw a client bucket is ``insufficient_funds``.
    """
    _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "ledger.reverse_journalentry", "reverse journal entries")
    key = idempotency_key or f"reversal:{entry.pk}"
    previous = JournalEntry.objects.filter(reverses=entry).first()
    if previous is not None:
        if previous.idempotency_key == key:
            return previous
        raise invalid_state("This entry has already been reversed.", reversal=previous.pk)
    lines = list(Posting.objects.filter(entry=entry).select_related("ledger_account"))
    try:
        return journal_post(
            kind=JournalKind.REVERSAL,
            postings=[(line.ledger_account, -line.amount) for line in lines],
            memo=reason.strip(),
            actor=actor,
            idempotency_key=key,
            reverses=entry,
            reference=entry.reference,
        )
    except IntegrityError as exc:  # reversed concurrently under another key
        raise invalid_state("This entry has already been reversed.") from exc


# --- Reconciliation -------------------------------------------------------------------------


def ledger_verify(
    *, trigger: str = ReconciliationTrigger.COMMAND, actor: Any = None, reason: str = ""
) -> ReconciliationRun:
    """Check the whole ledger (apps.ledger.selectors.ledger_integrity) and record the result
    for staff. Staff runs need ``ledger.run_reconciliation``."""
    from apps.ledger.selectors import ledger_integrity

    if trigger == ReconciliationTrigger.STAFF:
        _require_reason(reason)
        _require_perm(actor, "ledger.run_reconciliation", "run the ledger check")
    started = timezone.now()
    report = ledger_integrity()
    run = ReconciliationRun.objects.create(
        trigger=trigger,
        requested_by=actor if getattr(actor, "pk", None) else None,
        reason=reason.strip(),
        started_at=started,
        finished_at=timezone.now(),
        ok=report.ok,
        entries_checked=report.entries,
        postings_checked=report.postings,
        accounts_checked=report.accounts,
        problem_count=report.problem_count,
        problems=report.problems,
    )
    if not report.ok:
        logger.error(
            "Ledger check found %s problem(s): %s", report.problem_count, report.problems[:5]
        )
    return run


# --- Shared checks --------------------------------------------------------------------------


def _require_reason(reason: str | None) -> str:
    if not reason or not str(reason).strip():
        raise invalid("A reason is required.", reason="This field is required.")
    return str(reason).strip()


def _require_perm(actor: Any, perm: str, doing: str) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise permission_denied(f"Only staff may {doing}.")
    if not actor.has_perm(perm):
        raise permission_denied(f"Your role may not {doing}.")


def _locked(model: type, pk: int) -> Any:
    try:
        return model.objects.select_for_update().get(pk=pk)
    except model.DoesNotExist as exc:
        raise not_found() from exc


def _refuse(obj: Any, action: str) -> None:
    noun = type(obj).__name__.lower()
    raise invalid_state(
        f"A {noun} that is {obj.status.replace('_', ' ')} can't be {action}.",
        status=obj.status,
        action=action,
    )


# --- Deposits -------------------------------------------------------------------------------


def _resolve_deposit_account(reference: str, currency: str) -> tuple[TradingAccount | None, str]:
    number = references.account_number_from(reference)
    account = TradingAccount.objects.filter(number=number).first() if number else None
    if account is None:
        return None, SuspenseReason.UNKNOWN_REFERENCE
    if account.status not in (AccountStatus.PENDING, AccountStatus.ACTIVE):
        return None, SuspenseReason.ACCOUNT_NOT_OPEN
    if account.currency != currency:
        return None, SuspenseReason.CURRENCY_MISMATCH
    return account, ""


def bank_credit_receive(
    *,
    bank_transaction_id: str,
    reference: str,
    amount: Any,
    currency: str,
    payload: dict | None = None,
) -> tuple[Deposit, bool]:
    """Record money the bank received, exactly once per ``bank_transaction_id``.

    Credits the settled cash of the pending or active account whose deposit reference it
    quotes; anything else (unknown or mistyped reference, account not open, other currency)
    goes to the suspense account for staff. Returns (deposit, created); a repeat returns the
    first deposit with created False, and a repeat with different content is ``conflict``.
    """
    currency = currency_code(currency)
    amount = cash_amount(amount, currency)
    bank_transaction_id = str(bank_transaction_id or "").strip()
    if not bank_transaction_id or len(bank_transaction_id) > 100:
        raise invalid("A bank transaction id is required.", bank_transaction_id="1-100 characters.")
    reference = str(reference or "").strip()[:140]
    with transaction.atomic():
        try:
            with transaction.atomic():
                deposit = Deposit(
                    bank_transaction_id=bank_transaction_id,
                    reference=reference,
                    amount=amount,
                    currency=currency,
                    payload=payload or {},
                )
                stamp(deposit, reason="Received from the bank")
                deposit.save()
        except IntegrityError:
            first = Deposit.objects.get(bank_transaction_id=bank_transaction_id)
            if first.amount != amount or first.currency != currency or first.reference != reference:
                raise ApplicationError(
                    LedgerErrorCode.CONFLICT,
                    "This bank transaction id was already received with different details.",
                    {"bank_transaction_id": bank_transaction_id, "deposit": first.pk},
                ) from None
            return first, False

        account, suspense_reason = _resolve_deposit_account(reference, currency)
        bank = house_account(HouseAccount.BANK, currency)
        if account is not None:
            journal_post(
                kind=JournalKind.DEPOSIT,
                postings=[
                    (client_cash_account(account, currency, Bucket.SETTLED), amount),
                    (bank, -amount),
                ],
                memo=f"Bank transfer {bank_transaction_id}",
                idempotency_key=f"deposit:{deposit.pk}:credit",
                reference=deposit.ledger_reference,
            )
            deposit.credit()
            deposit.account = account
            deposit.resolved_at = timezone.now()
            stamp(deposit, reason=f"Credited to {account.number}")
        else:
            why = SuspenseReason(suspense_reason).label
            journal_post(
                kind=JournalKind.DEPOSIT_SUSPENSE,
                postings=[
                    (house_account(HouseAccount.SUSPENSE, currency), amount),
                    (bank, -amount),
                ],
                memo=f"Bank transfer {bank_transaction_id}: {why}",
                idempotency_key=f"deposit:{deposit.pk}:suspense",
                reference=deposit.ledger_reference,
            )
            deposit.hold_in_suspense()
            deposit.suspense_reason = suspense_reason
            stamp(deposit, reason=f"Held in suspense: {why}")
        deposit.save()
        if deposit.status == DepositStatus.CREDITED:
            deposit_credited.send(sender=Deposit, deposit=deposit)
    return deposit, True


def deposit_assign(
    *,
    deposit: Deposit,
    account: TradingAccount,
    actor: Any,
    reason: str,
    enforce_permission: bool = True,
) -> Deposit:
    """Move a deposit held in suspense to the right trading account's settled cash.

    The account must be pending or active and in the deposit's currency.
    """
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "ledger.assign_deposit", "assign deposits")
    with transaction.atomic():
        deposit = _locked(Deposit, deposit.pk)
        if deposit.status != DepositStatus.IN_SUSPENSE:
            _refuse(deposit, "assigned")
        account = TradingAccount.objects.get(pk=account.pk)
        if account.status not in (AccountStatus.PENDING, AccountStatus.ACTIVE):
            raise invalid_state(
                f"Account {account.number} is {account.status}; deposits credit pending or "
                "active accounts only.",
                account_status=account.status,
            )
        if account.currency != deposit.currency:
            raise invalid(
                f"Account {account.number} holds {account.currency}, not {deposit.currency}.",
                account="Currency differs from the deposit's.",
            )
        journal_post(
            kind=JournalKind.DEPOSIT_ASSIGN,
            postings=[
                (house_account(HouseAccount.SUSPENSE, deposit.currency), -deposit.amount),
                (client_cash_account(account, deposit.currency, Bucket.SETTLED), deposit.amount),
            ],
            memo=f"Suspense deposit {deposit.bank_transaction_id} assigned: {reason}",
            actor=actor,
            idempotency_key=f"deposit:{deposit.pk}:assign",
            reference=deposit.ledger_reference,
        )
        deposit.assign()
        deposit.account = account
        deposit.resolved_at = timezone.now()
        deposit.resolved_by = actor
        deposit.status_reason = reason
        stamp(deposit, actor=actor, reason=reason)
        deposit.save()
        deposit_credited.send(sender=Deposit, deposit=deposit)
    return deposit


def deposit_return(
    *, deposit: Deposit, actor: Any, reason: str, enforce_permission: bool = True
) -> Deposit:
    """Send a deposit held in suspense back to its payer through the bank adapter."""
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "ledger.assign_deposit", "return deposits")
    with transaction.atomic():
        deposit = _locked(Deposit, deposit.pk)
        if deposit.status != DepositStatus.IN_SUSPENSE:
            _refuse(deposit, "returned")
        journal_post(
            kind=JournalKind.DEPOSIT_RETURN,
            postings=[
                (house_account(HouseAccount.SUSPENSE, deposit.currency), -deposit.amount),
                (house_account(HouseAccount.BANK, deposit.currency), deposit.amount),
            ],
            memo=f"Suspense deposit {deposit.bank_transaction_id} returned: {reason}",
            actor=actor,
            idempotency_key=f"deposit:{deposit.pk}:return",
            reference=deposit.ledger_reference,
        )
        deposit.return_to_sender()
        deposit.resolved_at = timezone.now()
        deposit.resolved_by = actor
        deposit.status_reason = reason
        stamp(deposit, actor=actor, reason=reason)
        deposit.save()
        outbox_enqueue(task_name="apps.ledger.tasks.deposit_return_send", args=[deposit.pk])
    return deposit


def deposit_return_send(*, deposit_id: int) -> Deposit:
    """Instruct the bank to send a returned deposit back (idempotent: once per deposit)."""
    from apps.ledger.bank import bank_adapter

    deposit = Deposit.objects.get(pk=deposit_id)
    if deposit.status != DepositStatus.RETURNED or deposit.return_reference:
        return deposit
    bank_reference = bank_adapter().return_credit(
        bank_transaction_id=deposit.bank_transaction_id,
        amount=deposit.amount,
        currency=deposit.currency,
        reason=deposit.status_reason,
    )
    with transaction.atomic():
        deposit = _locked(Deposit, deposit.pk)
        if not deposit.return_reference:
            deposit.return_reference = bank_reference
            stamp(deposit, reason="Return sent to the bank")
            deposit.save(update_fields=["return_reference"])
    return deposit


# --- Withdrawals ----------------------------------------------------------------------------


def _withdrawal_currency(account: TradingAccount, currency: str | None) -> str:
    currency = currency_code(currency or account.currency)
    if currency != account.currency:
        raise invalid(
            f"Account {account.number} holds {account.currency}.",
            currency=f"Withdrawals from this account are in {account.currency}.",
        )
    return currency


def _four_eyes_threshold(currency: str) -> Decimal:
    thresholds = settings.WITHDRAWAL_FOUR_EYES_THRESHOLDS
    return Decimal(str(thresholds.get(currency, thresholds["*"])))


def _today_start() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def _kyc_withdrawal_limit_check(*, account: TradingAccount, amount: Decimal) -> None:
    """The owner's KYC tier limits what they may withdraw per day, all accounts together
    (``kyc_required`` without approved KYC, ``limit_exceeded`` above the tier's limit).
    Amounts in other currencies count at face value: tier limits are set in the base
    currency and Bourse keeps no exchange rates."""
    from apps.kyc.selectors import kyc_check_daily_limit

    used = Withdrawal.objects.filter(
        account__owner_id=account.owner_id,
        status__in=LIMITED_WITHDRAWAL_STATUSES,
        requested_at__gte=_today_start(),
    ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
    kyc_check_daily_limit(user=account.owner, kind="withdrawal", amount=amount, used_today=used)


def withdrawal_request(
    *,
    account: TradingAccount,
    amount: Any,
    actor: User,
    currency: str | None = None,
    otp_token: str | None = None,
    idempotency_key: str | None = None,
    destination: str = "",
) -> Withdrawal:
    """A client asks to be paid out: the amount moves from settled into reserved cash.

    Needs an active account owned by ``actor`` and, when the client has a device, a valid
    one-time password (``otp_required``). Refuses ``limit_exceeded`` above the per-request or
    daily limit (apps.ledger.selectors.withdrawal_limits) or the owner's KYC tier limit
    (``kyc_required`` without approved KYC), and ``insufficient_funds`` above the
    settled cash. The same idempotency key returns the first withdrawal.
    """
    from apps.ledger.selectors import withdrawal_limits

    if account.owner_id != actor.pk:
        raise not_found("No such account.")
    currency = _withdrawal_currency(account, currency)
    amount = cash_amount(amount, currency)
    if idempotency_key:
        first = Withdrawal.objects.filter(account=account, idempotency_key=idempotency_key).first()
        if first is not None:
            return first
    otp_verify(user=actor, otp_token=otp_token)
    try:
        with transaction.atomic():
            account = TradingAccount.objects.get(pk=account.pk)
            if account.status != AccountStatus.ACTIVE:
                raise invalid_state(
                    f"Withdrawals need an active account; {account.number} is {account.status}.",
                    account_status=account.status,
                )
            settled = client_cash_account(account, currency, Bucket.SETTLED)
            reserved = client_cash_account(account, currency, Bucket.RESERVED)
            # The KYC tier's daily limit is the person's, across all their accounts: their
            # user row serialises their withdrawals, so the limit holds under races.
            User.objects.select_for_update().filter(pk=account.owner_id).first()
            # Serialises this account's withdrawals, so its own daily limit holds under races.
            ledger_accounts_lock([settled.pk, reserved.pk])
            _kyc_withdrawal_limit_check(account=account, amount=amount)
            per_request, daily = withdrawal_limits(account=account)
            if per_request is not None and amount > per_request:
                raise ApplicationError(
                    LedgerErrorCode.LIMIT_EXCEEDED,
                    f"The most you can withdraw at once is {per_request:f} {currency}.",
                    {"limit": "per_request", "limit_amount": f"{per_request:f}"},
                )
            if daily is not None:
                used = Withdrawal.objects.filter(
                    account=account,
                    currency=currency,
                    status__in=LIMITED_WITHDRAWAL_STATUSES,
                    requested_at__gte=_today_start(),
                ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
                if used + amount > daily:
                    remaining = max(daily - used, Decimal("0")).quantize(minor_unit(currency))
                    raise ApplicationError(
                        LedgerErrorCode.LIMIT_EXCEEDED,
                        f"This would exceed your daily withdrawal limit of {daily:f} {currency}; "
                        f"{remaining:f} {currency} remain today.",
                        {
                            "limit": "daily",
                            "limit_amount": f"{daily:f}",
                            "remaining": f"{remaining:f}",
                        },
                    )
            withdrawal = Withdrawal(
                account=account,
                amount=amount,
                currency=currency,
                destination=str(destination or "").strip()[:64],
                requested_by=actor,
                idempotency_key=idempotency_key,
                approvals_required=2 if amount > _four_eyes_threshold(currency) else 1,
            )
            stamp(withdrawal, actor=actor, reason="Requested by the client")
            withdrawal.save()
            journal_post(
                kind=JournalKind.WITHDRAWAL_HOLD,
                postings=[(settled, -amount), (reserved, amount)],
                memo="Withdrawal requested",
                actor=actor,
                idempotency_key=f"withdrawal:{withdrawal.pk}:hold",
                reference=withdrawal.ledger_reference,
            )
    except IntegrityError:
        if idempotency_key:
            first = Withdrawal.objects.filter(account=account, idempotency_key=idempotency_key)
            if first.exists():
                return first.get()
        raise
    return withdrawal


def _release_hold(withdrawal: Withdrawal, actor: Any, why: str) -> None:
    journal_post(
        kind=JournalKind.WITHDRAWAL_RELEASE,
        postings=[
            (
                client_cash_account(withdrawal.account, withdrawal.currency, Bucket.RESERVED),
                -withdrawal.amount,
            ),
            (
                client_cash_account(withdrawal.account, withdrawal.currency, Bucket.SETTLED),
                withdrawal.amount,
            ),
        ],
        memo=f"Withdrawal {why}",
        actor=actor,
        idempotency_key=f"withdrawal:{withdrawal.pk}:release",
        reference=withdrawal.ledger_reference,
    )


def _close(withdrawal: Withdrawal, actor: Any, reason: str) -> None:
    withdrawal.closed_at = timezone.now()
    withdrawal.closed_by = actor if getattr(actor, "pk", None) else None
    withdrawal.status_reason = reason
    stamp(withdrawal, actor=actor, reason=reason)
    withdrawal.save()


def withdrawal_cancel(
    *, withdrawal: Withdrawal, actor: User, reason: str = "Cancelled by the client"
) -> Withdrawal:
    """The client withdraws a request not yet approved; the hold returns to settled cash."""
    with transaction.atomic():
        withdrawal = _locked(Withdrawal, withdrawal.pk)
        if withdrawal.account.owner_id != actor.pk:
            raise not_found("No such withdrawal.")
        if withdrawal.status != WithdrawalStatus.REQUESTED:
            _refuse(withdrawal, "cancelled")
        withdrawal.cancel()
        _release_hold(withdrawal, actor, "cancelled")
        _close(withdrawal, actor, reason.strip() or "Cancelled by the client")
    return withdrawal


def withdrawal_approve(
    *, withdrawal: Withdrawal, actor: User, reason: str, enforce_permission: bool = True
) -> Withdrawal:
    """Staff approve a requested withdrawal; approved ones go to the bank after commit.

    Above the four-eyes threshold (settings.WITHDRAWAL_FOUR_EYES_THRESHOLDS) the first approval
    is recorded and the withdrawal stays requested until a second, different staff member
    approves. Nobody approves a withdrawal they requested (``permission_denied``).
    """
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "ledger.approve_withdrawal", "approve withdrawals")
    with transaction.atomic():
        withdrawal = _locked(Withdrawal, withdrawal.pk)
        if withdrawal.status != WithdrawalStatus.REQUESTED:
            _refuse(withdrawal, "approved")
        if withdrawal.requested_by_id == actor.pk:
            raise permission_denied("You requested this withdrawal; someone else must approve it.")
        if withdrawal.approvals_required > 1 and withdrawal.first_approved_by_id is None:
            withdrawal.first_approved_by = actor
            withdrawal.first_approved_at = timezone.now()
            stamp(withdrawal, actor=actor, reason=f"First approval: {reason}")
            withdrawal.save()
            return withdrawal
        if withdrawal.first_approved_by_id == actor.pk:
            raise permission_denied(
                "You already approved this withdrawal; a second, different staff member must "
                "approve it (four-eyes)."
            )
        withdrawal.approve()
        withdrawal.approved_by = actor
        withdrawal.approved_at = timezone.now()
        withdrawal.status_reason = reason
        stamp(withdrawal, actor=actor, reason=reason)
        withdrawal.save()
        outbox_enqueue(task_name="apps.ledger.tasks.withdrawal_send", args=[withdrawal.pk])
    return withdrawal


def withdrawal_reject(
    *, withdrawal: Withdrawal, actor: User, reason: str, enforce_permission: bool = True
) -> Withdrawal:
    """Staff refuse a requested or approved (not yet sent) withdrawal; the hold is released."""
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "ledger.reject_withdrawal", "reject withdrawals")
    with transaction.atomic():
        withdrawal = _locked(Withdrawal, withdrawal.pk)
        if withdrawal.status not in (WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED):
            _refuse(withdrawal, "rejected")
        withdrawal.reject()
        _release_hold(withdrawal, actor, "rejected")
        _close(withdrawal, actor, reason)
    return withdrawal


def withdrawal_send(*, withdrawal_id: int) -> Withdrawal:
    """Hand an approved withdrawal to the bank (approved -> processing), once.

    The state change commits before the bank is called; the bank adapter dedupes on the payout
    id, so a retry after a crash never pays twice. A payout the bank refuses outright fails the
    withdrawal and releases the hold; a transient bank error propagates so the task retries.
    """
    from apps.ledger.bank import BankRefused, PayoutInstruction, bank_adapter

    with transaction.atomic():
        withdrawal = _locked(Withdrawal, withdrawal_id)
        if withdrawal.status == WithdrawalStatus.APPROVED:
            withdrawal.send()
            stamp(withdrawal, reason="Sent to the bank for payout")
            withdrawal.save()
    if withdrawal.status != WithdrawalStatus.PROCESSING or withdrawal.sent_at is not None:
        return withdrawal
    instruction = PayoutInstruction(
        payout_id=withdrawal.ledger_reference,
        amount=withdrawal.amount,
        currency=withdrawal.currency,
        destination=withdrawal.destination,
        reference=withdrawal.account.number,
    )
    try:
        receipt = bank_adapter().send_payout(instruction)
    except BankRefused as exc:
        return withdrawal_fail(
            withdrawal=withdrawal,
            actor=None,
            reason=f"Refused by the bank: {exc}",
            enforce_permission=False,
        )
    with transaction.atomic():
        withdrawal = _locked(Withdrawal, withdrawal_id)
        if withdrawal.sent_at is None:
            withdrawal.sent_at = timezone.now()
            withdrawal.bank_reference = withdrawal.bank_reference or receipt.bank_reference
            stamp(withdrawal, reason="Accepted by the bank")
            withdrawal.save()
    return withdrawal


def withdrawal_complete(
    *,
    withdrawal: Withdrawal,
    actor: Any,
    bank_reference: str = "",
    reason: str = "",
    enforce_permission: bool = True,
) -> Withdrawal:
    """The payout reached the client: the reserved cash leaves the firm (to house bank)."""
    if enforce_permission:
        _require_perm(actor, "ledger.complete_withdrawal", "complete withdrawals")
    with transaction.atomic():
        withdrawal = _locked(Withdrawal, withdrawal.pk)
        if withdrawal.status not in (WithdrawalStatus.APPROVED, WithdrawalStatus.PROCESSING):
            _refuse(withdrawal, "completed")
        withdrawal.complete()
        journal_post(
            kind=JournalKind.WITHDRAWAL_PAYOUT,
            postings=[
                (
                    client_cash_account(withdrawal.account, withdrawal.currency, Bucket.RESERVED),
                    -withdrawal.amount,
                ),
                (house_account(HouseAccount.BANK, withdrawal.currency), withdrawal.amount),
            ],
            memo="Withdrawal paid out",
            actor=actor,
            idempotency_key=f"withdrawal:{withdrawal.pk}:payout",
            reference=withdrawal.ledger_reference,
        )
        if bank_reference:
            withdrawal.bank_reference = str(bank_reference).strip()[:100]
        _close(withdrawal, actor, (reason or "").strip() or "Paid out")
    return withdrawal


def withdrawal_fail(
    *, withdrawal: Withdrawal, actor: Any, reason: str, enforce_permission: bool = True
) -> Withdrawal:
    """The payout failed: the hold returns to settled cash."""
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "ledger.complete_withdrawal", "fail withdrawals")
    with transaction.atomic():
        withdrawal = _locked(Withdrawal, withdrawal.pk)
        if withdrawal.status not in (WithdrawalStatus.APPROVED, WithdrawalStatus.PROCESSING):
            _refuse(withdrawal, "failed")
        withdrawal.fail()
        _release_hold(withdrawal, actor, "failed")
        _close(withdrawal, actor, reason)
    return withdrawal


def withdrawal_bank_report(
    *, payout_id: str, succeeded: bool, bank_reference: str = "", reason: str = ""
) -> Withdrawal:
    """The bank's word on a payout (webhook or simulated bank): complete or fail it.

    Idempotent: a report on a withdrawal already in that outcome changes nothing.
    """
    match = re.fullmatch(r"WD-(\d+)", str(payout_id or "").strip())
    withdrawal = Withdrawal.objects.filter(pk=int(match.group(1))).first() if match else None
    if withdrawal is None:
        raise not_found("No such payout.")
    target = WithdrawalStatus.COMPLETED if succeeded else WithdrawalStatus.FAILED
    if withdrawal.status == target:
        return withdrawal
    if succeeded:
        return withdrawal_complete(
            withdrawal=withdrawal,
            actor=None,
            bank_reference=bank_reference,
            reason="Paid out by the bank",
            enforce_permission=False,
        )
    return withdrawal_fail(
        withdrawal=withdrawal,
        actor=None,
        reason=f"Payout failed at the bank: {reason or 'no reason given'}",
        enforce_permission=False,
    )


# --- Manual adjustments ---------------------------------------------------------------------


def adjustment_request(
    *,
    account: TradingAccount,
    amount: Any,
    actor: User,
    reason: str,
    currency: str | None = None,
    idempotency_key: str | None = None,
    enforce_permission: bool = True,
) -> Adjustment:
    """Staff propose a credit (positive) or debit (negative) of a client's settled cash.

    Nothing moves until a different staff member approves (:func:`adjustment_approve`).
    """
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "ledger.add_adjustment", "request adjustments")
    currency = _withdrawal_currency(account, currency)
    amount = cash_amount(amount, currency, positive=False)
    if account.status == AccountStatus.CLOSED:
        raise invalid_state(f"Account {account.number} is closed.", account_status=account.status)
    if idempotency_key:
        first = Adjustment.objects.filter(
            requested_by=actor, idempotency_key=idempotency_key
        ).first()
        if first is not None:
            return first
    try:
        with transaction.atomic():
            adjustment = Adjustment(
                account=account,
                amount=amount,
                currency=currency,
                justification=reason,
                requested_by=actor,
                idempotency_key=idempotency_key,
            )
            stamp(adjustment, actor=actor, reason=reason)
            adjustment.save()
    except IntegrityError:
        if idempotency_key:
            return Adjustment.objects.get(requested_by=actor, idempotency_key=idempotency_key)
        raise
    return adjustment


def adjustment_approve(
    *, adjustment: Adjustment, actor: User, reason: str = "", enforce_permission: bool = True
) -> Adjustment:
    """A second staff member approves: the adjustment posts against house adjustments.

    The requester can't approve their own (``permission_denied``); a debit larger than the
    settled cash is ``insufficient_funds``.
    """
    if enforce_permission:
        _require_perm(actor, "ledger.approve_adjustment", "approve adjustments")
    with transaction.atomic():
        adjustment = _locked(Adjustment, adjustment.pk)
        if adjustment.status != AdjustmentStatus.PENDING_APPROVAL:
            _refuse(adjustment, "approved")
        if adjustment.requested_by_id == actor.pk:
            raise permission_denied(
                "You requested this adjustment; a different staff member must approve it."
            )
        journal_post(
            kind=JournalKind.ADJUSTMENT,
            postings=[
                (
                    client_cash_account(adjustment.account, adjustment.currency, Bucket.SETTLED),
                    adjustment.amount,
                ),
                (house_account(HouseAccount.ADJUSTMENTS, adjustment.currency), -adjustment.amount),
            ],
            memo=adjustment.justification,
            actor=actor,
            idempotency_key=f"adjustment:{adjustment.pk}",
            reference=adjustment.ledger_reference,
        )
        adjustment.apply()
        adjustment.decided_by = actor
        adjustment.decided_at = timezone.now()
        adjustment.decision_reason = (reason or "").strip() or "Approved"
        stamp(adjustment, actor=actor, reason=adjustment.decision_reason)
        adjustment.save()
    return adjustment


def adjustment_reject(
    *, adjustment: Adjustment, actor: User, reason: str, enforce_permission: bool = True
) -> Adjustment:
    """Refuse a pending adjustment (its requester may withdraw it this way too)."""
    reason = _require_reason(reason)
    if enforce_permission and actor.pk != adjustment.requested_by_id:
        _require_perm(actor, "ledger.approve_adjustment", "reject adjustments")
    with transaction.atomic():
        adjustment = _locked(Adjustment, adjustment.pk)
        if adjustment.status != AdjustmentStatus.PENDING_APPROVAL:
            _refuse(adjustment, "rejected")
        adjustment.reject()
        adjustment.decided_by = actor
        adjustment.decided_at = timezone.now()
        adjustment.decision_reason = reason
        stamp(adjustment, actor=actor, reason=reason)
        adjustment.save()
    return adjustment
