"""Reads of the ledger app: balances (now and at any past instant), withdrawal limits,
transaction history, funding queues, and the integrity check behind ``ledger_verify``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import TradingAccount, User
from apps.core.errors import invalid, not_found
from apps.instruments.models import Instrument
from apps.ledger import chain, references
from apps.ledger.choices import Bucket
from apps.ledger.models import (
    GENESIS_HASH,
    Adjustment,
    ChainHead,
    Deposit,
    LedgerAccount,
    Posting,
    ReconciliationRun,
    Withdrawal,
)
from apps.ledger.money import currency_code, minor_unit

ZERO = Decimal("0")

# --- Balances -------------------------------------------------------------------------------

_AS_OF_SQL = """
SELECT (
    SELECT p.balance_after FROM ledger_posting p
    WHERE p.ledger_account_id = %s AND p.created_at <= %s
    ORDER BY p.created_at DESC, p.id DESC
    LIMIT 1
)
"""

_BUCKETS_AS_OF_SQL = """
SELECT a.bucket, (
    SELECT p.balance_after FROM ledger_posting p
    WHERE p.ledger_account_id = a.id AND p.created_at <= %s
    ORDER BY p.created_at DESC, p.id DESC
    LIMIT 1
)
FROM ledger_ledgeraccount a
WHERE a.owner_id = %s AND {asset_column} = %s
"""


def balance_as_of(*, ledger_account: LedgerAccount, instant: datetime) -> Decimal:
    """The account's balance at ``instant``: the running balance of its last posting at or
    before it (one index lookup), zero before its first posting."""
    with connection.cursor() as cursor:
        cursor.execute(_AS_OF_SQL, [ledger_account.pk, instant])
        (value,) = cursor.fetchone()
    return value if value is not None else ZERO


def _bucket_balances(
    *, owner: TradingAccount, asset_column: str, asset: Any, as_of: datetime | None
) -> dict[str, Decimal]:
    if as_of is None:
        rows = LedgerAccount.objects.filter(owner=owner, **{asset_column: asset}).values_list(
            "bucket", "balance"
        )
        return dict(rows)
    column = "a.currency" if asset_column == "currency" else "a.instrument_id"
    with connection.cursor() as cursor:
        cursor.execute(_BUCKETS_AS_OF_SQL.format(asset_column=column), [as_of, owner.pk, asset])
        return {bucket: value if value is not None else ZERO for bucket, value in cursor.fetchall()}


@dataclass(frozen=True)
class CashBalances:
    """A trading account's cash in one currency. Reserved cash (open buy orders, pending
    withdrawals) is already out of settled; buying power is settled + unsettled and
    withdrawable is settled."""

    currency: str
    settled: Decimal
    unsettled: Decimal
    reserved: Decimal
    as_of: datetime

    @property
    def buying_power(self) -> Decimal:
        return self.settled + self.unsettled

    @property
    def withdrawable(self) -> Decimal:
        return self.settled

    @property
    def total(self) -> Decimal:
        return self.settled + self.unsettled + self.reserved


def cash_balances(
    *, account: TradingAccount, currency: str | None = None, as_of: datetime | None = None
) -> CashBalances:
    """Settled, unsettled and reserved cash (now, or at the instant ``as_of``)."""
    currency = currency_code(currency or account.currency)
    if as_of is not None and timezone.is_naive(as_of):
        raise invalid("as_of needs a time zone.", as_of="Give an ISO 8601 time with an offset.")
    values = _bucket_balances(owner=account, asset_column="currency", asset=currency, as_of=as_of)
    unit = minor_unit(currency)
    return CashBalances(
        currency=currency,
        settled=values.get(Bucket.SETTLED, ZERO).quantize(unit),
        unsettled=values.get(Bucket.UNSETTLED, ZERO).quantize(unit),
        reserved=values.get(Bucket.RESERVED, ZERO).quantize(unit),
        as_of=as_of or timezone.now(),
    )


@dataclass(frozen=True)
class SecurityBalances:
    """A trading account's holding of one instrument, by bucket (quantities)."""

    instrument: Instrument
    settled: Decimal
    unsettled: Decimal
    reserved: Decimal

    @property
    def available(self) -> Decimal:
        """What the client can sell now: settled and unsettled, reserved already out."""
        return self.settled + self.unsettled

    @property
    def total(self) -> Decimal:
        return self.settled + self.unsettled + self.reserved


def security_balances(
    *, account: TradingAccount, instrument: Instrument, as_of: datetime | None = None
) -> SecurityBalances:
    values = _bucket_balances(
        owner=account, asset_column="instrument_id", asset=instrument.pk, as_of=as_of
    )
    return SecurityBalances(
        instrument=instrument,
        settled=values.get(Bucket.SETTLED, ZERO),
        unsettled=values.get(Bucket.UNSETTLED, ZERO),
        reserved=values.get(Bucket.RESERVED, ZERO),
    )


def account_transactions(
    *, account: TradingAccount, currency: str | None = None, bucket: str = Bucket.SETTLED
) -> QuerySet[Posting]:
    """Postings on one cash bucket of the account, newest first, each with its entry and the
    running balance after it."""
    currency = currency_code(currency or account.currency)
    if bucket not in Bucket.values:
        raise invalid("Unknown bucket.", bucket=f"Choose one of {Bucket.values}.")
    ledger_account_id = (
        LedgerAccount.objects.filter(owner=account, currency=currency, bucket=bucket)
        .values_list("pk", flat=True)
        .first()
    )
    return (
        Posting.objects.filter(ledger_account_id=ledger_account_id)
        .select_related("entry", "ledger_account")
        .order_by("-created_at", "-id")
    )


# --- Funding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepositInstructions:
    account_number: str
    currency: str
    reference: str
    reference_display: str
    bank_name: str
    beneficiary: str
    iban: str
    bic: str


def deposit_instructions(*, account: TradingAccount) -> DepositInstructions:
    """How to fund the account by bank transfer; the reference must be quoted."""
    bank = settings.BANK_DEPOSIT_ACCOUNT
    reference = references.reference_for(account.number)
    return DepositInstructions(
        account_number=account.number,
        currency=account.currency,
        reference=reference,
        reference_display=references.display(reference),
        bank_name=bank["bank_name"],
        beneficiary=bank["beneficiary"],
        iban=bank["iban"],
        bic=bank["bic"],
    )


class WithdrawalLimits(NamedTuple):
    """Largest single withdrawal and largest total per day (None: no cap), in the account's
    currency."""

    per_request: Decimal | None
    daily: Decimal | None


def withdrawal_limits(*, account: TradingAccount) -> WithdrawalLimits:
    """The account's limits: its own overrides when set, else the defaults for its currency
    (settings.WITHDRAWAL_DEFAULT_LIMITS)."""
    defaults = settings.WITHDRAWAL_DEFAULT_LIMITS
    per_default, daily_default = defaults.get(account.currency, defaults["*"])
    per_request = account.per_withdrawal_limit
    daily = account.daily_withdrawal_limit
    return WithdrawalLimits(
        per_request=per_request if per_request is not None else _decimal_or_none(per_default),
        daily=daily if daily is not None else _decimal_or_none(daily_default),
    )


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def withdrawals_for(*, user: User, account: TradingAccount | None = None) -> QuerySet[Withdrawal]:
    qs = Withdrawal.objects.filter(account__owner=user).select_related("account")
    if account is not None:
        qs = qs.filter(account=account)
    return qs.order_by("-requested_at", "-id")


def withdrawal_for(*, user: User, pk: int | str) -> Withdrawal:
    """One of the user's own withdrawals; another's (or a missing) id is ``not_found``."""
    try:
        return withdrawals_for(user=user).get(pk=int(pk))
    except (Withdrawal.DoesNotExist, ValueError, TypeError) as exc:
        raise not_found("No such withdrawal.") from exc


def withdrawals_backoffice(*, status: str | None = None) -> QuerySet[Withdrawal]:
    qs = Withdrawal.objects.select_related(
        "account", "requested_by", "first_approved_by", "approved_by"
    ).order_by("-requested_at", "-id")
    return qs.filter(status=status) if status else qs


def withdrawal_backoffice(*, pk: int | str) -> Withdrawal:
    withdrawal = withdrawals_backoffice().filter(pk=pk).first()
    if withdrawal is None:
        raise not_found("No such withdrawal.")
    return withdrawal


def deposits_backoffice(*, status: str | None = None) -> QuerySet[Deposit]:
    qs = Deposit.objects.select_related("account", "resolved_by").order_by("-received_at", "-id")
    return qs.filter(status=status) if status else qs


def deposit_backoffice(*, pk: int | str) -> Deposit:
    deposit = deposits_backoffice().filter(pk=pk).first()
    if deposit is None:
        raise not_found("No such deposit.")
    return deposit


def adjustments_backoffice(*, status: str | None = None) -> QuerySet[Adjustment]:
    qs = Adjustment.objects.select_related("account", "requested_by", "decided_by").order_by(
        "-requested_at", "-id"
    )
    return qs.filter(status=status) if status else qs


def adjustment_backoffice(*, pk: int | str) -> Adjustment:
    adjustment = adjustments_backoffice().filter(pk=pk).first()
    if adjustment is None:
        raise not_found("No such adjustment.")
    return adjustment


def latest_reconciliation() -> ReconciliationRun | None:
    return ReconciliationRun.objects.order_by("-started_at").first()


# --- Integrity ------------------------------------------------------------------------------

MAX_PROBLEMS_PER_CHECK = 50
CHAIN_CHUNK = 5000


@dataclass
class IntegrityReport:
    entries: int = 0
    postings: int = 0
    accounts: int = 0
    problem_count: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, check: str, **detail: Any) -> None:
        self.problem_count += 1
        shown = sum(1 for p in self.problems if p["check"] == check)
        if shown < MAX_PROBLEMS_PER_CHECK:
            self.problems.append({"check": check, **{k: _plain(v) for k, v in detail.items()}})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


_UNBALANCED_SQL = """
SELECT p.entry_id, coalesce(a.currency, 'instrument:' || a.instrument_id::text), sum(p.amount)
FROM ledger_posting p JOIN ledger_ledgeraccount a ON a.id = p.ledger_account_id
GROUP BY 1, 2 HAVING sum(p.amount) <> 0
ORDER BY 1 LIMIT %s
"""

_TOO_FEW_POSTINGS_SQL = """
SELECT e.id, count(p.id) FROM ledger_journalentry e
LEFT JOIN ledger_posting p ON p.entry_id = e.id
GROUP BY e.id HAVING count(p.id) < 2
ORDER BY e.id LIMIT %s
"""

_ORPHAN_POSTINGS_SQL = """
SELECT p.id, p.entry_id, p.ledger_account_id FROM ledger_posting p
LEFT JOIN ledger_journalentry e ON e.id = p.entry_id
LEFT JOIN ledger_ledgeraccount a ON a.id = p.ledger_account_id
WHERE e.id IS NULL OR a.id IS NULL
ORDER BY p.id LIMIT %s
"""

_CACHED_BALANCE_SQL = """
SELECT a.id, a.balance, coalesce(s.total, 0)
FROM ledger_ledgeraccount a
LEFT JOIN (SELECT ledger_account_id, sum(amount) AS total FROM ledger_posting GROUP BY 1) s
    ON s.ledger_account_id = a.id
WHERE a.balance <> coalesce(s.total, 0)
ORDER BY a.id LIMIT %s
"""

_NEGATIVE_CLIENT_SQL = """
SELECT id, balance FROM ledger_ledgeraccount
WHERE owner_id IS NOT NULL AND balance < 0 ORDER BY id LIMIT %s
"""

_RUNNING_BALANCE_SQL = """
SELECT id, ledger_account_id, balance_after, running, created_at, previous_created_at
FROM (
    SELECT id, ledger_account_id, balance_after, created_at,
        sum(amount) OVER w AS running,
        lag(created_at) OVER w AS previous_created_at
    FROM ledger_posting
    WINDOW w AS (PARTITION BY ledger_account_id ORDER BY id)
) x
WHERE balance_after <> running OR created_at < previous_created_at
ORDER BY id LIMIT %s
"""

_ENTRIES_SQL = """
SELECT id, sequence, kind, created_at, memo, reference, idempotency_key, actor_id,
    correlation_id, reverses_id, prev_hash, hash
FROM ledger_journalentry WHERE sequence > %s ORDER BY sequence LIMIT %s
"""

_CHUNK_POSTINGS_SQL = """
SELECT entry_id, ledger_account_id, amount FROM ledger_posting WHERE entry_id = ANY(%s)
"""


def _chain_problems(cursor: Any, report: IntegrityReport) -> None:
    expected_prev, expected_sequence, last = GENESIS_HASH, 1, 0
    while True:
        cursor.execute(_ENTRIES_SQL, [last, CHAIN_CHUNK])
        rows = cursor.fetchall()
        if not rows:
            break
        cursor.execute(_CHUNK_POSTINGS_SQL, [[row[0] for row in rows]])
        lines: dict[int, list[tuple[int, Decimal]]] = {}
        for entry_id, account_id, amount in cursor.fetchall():
            lines.setdefault(entry_id, []).append((account_id, amount))
        for row in rows:
            (pk, sequence, kind, created_at, memo, reference, key, actor_id, correlation_id,
             reverses_id, prev_hash, stored_hash) = row  # fmt: skip
            report.entries += 1
            if sequence != expected_sequence:
                report.add("chain_gap", entry=pk, sequence=sequence, expected=expected_sequence)
            if prev_hash != expected_prev:
                report.add("chain_link", entry=pk, sequence=sequence)
            digest = chain.link_hash(
                prev_hash=prev_hash,
                sequence=sequence,
                created_at=created_at,
                digest=chain.content_digest(
                    kind=kind,
                    memo=memo,
                    reference=reference,
                    idempotency_key=key,
                    actor_id=actor_id,
                    correlation_id=correlation_id,
                    reverses_id=reverses_id,
                    postings=lines.get(pk, []),
                ),
            )
            if digest != stored_hash:
                report.add("entry_hash", entry=pk, sequence=sequence)
            expected_prev, expected_sequence, last = stored_hash, sequence + 1, sequence
    head = ChainHead.objects.filter(pk=1).first()
    head_sequence, head_hash = (head.last_sequence, head.last_hash) if head else (0, GENESIS_HASH)
    if (head_sequence, head_hash) != (last, expected_prev):
        report.add("chain_head", head_sequence=head_sequence, last_sequence=last)


def ledger_integrity() -> IntegrityReport:
    """Check the whole ledger on one consistent snapshot: every entry balances per asset and
    has two or more postings; every posting's entry and ledger account exist; every cached
    balance equals the sum of its postings; every
    running balance equals the running sum (and times never go backwards per account); no
    client bucket is negative; the hash chain is unbroken from the first entry to the head."""
    report = IntegrityReport()
    limit = MAX_PROBLEMS_PER_CHECK + 1
    own_transaction = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if own_transaction:  # one snapshot for every check, while postings carry on
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT count(*) FROM ledger_posting")
        report.postings = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM ledger_ledgeraccount")
        report.accounts = cursor.fetchone()[0]
        checks = [
            (_UNBALANCED_SQL, "unbalanced_entry", ("entry", "asset", "sum")),
            (_TOO_FEW_POSTINGS_SQL, "too_few_postings", ("entry", "postings")),
            (_ORPHAN_POSTINGS_SQL, "orphan_posting", ("posting", "entry", "ledger_account")),
            (_CACHED_BALANCE_SQL, "cached_balance", ("ledger_account", "cached", "postings_sum")),
            (_NEGATIVE_CLIENT_SQL, "negative_client_balance", ("ledger_account", "balance")),
            (
                _RUNNING_BALANCE_SQL,
                "running_balance",
                (
                    "posting",
                    "ledger_account",
                    "balance_after",
                    "running_sum",
                    "created_at",
                    "previous_created_at",
                ),
            ),
        ]
        for sql, check, names in checks:
            cursor.execute(sql, [limit])
            for row in cursor.fetchall():
                report.add(check, **dict(zip(names, row, strict=True)))
        _chain_problems(cursor, report)
    return report


def integrity_lines(report: IntegrityReport) -> Iterator[str]:
    """Human-readable lines of a report (the management command prints them)."""
    yield (
        f"Checked {report.entries} entries, {report.postings} postings, "
        f"{report.accounts} ledger accounts."
    )
    if report.ok:
        yield "OK: every entry balances, every balance matches its postings, the chain is intact."
        return
    yield f"FOUND {report.problem_count} PROBLEM(S):"
    for problem in report.problems:
        detail = ", ".join(f"{k}={v}" for k, v in problem.items() if k != "check")
        yield f"  {problem['check']}: {detail}"
