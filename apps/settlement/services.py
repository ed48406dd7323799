"""Writes of the settlement app: the instructions each fill creates, settlement runs, the
handling of fails, and Regulation T good-faith violations.

Settlement runs
---------------
:func:`settlement_run` settles every pending instruction due on or before a date (of one
calendar's instruments, or of all). It works through the accounts with something due in
chunks, each chunk one transaction that:

1. locks the chunk's due instructions, then the ledger buckets they touch (by id, as the
   ledger does), then (through apps.positions) the positions;
2. fails what cannot settle for a real reason: the trade was busted (its ledger entry was
   reversed), or the account's books hold fewer shares than its position (shares missing);
3. nets the rest per account, instrument and settlement date, and moves, per account and
   asset, ``max(0, unsettled balance - what outstanding instructions still claim)`` from the
   unsettled to the settled bucket, in one ledger batch posted as the chunk's last ledger
   step; positions' settled quantity follows.

The rule in step 3, for cash and shares alike: a client may spend unsettled sale proceeds (an
order hold takes settled cash first, then unsettled) and may sell bought shares before they
settle, so the unsettled bucket can hold less than the instructions due. Spending is taken to
consume the earliest proceeds: whatever the instructions settling later (and those failed)
still claim stays unsettled, and only the rest moves. The move never exceeds the balance, so
it never overdraws, and it only moves between two buckets of one owner, so it conserves cash
and shares. What was spent has already left the bucket; nothing more moves for it.

The same rule sweeps strays: unsettled balances no outstanding instruction claims (a hold
taken from unsettled proceeds and released after those proceeds settled) move to settled at
the next run. Withdrawable cash (the settled bucket) thus grows only when sale proceeds
settle. Purchases paid their cash at trade time; their shares move unsettled -> settled.

A run is idempotent and resumable: settled instructions are no longer pending, every entry
has an idempotency key derived from the instructions it settles, and each committed chunk
records its progress on the :class:`~apps.settlement.models.SettlementRun`. A run that died
(a crash, a lock timeout) is resumed by running the same date again.

Fails
-----
A failed instruction is aged daily (business days failing) and waits in the fails queue:
staff retry it (it settles if the reason is gone), buy it in (the firm delivers the missing
shares from custody, at its own cost, then it settles), or cancel it (nothing moves; a second
staff member must confirm).

Regulation T
------------
A cash account that sells a security bought with unsettled proceeds before those proceeds
settle commits a good-faith violation (:func:`gfv_detect`, run at the sale's fill by a
receiver of ``batch_committed`` and again by each run as a backstop). Three in twelve months
restrict the account to settled-cash purchases for 90 days through the account state machine;
:func:`gfv_restrictions_lift_due` reactivates it when the 90 days are over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.db.models.base import ModelState
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount
from apps.core.audit import history_attrs, stamp
from apps.core.errors import invalid, invalid_state, permission_denied
from apps.instruments.models import Instrument, TradingCalendar
from apps.instruments.selectors import schedule_for
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.lock_objects import ledger_accounts_lock
from apps.ledger.models import LedgerAccount
from apps.ledger.money import minor_unit
from apps.ledger.services import EntrySpec, journal_post_batch, ledger_account_get
from apps.settlement.choices import (
    FailCode,
    InstructionStatus,
    RunStatus,
    RunTrigger,
)
from apps.settlement.models import GoodFaithViolation, SettlementInstruction, SettlementRun

logger = logging.getLogger("bourse.settlement")

ZERO = Decimal(0)
# pg_advisory_lock(class, 0): one settlement run at a time (orders' book locks use 7301).
RUN_LOCK_CLASS = 7302
ENTRY_KIND = "settlement"
BUY_IN_KIND = "settlement_buy_in"


# --- Instructions from fills ----------------------------------------------------------------


def instructions_create(*, fills: Sequence[Any], currency: str) -> list[SettlementInstruction]:
    """One pending instruction per fill, in bulk, inside the matching batch's transaction.

    A buy receives the shares and pays the notional and its fee; a sell delivers the shares
    and receives the notional less its fee. Quantities and cash are signed from the account's
    side."""
    rows = []
    for fill in fills:
        buy = fill.side == "buy"
        rows.append(
            SettlementInstruction(
                trade_id=fill.trade_id,
                fill_id=fill.pk,
                account_id=fill.account_id,
                instrument_id=fill.instrument_id,
                side=fill.side,
                quantity=fill.quantity if buy else -fill.quantity,
                cash_amount=-(fill.notional + fill.fee) if buy else fill.notional - fill.fee,
                currency=currency,
                trade_date=fill.trade_date,
                settlement_date=fill.settlement_date,
            )
        )
    return SettlementInstruction.objects.bulk_create(rows)


# --- Settling a set of instructions ---------------------------------------------------------


class _Row:
    """A due instruction as a run reads it (lighter than a model instance: a run reads
    hundreds of thousands); failing ones are loaded as models to go through ``fail``."""

    FIELDS = (
        "pk",
        "trade_id",
        "account_id",
        "instrument_id",
        "side",
        "quantity",
        "cash_amount",
        "currency",
        "trade_date",
        "settlement_date",
        "status",
    )
    __slots__ = FIELDS

    def __init__(self, *values: Any) -> None:
        for name, value in zip(self.FIELDS, values, strict=True):
            setattr(self, name, value)


# Asset keys: ("c", "USD") for cash, ("i", 42) for an instrument.
AssetKey = tuple[str, Any]


def _cash_key(row: SettlementInstruction) -> AssetKey:
    return ("c", row.currency)


def _security_key(row: SettlementInstruction) -> AssetKey:
    return ("i", row.instrument_id)


@dataclass
class _Outcome:
    """What settling a set of instructions did."""

    settled: list[SettlementInstruction] = field(default_factory=list)
    failed: list[SettlementInstruction] = field(default_factory=list)
    groups: int = 0
    entries: int = 0
    cash_moved: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    securities_moved: dict[int, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    delivered: Decimal = ZERO


_BUSTED_SQL = """
SELECT t.id, t.status, r.id
FROM matching_trade t
LEFT JOIN ledger_journalentry r ON r.reverses_id = t.journal_entry_id
    AND NOT EXISTS (SELECT 1 FROM ledger_journalentry rr WHERE rr.reverses_id = r.id)
WHERE t.id = ANY(%s::bigint[]) AND (t.status <> 'active' OR r.id IS NOT NULL)
"""


def _busted(rows: Sequence[SettlementInstruction]) -> dict[int, str]:
    """Instructions whose trade no longer stands: busted or corrected, or its ledger entry
    reversed (and that reversal not itself reversed). Instruction id -> reason.

    One query returning only such trades (a run asks about thousands that stand)."""
    with connection.cursor() as cursor:
        cursor.execute(_BUSTED_SQL, [_ids(sorted({r.trade_id for r in rows}))])
        trades = {pk: (status, reversal) for pk, status, reversal in cursor.fetchall()}
    found = {}
    for row in rows:
        if row.trade_id not in trades:
            continue
        status, reversal = trades[row.trade_id]
        if status != "active":
            found[row.pk] = f"Trade {row.trade_id} is {status}: nothing to settle."
        else:
            found[row.pk] = (
                f"Trade {row.trade_id} was busted: its ledger entry was reversed "
                f"(entry {reversal})."
            )
    return found


class _Books:
    """The ledger buckets of a set of (account, asset) keys that exist, locked in id order,
    with their balances under the lock. A settled bucket missing is created when something
    is to move into it (the ledger locks it when it posts)."""

    def __init__(self, keys: set[tuple[int, AssetKey]], *, reserved_for: set) -> None:
        accounts = {a for a, _ in keys}
        currencies = {v for _, (kind, v) in keys if kind == "c"}
        instruments = {v for _, (kind, v) in keys if kind == "i"}
        self.ids: dict[tuple[int, AssetKey, str], int] = {}
        self.objects: dict[tuple[int, AssetKey, str], LedgerAccount] = {}
        found = (
            LedgerAccount.objects.filter(owner_id__in=accounts)
            .filter(Q(currency__in=currencies) | Q(instrument_id__in=instruments))
            .values_list("pk", "owner_id", "currency", "instrument_id", "bucket")
        )
        for pk, owner_id, currency, instrument_id, bucket in found:
            asset = ("c", currency) if currency else ("i", instrument_id)
            if (owner_id, asset) in keys:
                self.ids[(owner_id, asset, bucket)] = pk
        # Reserved share buckets are read (not written) to tell missing shares; lock them too
        # so the position and the books are read at one consistent point.
        wanted = [
            pk
            for (account_id, asset, bucket), pk in self.ids.items()
            if bucket != Bucket.RESERVED or (account_id, asset) in reserved_for
        ]
        self.balances = ledger_accounts_lock(wanted) if wanted else {}

    def balance(self, account_id: int, asset: AssetKey, bucket: str) -> Decimal:
        pk = self.ids.get((account_id, asset, bucket))
        return self.balances.get(pk, ZERO) if pk is not None else ZERO

    def bucket(self, account_id: int, asset: AssetKey, bucket: str) -> LedgerAccount:
        key = (account_id, asset, bucket)
        row = self.objects.get(key)
        if row is not None:
            return row
        pk = self.ids.get(key)
        if pk is None:
            row = _create_bucket(account_id, asset, bucket)
        else:
            # As the database row, without Model.__init__'s per-field work (a run posts to
            # tens of thousands of buckets); only what posting reads is set.
            row = LedgerAccount.__new__(LedgerAccount)
            row.__dict__.update(
                id=pk,
                owner_id=account_id,
                house=None,
                currency=asset[1] if asset[0] == "c" else None,
                instrument_id=asset[1] if asset[0] == "i" else None,
                bucket=bucket,
                balance=self.balances.get(pk, ZERO),
            )
            row._state = ModelState()
            row._state.adding = False
            row._state.db = connection.alias
        self.objects[key] = row
        return row

    def total(self, account_id: int, asset: AssetKey) -> Decimal:
        return sum(
            (self.balance(account_id, asset, b) for b in Bucket.values),
            ZERO,
        )


def _create_bucket(account_id: int, asset: AssetKey, bucket: str) -> LedgerAccount:
    owner = TradingAccount(pk=account_id)
    if asset[0] == "c":
        return ledger_account_get(owner=owner, currency=asset[1], bucket=bucket)
    return ledger_account_get(owner=owner, instrument=Instrument(pk=asset[1]), bucket=bucket)


def _ids(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of ids (one parameter, instead of one per id)."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


_CLAIMS_SQL = """
SELECT account_id, instrument_id, currency,
    coalesce(sum(quantity) FILTER (WHERE quantity > 0), 0),
    coalesce(sum(cash_amount) FILTER (WHERE cash_amount > 0), 0)
FROM settlement_settlementinstruction
WHERE account_id = ANY(%s::bigint[]) AND status IN ('pending', 'failed')
    AND NOT (id = ANY(%s::bigint[]))
GROUP BY 1, 2, 3
"""


def _claims(account_ids: Iterable[int], *, excluding: Iterable[int]) -> dict:
    """What outstanding instructions (pending or failed) other than ``excluding`` still claim
    from the accounts' unsettled buckets: shares to receive and proceeds to collect."""
    claims: dict[tuple[int, AssetKey], Decimal] = defaultdict(Decimal)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIMS_SQL, [_ids(sorted(set(account_ids))), _ids(sorted(set(excluding)))])
        for account_id, instrument_id, currency, shares, cash in cursor.fetchall():
            claims[(account_id, ("i", instrument_id))] += shares
            claims[(account_id, ("c", currency))] += cash
    return claims


def _move(unsettled: Decimal, claimed: Decimal, asset: AssetKey) -> Decimal:
    """What may move from unsettled to settled: the balance beyond what is still claimed."""
    move = max(ZERO, unsettled - claimed)
    if asset[0] == "c":
        move = move.quantize(minor_unit(asset[1]), rounding=ROUND_DOWN)
    return move


def _missing_shares(
    rows: Sequence[SettlementInstruction], books: _Books
) -> dict[tuple[int, int], Decimal]:
    """(account, instrument) -> how many shares the position counts that the books don't
    hold, for the keys of ``rows`` receiving shares."""
    from apps.positions.models import Position

    keys = {(r.account_id, r.instrument_id) for r in rows if r.quantity > 0}
    if not keys:
        return {}
    quantities = {
        (a, i): q
        for a, i, q in Position.objects.filter(
            account_id__in={a for a, _ in keys}, instrument_id__in={i for _, i in keys}
        ).values_list("account_id", "instrument_id", "quantity")
    }
    missing = {}
    for account_id, instrument_id in keys:
        short = quantities.get((account_id, instrument_id), ZERO) - books.total(
            account_id, ("i", instrument_id)
        )
        if short > 0:
            missing[(account_id, instrument_id)] = short
    return missing


def _settle(
    rows: Sequence[SettlementInstruction],
    *,
    run: SettlementRun | None,
    on: dt.date,
    key: str,
    now: dt.datetime,
    actor: Any = None,
    reason: str = "",
    buy_in: bool = False,
) -> _Outcome:
    """Settle ``rows`` (locked, pending or failed) inside the caller's transaction, failing
    those that cannot settle. ``key`` makes the idempotency keys of the entries.

    With ``buy_in`` the firm first delivers from custody the shares the books miss."""
    outcome = _Outcome()
    failing = {pk: (FailCode.TRADE_BUSTED, why) for pk, why in _busted(rows).items()}
    keys = {(r.account_id, _cash_key(r)) for r in rows} | {
        (r.account_id, _security_key(r)) for r in rows
    }
    receiving = {(r.account_id, _security_key(r)) for r in rows if r.quantity > 0}
    books = _Books(keys, reserved_for=receiving)
    deliveries: list[EntrySpec] = []
    extra: dict[tuple[int, AssetKey], Decimal] = defaultdict(Decimal)
    for (account_id, instrument_id), short in _missing_shares(rows, books).items():
        # Shares of a busted trade are missing for that reason: they don't fail the rest.
        short -= sum(
            (
                r.quantity
                for r in rows
                if r.pk in failing
                and r.quantity > 0
                and (r.account_id, r.instrument_id) == (account_id, instrument_id)
            ),
            ZERO,
        )
        if short <= 0:
            continue
        candidates = sorted(
            (
                r
                for r in rows
                if r.account_id == account_id
                and r.instrument_id == instrument_id
                and r.quantity > 0
                and r.pk not in failing
            ),
            key=lambda r: (r.trade_date, r.pk),
            reverse=True,
        )
        if buy_in:
            delivered = min(short, sum((r.quantity for r in candidates), ZERO))
            if delivered > 0:
                asset = ("i", instrument_id)
                custody = ledger_account_get(
                    house=HouseAccount.CUSTODY,
                    instrument=Instrument(pk=instrument_id),
                    bucket=Bucket.SETTLED,
                )
                deliveries.append(
                    EntrySpec(
                        kind=BUY_IN_KIND,
                        postings=[
                            (custody, -delivered),
                            (books.bucket(account_id, asset, Bucket.UNSETTLED), delivered),
                        ],
                        memo=f"Buy-in: {delivered:f} shares delivered by the firm",
                        reference=f"STL-BUYIN-{candidates[0].pk}",
                        idempotency_key=f"{key}:buy_in:{account_id}:{instrument_id}",
                        actor=actor,
                    )
                )
                extra[(account_id, asset)] += delivered
                outcome.delivered += delivered
            continue
        left = short
        for row in candidates:
            if left <= 0:
                break
            failing[row.pk] = (
                FailCode.SHARES_MISSING,
                f"The account's books hold {short:f} fewer shares than its position; "
                "the shares to deliver are not there.",
            )
            left -= row.quantity

    settle = [r for r in rows if r.pk not in failing]
    outcome.failed = [r for r in rows if r.pk in failing]
    entries: list[EntrySpec] = list(deliveries)
    if settle:
        claims = _claims({r.account_id for r in settle}, excluding=[r.pk for r in settle])
        by_account: dict[int, list[SettlementInstruction]] = defaultdict(list)
        for row in settle:
            by_account[row.account_id].append(row)
        for account_id, own in sorted(by_account.items()):
            postings = []
            assets = sorted({_cash_key(r) for r in own} | {_security_key(r) for r in own})
            for asset in assets:
                unsettled = books.balance(account_id, asset, Bucket.UNSETTLED)
                unsettled += extra.get((account_id, asset), ZERO)
                move = _move(unsettled, claims.get((account_id, asset), ZERO), asset)
                if not move:
                    continue
                postings.append((books.bucket(account_id, asset, Bucket.UNSETTLED), -move))
                postings.append((books.bucket(account_id, asset, Bucket.SETTLED), move))
                if asset[0] == "c":
                    outcome.cash_moved[asset[1]] += move
                else:
                    outcome.securities_moved[asset[1]] += move
            if postings:
                ids = ",".join(str(r.pk) for r in sorted(own, key=lambda r: r.pk))
                digest = hashlib.sha256(ids.encode()).hexdigest()[:32]
                dates = sorted({r.settlement_date for r in own})
                entries.append(
                    EntrySpec(
                        kind=ENTRY_KIND,
                        postings=postings,
                        memo=(
                            f"Settlement of {len(own)} instruction(s) due "
                            f"{', '.join(str(d) for d in dates)}"
                        ),
                        reference=f"STL-{on:%Y%m%d}",
                        idempotency_key=f"{key}:{account_id}:{digest}",
                        actor=actor,
                    )
                )
        outcome.groups = len({(r.account_id, r.instrument_id, r.settlement_date) for r in settle})

    # Positions' settled quantity follows what settles (a sale's shares left at trade time).
    quantities: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for row in settle:
        quantities[(row.account_id, row.instrument_id)] += row.quantity
    from apps.positions.services import positions_settle

    positions_settle(quantities={k: q for k, q in quantities.items() if q})

    if outcome.failed:
        if not all(isinstance(r, SettlementInstruction) for r in outcome.failed):
            models = SettlementInstruction.objects.in_bulk([r.pk for r in outcome.failed])
            outcome.failed = [models[r.pk] for r in outcome.failed]
        for row in outcome.failed:
            code, why = failing[row.pk]
            if row.status == InstructionStatus.PENDING:
                row.fail()
                row.failed_on = on
                row.days_failing = 0
            row.fail_code = code
            row.status_reason = why
            stamp(row, actor=actor, reason=why)
        bulk_update_with_history(
            outcome.failed,
            SettlementInstruction,
            ["status", "fail_code", "status_reason", "failed_on", "days_failing"],
            default_change_reason="settlement fail",
            custom_historical_attrs=history_attrs(),
        )
    if settle:
        _mark_settled(settle, run=run, now=now, actor=actor, reason=reason, buy_in=buy_in)
    outcome.settled = settle
    if entries:
        journal_post_batch(entries=entries)
        outcome.entries = len(entries)
    return outcome


_AUDIT_COLUMNS = {
    "history_id",
    "history_date",
    "history_type",
    "history_user_id",
    "history_change_reason",
    "ip_address",
    "user_agent",
    "correlation_id",
}


def _history_sql() -> str:
    """INSERT ... SELECT of one history row per instruction, as simple-history writes them
    (every tracked column as it now stands, with who, when, why and the request context)."""
    history = SettlementInstruction.history.model
    tracked = ", ".join(
        f.column for f in history._meta.concrete_fields if f.column not in _AUDIT_COLUMNS
    )
    # Table and column names come from the models, never from input.
    return (
        f"INSERT INTO {history._meta.db_table} ({tracked}, history_date, history_type, "  # noqa: S608
        "history_user_id, history_change_reason, ip_address, user_agent, correlation_id) "
        f"SELECT {tracked}, %s, '~', %s, %s, %s, %s, %s "
        f"FROM {SettlementInstruction._meta.db_table} WHERE id = ANY(%s::bigint[])"
    )


_SETTLE_SQL = """
UPDATE settlement_settlementinstruction
SET status = %s, settled_at = %s, run_id = %s
WHERE id = ANY(%s::bigint[]) AND status IN ('pending', 'failed')
"""


def _mark_settled(
    rows: Sequence[SettlementInstruction],
    *,
    run: SettlementRun | None,
    now: dt.datetime,
    actor: Any,
    reason: str,
    buy_in: bool,
) -> None:
    """pending/failed -> settled (or failed -> bought_in) for ``rows``, one history row each.

    Staff resolve one instruction at a time, through its transition. A run settles thousands:
    one UPDATE whose WHERE is the transition's source states (the rows are locked), and one
    INSERT ... SELECT for their history rows."""
    if actor is not None or buy_in:
        for row in rows:
            if buy_in:
                row.buy_in()
            else:
                row.settle()
            row.settled_at = now
            row.run = run
            if actor is not None:
                row.resolved_by = actor
                row.resolved_at = now
                row.status_reason = reason or row.status_reason
            stamp(row, actor=actor, reason=reason or "settled")
            row.save()
        return
    ids = _ids(r.pk for r in rows)
    ctx = history_attrs()
    with connection.cursor() as cursor:
        cursor.execute(_SETTLE_SQL, [InstructionStatus.SETTLED, now, run.pk if run else None, ids])
        if cursor.rowcount != len(rows):
            raise invalid_state("Instructions changed under the run; run the date again.")
        cursor.execute(
            _history_sql(),
            [
                now,
                None,
                reason or f"Settled by the settlement run of {run.run_date}",
                ctx["ip_address"],
                ctx["user_agent"] or "",
                ctx["correlation_id"] or "",
                ids,
            ],
        )


# --- Settlement runs ------------------------------------------------------------------------


@contextmanager
def _one_run_at_a_time() -> Iterator[None]:
    """A session lock held for the whole run (released if the process dies with its
    connection): a second run, of any date, is refused while one is going."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, 0)", [RUN_LOCK_CLASS])
        (locked,) = cursor.fetchone()
    if not locked:
        raise invalid_state("A settlement run is in progress; run the date again when it ends.")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [RUN_LOCK_CLASS])
        except Exception:  # the connection is gone: so is the lock
            logger.warning("could not release the settlement run lock", exc_info=True)


def _lock_timeout() -> None:
    """Wait at most SETTLEMENT_LOCK_TIMEOUT_MS for a row lock: a chunk blocked by a stuck
    transaction fails (and the run with it, to be resumed) instead of hanging."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)",
            [f"{int(settings.SETTLEMENT_LOCK_TIMEOUT_MS)}ms"],
        )


def _due(run_date: dt.date, calendar: TradingCalendar | None):
    qs = SettlementInstruction.objects.filter(
        status=InstructionStatus.PENDING, settlement_date__lte=run_date
    )
    if calendar is not None:
        qs = qs.filter(instrument__calendar=calendar)
    return qs


def _batched(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _run_open(
    *,
    run_date: dt.date,
    calendar: TradingCalendar | None,
    trigger: str,
    actor: Any,
    reason: str,
) -> SettlementRun:
    with transaction.atomic():
        run = (
            SettlementRun.objects.select_for_update()
            .filter(run_date=run_date, calendar=calendar)
            .first()
        )
        if run is None:
            run = SettlementRun(
                run_date=run_date, calendar=calendar, trigger=trigger, started_at=timezone.now()
            )
            why = reason or "Settlement run started"
        else:
            why = reason or f"Settlement run started again (was {run.status})"
        run.status = RunStatus.RUNNING
        run.trigger = trigger
        run.attempts += 1
        run.error = ""
        run.finished_at = None
        if getattr(actor, "pk", None):
            run.requested_by = actor
        if reason:
            run.reason = reason
        stamp(run, actor=actor, reason=why)
        run.save()
    return run


def _run_progress(
    run: SettlementRun, outcome: _Outcome, *, last_account: int | None, swept: int = 0
) -> None:
    """Record a chunk's work on the run, in the chunk's transaction."""
    locked = SettlementRun.objects.select_for_update().get(pk=run.pk)
    cash = {k: Decimal(v) for k, v in locked.cash_moved.items()}
    for currency, amount in outcome.cash_moved.items():
        cash[currency] = cash.get(currency, ZERO) + amount
    shares = {k: Decimal(v) for k, v in locked.securities_moved.items()}
    if outcome.securities_moved:
        symbols = dict(
            Instrument.objects.filter(pk__in=outcome.securities_moved).values_list("pk", "symbol")
        )
        for instrument_id, quantity in outcome.securities_moved.items():
            symbol = symbols[instrument_id]
            shares[symbol] = shares.get(symbol, ZERO) + quantity
    SettlementRun.objects.filter(pk=run.pk).update(
        chunks_done=F("chunks_done") + (0 if swept else 1),
        accounts_done=F("accounts_done") + len({r.account_id for r in outcome.settled}),
        last_account_id=last_account if last_account is not None else F("last_account_id"),
        strays_swept=F("strays_swept") + swept,
        instructions_settled=F("instructions_settled") + len(outcome.settled),
        instructions_failed=F("instructions_failed") + len(outcome.failed),
        groups_netted=F("groups_netted") + outcome.groups,
        entries_posted=F("entries_posted") + outcome.entries,
        cash_moved={k: f"{v:f}" for k, v in sorted(cash.items())},
        securities_moved={k: f"{v.normalize():f}" for k, v in sorted(shares.items())},
    )


def _settle_chunk(run: SettlementRun, account_ids: Sequence[int], now: dt.datetime) -> None:
    with transaction.atomic(durable=True):
        _lock_timeout()
        rows = [
            _Row(*values)
            for values in _due(run.run_date, run.calendar)
            .filter(account_id__in=account_ids)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list(*_Row.FIELDS)
        ]
        outcome = (
            _settle(rows, run=run, on=run.run_date, key="settlement", now=now)
            if rows
            else _Outcome()
        )
        _run_progress(run, outcome, last_account=account_ids[-1])


_STRAYS_SQL = """
WITH claims AS (
    SELECT account_id, instrument_id, currency,
        coalesce(sum(quantity) FILTER (WHERE quantity > 0), 0) AS shares,
        coalesce(sum(cash_amount) FILTER (WHERE cash_amount > 0), 0) AS cash
    FROM settlement_settlementinstruction
    WHERE status IN ('pending', 'failed')
    GROUP BY 1, 2, 3
), cash_claims AS (
    SELECT account_id, currency, sum(cash) AS claimed FROM claims GROUP BY 1, 2
), share_claims AS (
    SELECT account_id, instrument_id, sum(shares) AS claimed FROM claims GROUP BY 1, 2
)
SELECT DISTINCT a.owner_id
FROM ledger_ledgeraccount a
LEFT JOIN cash_claims c ON a.currency IS NOT NULL
    AND c.account_id = a.owner_id AND c.currency = a.currency
LEFT JOIN share_claims s ON a.instrument_id IS NOT NULL
    AND s.account_id = a.owner_id AND s.instrument_id = a.instrument_id
WHERE a.owner_id IS NOT NULL AND a.bucket = 'unsettled' AND a.balance > 0
    AND a.balance > coalesce(c.claimed, s.claimed, 0)
ORDER BY 1
"""


def _stray_accounts() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(_STRAYS_SQL)
        return [row[0] for row in cursor.fetchall()]


def _sweep_chunk(run: SettlementRun, account_ids: Sequence[int]) -> int:
    """Move unsettled balances that no outstanding instruction claims to settled."""
    with transaction.atomic(durable=True):
        _lock_timeout()
        candidates = LedgerAccount.objects.filter(
            owner_id__in=account_ids, bucket=Bucket.UNSETTLED, balance__gt=0
        )
        keys = {
            (row.owner_id, ("c", row.currency) if row.currency else ("i", row.instrument_id))
            for row in candidates
        }
        if not keys:
            return 0
        books = _Books(keys, reserved_for=set())
        claims = _claims(account_ids, excluding=[])
        entries = []
        outcome = _Outcome()
        for account_id, asset in sorted(keys, key=lambda k: (k[0], k[1][0], str(k[1][1]))):
            unsettled = books.balance(account_id, asset, Bucket.UNSETTLED)
            move = _move(unsettled, claims.get((account_id, asset), ZERO), asset)
            if not move:
                continue
            source = books.bucket(account_id, asset, Bucket.UNSETTLED)
            entries.append(
                EntrySpec(
                    kind=ENTRY_KIND,
                    postings=[(source, -move), (books.bucket(account_id, asset, "settled"), move)],
                    memo="Settlement: unsettled balance no instruction claims any more",
                    reference=f"STL-{run.run_date:%Y%m%d}",
                    # The same stray on the same date moves once; a new one waits a day.
                    idempotency_key=(
                        f"settlement:stray:{run.run_date:%Y%m%d}:{source.pk}:{unsettled:f}:{move:f}"
                    ),
                )
            )
            if asset[0] == "c":
                outcome.cash_moved[asset[1]] += move
            else:
                outcome.securities_moved[asset[1]] += move
        if entries:
            journal_post_batch(entries=entries)
        outcome.entries = len(entries)
        if entries:
            _run_progress(run, outcome, last_account=None, swept=len(entries))
        return len(entries)


def _fails_age(run: SettlementRun) -> int:
    """Set every failed instruction's business days failing as of the run's date."""
    failed = SettlementInstruction.objects.filter(
        status=InstructionStatus.FAILED, failed_on__isnull=False
    ).select_related("instrument__calendar")
    if run.calendar_id:
        failed = failed.filter(instrument__calendar_id=run.calendar_id)
    changed = []
    for row in failed:
        schedule = schedule_for(row.instrument.calendar)
        days = schedule.business_days_between(row.failed_on, max(run.run_date, row.failed_on))
        if days != row.days_failing:
            row.days_failing = days
            changed.append(row)
    if changed:
        with transaction.atomic():
            bulk_update_with_history(
                changed,
                SettlementInstruction,
                ["days_failing"],
                default_change_reason=f"aged by the settlement run of {run.run_date}",
                custom_historical_attrs=history_attrs(),
            )
    return len(changed)


def settlement_run(
    *,
    run_date: dt.date,
    calendar: TradingCalendar | None = None,
    actor: Any = None,
    trigger: str = RunTrigger.COMMAND,
    reason: str = "",
    chunk_size: int | None = None,
) -> SettlementRun:
    """Settle every pending instruction due on or before ``run_date`` (of ``calendar``'s
    instruments, or all), in chunks of ``chunk_size`` accounts; sweep unclaimed unsettled
    balances; age fails; look again for good-faith violations. Returns the run, completed.

    Idempotent and resumable (see the module docstring). Raises ``invalid_state`` while
    another run is going; re-raises what stopped a chunk after recording it on the run
    (status failed), the chunks before it staying committed.
    """
    if trigger == RunTrigger.STAFF:
        _require_reason(reason)
        _require_perm(actor, "settlement.start_settlementrun", "start settlement runs")
    chunk_size = max(1, int(chunk_size or settings.SETTLEMENT_CHUNK_ACCOUNTS))
    started = time.perf_counter()
    with _one_run_at_a_time():
        run = _run_open(
            run_date=run_date, calendar=calendar, trigger=trigger, actor=actor, reason=reason
        )
        try:
            now = timezone.now()
            accounts = list(
                _due(run_date, calendar)
                .order_by("account_id")
                .values_list("account_id", flat=True)
                .distinct()
            )
            for chunk in _batched(accounts, chunk_size):
                _settle_chunk(run, chunk, now)
            for chunk in _batched(_stray_accounts(), chunk_size):
                _sweep_chunk(run, chunk)
            aged = _fails_age(run)
            found = gfv_detect_recent(until=run_date)
        except Exception as exc:
            try:
                _run_close(run, status=RunStatus.FAILED, started=started, error=repr(exc))
            except Exception:  # the connection went with the chunk: the run stays "running"
                logger.exception("could not record that %s stopped", run)
            raise
        SettlementRun.objects.filter(pk=run.pk).update(
            fails_aged=aged, violations_found=F("violations_found") + len(found)
        )
        return _run_close(run, status=RunStatus.COMPLETED, started=started)


def _run_close(
    run: SettlementRun, *, status: str, started: float, error: str = ""
) -> SettlementRun:
    with transaction.atomic():
        run = SettlementRun.objects.select_for_update().get(pk=run.pk)
        run.status = status
        run.finished_at = timezone.now()
        run.seconds += time.perf_counter() - started
        run.error = error[:2000]
        stamp(
            run,
            reason=(
                f"{run.instructions_settled} settled, {run.instructions_failed} failed"
                if status == RunStatus.COMPLETED
                else f"Stopped: {run.error[:200]}"
            ),
        )
        run.save()
    if status == RunStatus.COMPLETED:
        logger.info("%s in %.1fs", run, run.seconds)
    else:
        logger.error("%s: %s", run, run.error)
    return run


def business_day_ended(*, calendar: TradingCalendar, now: dt.datetime) -> dt.date | None:
    """The latest business day of ``calendar`` whose session closed at least
    SETTLEMENT_RUN_AFTER_CLOSE_MINUTES before ``now`` (None if none in the last two weeks)."""
    schedule = schedule_for(calendar)
    delay = dt.timedelta(minutes=settings.SETTLEMENT_RUN_AFTER_CLOSE_MINUTES)
    today = schedule.trade_date(now)
    for back in range(15):
        day = today - dt.timedelta(days=back)
        session = schedule.session(day)
        if session is not None and session.close_at + delay <= now:
            return day
    return None


def settlement_runs_due(*, now: dt.datetime | None = None) -> list[SettlementRun]:
    """The end-of-day schedule: for every calendar with instruments, run the latest business
    day that has ended in the exchange's time zone, unless a run of it has completed.
    Called every few minutes by celery beat; the first call after the close does the work."""
    now = now or timezone.now()
    runs = []
    calendars = TradingCalendar.objects.filter(instruments__isnull=False).distinct()
    for calendar in calendars.order_by("code"):
        day = business_day_ended(calendar=calendar, now=now)
        if day is None:
            continue
        done = SettlementRun.objects.filter(
            calendar=calendar, run_date__gte=day, status=RunStatus.COMPLETED
        ).exists()
        if not done:
            runs.append(
                settlement_run(run_date=day, calendar=calendar, trigger=RunTrigger.SCHEDULE)
            )
    return runs


def settlement_run_request(
    *, run_date: dt.date, calendar: TradingCalendar | None, actor: Any, reason: str
) -> None:
    """Staff ask for a run of a date (a first run, or the resumption of one that stopped); it
    runs on the settlement queue once this transaction commits."""
    from apps.core.services import outbox_enqueue

    reason = _require_reason(reason)
    _require_perm(actor, "settlement.start_settlementrun", "start settlement runs")
    with transaction.atomic():
        outbox_enqueue(
            task_name="apps.settlement.tasks.settlement_run",
            args=[run_date.isoformat(), calendar.code if calendar else None, actor.pk, reason],
            queue="settlement",
        )


# --- Fails: retry, buy in, cancel -----------------------------------------------------------


def _require_reason(reason: str) -> str:
    if not (reason or "").strip():
        raise invalid("Give a reason.", reason="Required: it goes into the audit trail.")
    return reason.strip()


def _require_perm(actor: Any, perm: str, what: str) -> None:
    if actor is None or not getattr(actor, "has_perm", None) or not actor.has_perm(perm):
        raise permission_denied(f"Your role may not {what}.")


def _locked_failed(instruction: SettlementInstruction, action: str) -> SettlementInstruction:
    row = SettlementInstruction.objects.select_for_update(of=("self",)).get(pk=instruction.pk)
    if row.status != InstructionStatus.FAILED:
        raise invalid_state(
            f"Instruction {row.pk} is {row.status}: only a failed instruction can be {action}.",
            status=row.status,
        )
    return row


def instruction_retry(
    *, instruction: SettlementInstruction, actor: Any, reason: str, enforce_permission: bool = True
) -> SettlementInstruction:
    """Try a failed instruction again: it settles (by the run's rules) when what failed it is
    gone; otherwise ``invalid_state`` with the reason, and it stays failed."""
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "settlement.resolve_settlementfail", "retry settlement fails")
    now = timezone.now()
    with transaction.atomic(durable=True):
        row = _locked_failed(instruction, "retried")
        outcome = _settle(
            [row],
            run=None,
            on=timezone.localdate(),
            key=f"settlement:retry:{row.pk}",
            now=now,
            actor=actor,
            reason=f"Retried: {reason}",
        )
        if outcome.failed:
            raise invalid_state(
                f"Instruction {row.pk} still cannot settle: {row.status_reason}",
                fail_code=row.fail_code,
            )
    return row


def instruction_buy_in(
    *, instruction: SettlementInstruction, actor: Any, reason: str, enforce_permission: bool = True
) -> SettlementInstruction:
    """The firm buys in the shares a failed receipt is missing and delivers them (from house
    custody, at the firm's cost); the instruction then settles as ``bought_in``.

    Only for an instruction receiving shares whose trade stands: a busted trade's
    instructions are cancelled instead (``invalid_state``)."""
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "settlement.resolve_settlementfail", "buy in settlement fails")
    now = timezone.now()
    with transaction.atomic(durable=True):
        row = _locked_failed(instruction, "bought in")
        if row.quantity <= 0:
            raise invalid_state(
                "Only an instruction receiving shares can be bought in; this one delivers.",
                side=row.side,
            )
        if row.fail_code == FailCode.TRADE_BUSTED or _busted([row]):
            raise invalid_state("The trade was busted: cancel the instruction instead.")
        outcome = _settle(
            [row],
            run=None,
            on=timezone.localdate(),
            key=f"settlement:buy_in:{row.pk}",
            now=now,
            actor=actor,
            reason=f"Bought in: {reason}",
            buy_in=True,
        )
        if not outcome.delivered:
            raise invalid_state(
                "The account's books are not missing these shares: retry the instruction."
            )
    return row


def instruction_cancel(
    *, instruction: SettlementInstruction, actor: Any, reason: str, enforce_permission: bool = True
) -> SettlementInstruction:
    """Cancel a failed instruction, four-eyes: the first staff member's call records the
    request; a second, different staff member's call cancels it. Nothing moves in the ledger
    or positions (a busted trade was already undone). The requester confirming their own
    request is ``permission_denied``."""
    reason = _require_reason(reason)
    if enforce_permission:
        _require_perm(actor, "settlement.resolve_settlementfail", "cancel settlement fails")
    now = timezone.now()
    with transaction.atomic(durable=True):
        row = _locked_failed(instruction, "cancelled")
        if row.cancel_requested_by_id is None:
            row.cancel_requested_by = actor
            row.cancel_requested_at = now
            row.cancel_reason = reason
            stamp(row, actor=actor, reason=f"Cancel requested: {reason}")
            row.save()
            return row
        if row.cancel_requested_by_id == getattr(actor, "pk", None):
            raise permission_denied(
                "You requested this cancellation; a second, different staff member must "
                "confirm it (four-eyes)."
            )
        row.cancel()
        row.resolved_by = actor
        row.resolved_at = now
        row.status_reason = f"Cancelled: {row.cancel_reason} / confirmed: {reason}"
        stamp(row, actor=actor, reason=f"Cancel confirmed: {reason}")
        row.save()
    return row


# --- Regulation T: good-faith violations ----------------------------------------------------


def _funding(buy: Any, paid: Decimal, currency: str) -> list[SettlementInstruction]:
    """The sale proceeds that paid ``paid`` of ``buy``: those unsettled when its hold was
    taken, earliest settlement first (the spending consumes the earliest proceeds)."""
    rows = (
        SettlementInstruction.objects.filter(
            account_id=buy.account_id,
            currency=currency,
            cash_amount__gt=0,
            created_at__lte=buy.created_at,
        )
        .exclude(status=InstructionStatus.CANCELLED)
        .filter(Q(settled_at__isnull=True) | Q(settled_at__gt=buy.created_at))
        .order_by("settlement_date", "pk")
    )
    funding, covered = [], ZERO
    for row in rows:
        if covered >= paid:
            break
        funding.append(row)
        covered += row.cash_amount
    return funding


def gfv_detect(*, fills: Sequence[Any]) -> list[GoodFaithViolation]:
    """Record a good-faith violation for each sale among ``fills`` that sold shares bought
    with sale proceeds not yet settled when the sale happened (one per selling order), and
    restrict accounts that reach SETTLEMENT_GFV_LIMIT in twelve months. Idempotent."""
    from apps.matching.models import Fill
    from apps.orders.models import Order
    from apps.positions.models import Position

    sells = sorted((f for f in fills if f.side == "sell"), key=lambda f: (f.executed_at, f.pk))
    if not sells:
        return []
    since = sells[0].executed_at - dt.timedelta(days=settings.SETTLEMENT_GFV_LOOKBACK_DAYS)
    candidates: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for order in Order.objects.filter(
        side="buy",
        hold_from_unsettled__gt=0,
        filled_quantity__gt=0,
        created_at__gte=since,
        account_id__in={f.account_id for f in sells},
        instrument_id__in={f.instrument_id for f in sells},
    ).order_by("created_at", "pk"):
        candidates[(order.account_id, order.instrument_id)].append(order)
    if not candidates:
        return []
    seen = set(
        GoodFaithViolation.objects.filter(
            sell_order_id__in={f.order_id for f in sells}
        ).values_list("sell_order_id", flat=True)
    )
    currencies = dict(
        Instrument.objects.filter(pk__in={f.instrument_id for f in sells}).values_list(
            "pk", "currency"
        )
    )
    created: list[GoodFaithViolation] = []
    with transaction.atomic():
        for sell in sells:
            buys = candidates.get((sell.account_id, sell.instrument_id))
            if not buys or sell.order_id in seen:
                continue
            tainted: list[tuple[Any, Decimal, dt.date]] = []
            tainted_quantity = ZERO
            for buy in buys:
                paid = max(ZERO, buy.hold_from_unsettled - buy.reserved)
                if paid <= 0 or buy.created_at >= sell.executed_at:
                    continue
                bought = Fill.objects.filter(
                    order_id=buy.pk, executed_at__lte=sell.executed_at
                ).aggregate(q=Sum("quantity"))["q"]
                if not bought:
                    continue
                funding = _funding(buy, paid, currencies[sell.instrument_id])
                unsettled = [
                    f for f in funding if f.settled_at is None or f.settled_at > sell.executed_at
                ]
                if not unsettled:
                    continue
                tainted.append((buy, paid, max(f.settlement_date for f in funding)))
                tainted_quantity += bought
            if not tainted:
                continue
            # Did the sale reach into those shares? What the account held just after it.
            position = Position.objects.filter(
                account_id=sell.account_id, instrument_id=sell.instrument_id
            ).first()
            later = Fill.objects.filter(
                account_id=sell.account_id, instrument_id=sell.instrument_id, pk__gt=sell.pk
            ).values_list("side", "quantity")
            held = (position.quantity if position else ZERO) - sum(
                (q if side == "buy" else -q for side, q in later), ZERO
            )
            if held >= tainted_quantity:
                continue
            buy, paid, settles_on = tainted[0]
            violation = GoodFaithViolation(
                account_id=sell.account_id,
                instrument_id=sell.instrument_id,
                buy_order=buy,
                sell_order_id=sell.order_id,
                trade_date=sell.trade_date,
                sold_at=sell.executed_at,
                unsettled_funds=paid,
                currency=currencies[sell.instrument_id],
                funds_settle_on=settles_on,
            )
            stamp(violation, reason="Sold before the proceeds that paid for it settled")
            violation.save()
            seen.add(sell.order_id)
            created.append(violation)
        for account_id in sorted({v.account_id for v in created}):
            _gfv_restrict(account_id, [v for v in created if v.account_id == account_id])
    for violation in created:
        logger.info("Good-faith violation %s on account %s", violation.pk, violation.account_id)
    return created


def _gfv_restrict(account_id: int, new: list[GoodFaithViolation]) -> None:
    """Restrict the account for SETTLEMENT_GFV_RESTRICTION_DAYS once it has
    SETTLEMENT_GFV_LIMIT violations in the twelve months to the latest one."""
    from apps.accounts.services import trading_account_restrict

    latest = max(v.trade_date for v in new)
    try:
        since = latest.replace(year=latest.year - 1)
    except ValueError:  # 29 February
        since = latest.replace(year=latest.year - 1, day=28)
    count = GoodFaithViolation.objects.filter(
        account_id=account_id, trade_date__gt=since, trade_date__lte=latest
    ).count()
    if count < settings.SETTLEMENT_GFV_LIMIT:
        return
    account = TradingAccount.objects.get(pk=account_id)
    if account.status != AccountStatus.ACTIVE:
        return
    until = timezone.now() + dt.timedelta(days=settings.SETTLEMENT_GFV_RESTRICTION_DAYS)
    trading_account_restrict(
        account=account,
        actor=None,
        reason=(
            f"Regulation T: {count} good-faith violations in twelve months; purchases with "
            f"settled cash only until {until:%Y-%m-%d}."
        ),
        until=until,
        enforce_permission=False,
    )
    trigger = max(new, key=lambda v: (v.trade_date, v.pk))
    trigger.restricted_until = until
    stamp(trigger, reason="Restricted the account (Regulation T)")
    trigger.save(update_fields=["restricted_until"])


def gfv_detect_recent(*, until: dt.date) -> list[GoodFaithViolation]:
    """The run's backstop for the fill-time detection: sales of the last
    SETTLEMENT_GFV_LOOKBACK_DAYS up to ``until`` with a purchase paid from unsettled cash
    behind them and no violation recorded yet."""
    from django.db.models import Exists, OuterRef

    from apps.matching.models import Fill
    from apps.orders.models import Order

    since = until - dt.timedelta(days=settings.SETTLEMENT_GFV_LOOKBACK_DAYS)
    funded = Order.objects.filter(
        account_id=OuterRef("account_id"),
        instrument_id=OuterRef("instrument_id"),
        side="buy",
        hold_from_unsettled__gt=0,
        filled_quantity__gt=0,
        created_at__lt=OuterRef("executed_at"),
    )
    recorded = GoodFaithViolation.objects.filter(sell_order_id=OuterRef("order_id"))
    fills = list(
        Fill.objects.filter(side="sell", trade_date__gte=since, trade_date__lte=until)
        .filter(Exists(funded))
        .exclude(Exists(recorded))
        .order_by("executed_at", "pk")
    )
    return gfv_detect(fills=fills) if fills else []


def gfv_restrictions_lift_due(*, now: dt.datetime | None = None) -> int:
    """Reactivate accounts whose Regulation T restriction has run its 90 days (unless staff
    changed the account since). Returns how many restrictions ended."""
    from apps.accounts.services import trading_account_activate

    now = now or timezone.now()
    ended = 0
    due = GoodFaithViolation.objects.filter(
        restricted_until__lte=now, restriction_lifted_at__isnull=True
    ).order_by("restricted_until", "pk")
    for violation in due:
        with transaction.atomic():
            account = TradingAccount.objects.select_for_update().get(pk=violation.account_id)
            if (
                account.status == AccountStatus.RESTRICTED
                and account.restricted_until == violation.restricted_until
            ):
                trading_account_activate(
                    account=account,
                    actor=None,
                    reason="Regulation T restriction ended: purchases with unsettled cash again",
                    enforce_permission=False,
                )
                ended += 1
            violation.restriction_lifted_at = now
            stamp(violation, reason="Restriction period over")
            violation.save(update_fields=["restriction_lifted_at"])
    return ended
