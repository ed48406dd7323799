"""Tables of the ledger app: the double-entry books (ledger accounts, journal entries,
postings, the hash chain's head, reconciliation runs) and funding (deposits, withdrawals,
manual adjustments, and the simulated bank's payouts).

The books are append-only. Journal entries and postings are written only by
:mod:`apps.ledger.services` (raw SQL, inside the posting transaction); the models refuse to
save or delete them, and database triggers refuse UPDATE and DELETE from anywhere else, and
refuse deleting or renumbering a ledger account.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.accounts.models import TradingAccount
from apps.core.audit import audit_history
from apps.instruments.models import Instrument
from apps.ledger.choices import (
    AdjustmentStatus,
    Bucket,
    DepositStatus,
    HouseAccount,
    ReconciliationTrigger,
    SimulatedPayoutOutcome,
    SuspenseReason,
    WithdrawalStatus,
)

# Amounts and balances: signed, 8 decimal places (0.001 g of gold, a cent, a yen alike).
AMOUNT_DIGITS = 28
AMOUNT_PLACES = 8
GENESIS_HASH = "0" * 64


def _amount_field(**kwargs: Any) -> models.DecimalField:
    return models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=AMOUNT_PLACES, **kwargs)


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a row of the books."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows are never updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model.__name__} rows are never deleted.")

    def bulk_create(self, *args: Any, **kwargs: Any) -> list:
        raise AppendOnlyError(f"{self.model.__name__} rows are written by journal_post only.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows are never updated.")


class LedgerAccountQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Ledger balances change only through postings (journal_post).")


class LedgerAccount(models.Model):
    """One bucket of one asset of one owner: (trading account or house) x asset x bucket.

    The asset is a currency (ISO code) or an instrument. ``balance`` caches the sum of the
    account's postings and is updated in the same transaction as they are. Client buckets never
    go negative (a CHECK constraint); house accounts may.
    """

    owner = models.ForeignKey(
        TradingAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    house = models.CharField(max_length=16, choices=HouseAccount.choices, null=True, blank=True)
    currency = models.CharField(max_length=3, null=True, blank=True)
    instrument = models.ForeignKey(
        Instrument,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_accounts",
    )
    bucket = models.CharField(max_length=16, choices=Bucket.choices)
    balance = _amount_field(default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LedgerAccountQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=False, house__isnull=True)
                | Q(owner__isnull=True, house__isnull=False),
                name="ledger_account_owner_or_house",
            ),
            models.CheckConstraint(
                condition=Q(currency__isnull=False, instrument__isnull=True)
                | Q(currency__isnull=True, instrument__isnull=False),
                name="ledger_account_one_asset",
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(balance__gte=0),
                name="ledger_client_bucket_not_negative",
            ),
            models.UniqueConstraint(
                fields=["owner", "house", "currency", "instrument", "bucket"],
                nulls_distinct=False,
                name="ledger_account_unique",
            ),
        ]

    def __str__(self) -> str:
        holder = self.owner.number if self.owner_id else f"house:{self.house}"
        return f"{holder} {self.asset} {self.bucket}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Ledger balances change only through postings (journal_post).")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Ledger accounts are never deleted.")

    @property
    def asset(self) -> str:
        """The currency code, or the instrument's symbol."""
        if self.currency:
            return self.currency
        return self.instrument.symbol if self.instrument_id else ""

    @property
    def asset_key(self) -> str:
        """Identifies the asset for balancing: postings sum to zero per asset key."""
        return self.currency if self.currency else f"instrument:{self.instrument_id}"

    @property
    def is_client(self) -> bool:
        return self.owner_id is not None


class ChainHead(models.Model):
    """The last link of the journal's hash chain (one row). Posting locks it last, just
    before commit, so entries join the chain in commit order."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="ledger_chain_head_single")]

    def __str__(self) -> str:
        return f"#{self.last_sequence} {self.last_hash[:12]}…"


class JournalEntry(models.Model):
    """A balanced set of postings: for every asset, its postings sum to zero.

    ``sequence`` is the entry's place in the hash chain; ``hash`` is SHA-256 over the entry's
    content, its postings and ``prev_hash`` (apps.ledger.chain). Corrections are new entries
    that reverse this one (``reverses``); an entry is reversed at most once.
    """

    sequence = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=32)
    memo = models.TextField(blank=True, default="")
    reference = models.CharField(max_length=128, blank=True, default="")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    reverses = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reversed_by",
        db_index=False,
    )
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        verbose_name_plural = "journal entries"
        permissions = [("reverse_journalentry", "Can post reversing journal entries")]
        # Declared here rather than on the fields, and partial: the many entries without a
        # key or a reversal add nothing to these indexes, and no LIKE indexes are written.
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="ledger_entry_idempotency_key",
            ),
            models.UniqueConstraint(
                fields=["reverses"],
                condition=Q(reverses__isnull=False),
                name="ledger_entry_reversed_once",
            ),
        ]
        indexes = [models.Index(fields=["reference"], name="ledger_entry_reference")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind} {self.reference}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise AppendOnlyError("Journal entries are written by journal_post and never changed.")

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Journal entries are never deleted; post a reversal.")


class Posting(models.Model):
    """One line of a journal entry: a signed amount on a ledger account, with the account's
    running balance after it (``balance_after``), computed under the account's row lock."""

    # Both references are enforced in the database by one statement-level check per insert
    # (trigger ledger_posting_references, migration 0002) instead of a row-level foreign key
    # check per posting: the batch path writes tens of thousands of postings a second, and
    # neither parent can be deleted or renumbered (their own triggers refuse it).
    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="postings", db_constraint=False
    )
    ledger_account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="postings",
        db_index=False,
        db_constraint=False,
    )
    amount = _amount_field()
    balance_after = _amount_field()
    created_at = models.DateTimeField()

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            # balance_as_of: one descent of this index finds the last posting before an instant.
            models.Index(
                fields=["ledger_account", "created_at", "id"], name="ledger_posting_account_time"
            )
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_not_zero")
        ]

    def __str__(self) -> str:
        return f"{self.amount} on {self.ledger_account_id} (entry {self.entry_id})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise AppendOnlyError("Postings are written by journal_post and never changed.")

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Postings are never deleted; post a reversal.")


class ReconciliationRun(models.Model):
    """The result of one ledger_verify: entries balance, cached and running balances match
    their postings, the hash chain is unbroken."""

    trigger = models.CharField(max_length=16, choices=ReconciliationTrigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    entries_checked = models.BigIntegerField(default=0)
    postings_checked = models.BigIntegerField(default=0)
    accounts_checked = models.BigIntegerField(default=0)
    problem_count = models.PositiveIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        permissions = [("run_reconciliation", "Can run the ledger reconciliation on demand")]

    def __str__(self) -> str:
        outcome = "clean" if self.ok else f"{self.problem_count} problem(s)"
        return f"Ledger check {self.started_at:%Y-%m-%d %H:%M} ({outcome})"

    @property
    def duration(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


# --- Funding --------------------------------------------------------------------------------


class Deposit(ConcurrentTransitionMixin, models.Model):
    """Money the bank reports as received, once per bank transaction id.

    received -> credited (to the account its reference names), or received -> in_suspense
    (unknown reference, account not open, other currency) -> assigned / returned by staff.
    """

    bank_transaction_id = models.CharField(max_length=100, unique=True)
    reference = models.CharField(max_length=140, blank=True, default="")
    amount = _amount_field()
    currency = models.CharField(max_length=3)
    account = models.ForeignKey(
        TradingAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="deposits"
    )
    status = FSMField(
        max_length=16, choices=DepositStatus.choices, default=DepositStatus.RECEIVED, protected=True
    )
    suspense_reason = models.CharField(
        max_length=32, choices=SuspenseReason.choices, blank=True, default=""
    )
    received_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status_reason = models.TextField(blank=True, default="")
    return_reference = models.CharField(max_length=100, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)

    history = audit_history(excluded_fields=["payload"])

    class Meta:
        ordering = ["-received_at"]
        permissions = [("assign_deposit", "Can assign or return deposits held in suspense")]
        indexes = [
            models.Index(fields=["status", "received_at"], name="ledger_deposit_status"),
            models.Index(fields=["account", "received_at"], name="ledger_deposit_account"),
        ]

    def __str__(self) -> str:
        return f"Deposit {self.bank_transaction_id} {self.amount.normalize():f} {self.currency}"

    @property
    def ledger_reference(self) -> str:
        """The ``reference`` of this deposit's journal entries."""
        return f"DEP-{self.pk}"

    @transition(field=status, source=DepositStatus.RECEIVED, target=DepositStatus.CREDITED)
    def credit(self) -> None:
        """Credited to the account named by the reference."""

    @transition(field=status, source=DepositStatus.RECEIVED, target=DepositStatus.IN_SUSPENSE)
    def hold_in_suspense(self) -> None:
        """Parked in the suspense account until staff assign or return it."""

    @transition(field=status, source=DepositStatus.IN_SUSPENSE, target=DepositStatus.ASSIGNED)
    def assign(self) -> None:
        """Moved from suspense to the right account by staff."""

    @transition(field=status, source=DepositStatus.IN_SUSPENSE, target=DepositStatus.RETURNED)
    def return_to_sender(self) -> None:
        """Sent back to the payer by staff."""


class DepositQueue(Deposit):
    """Deposits held in suspense, waiting for staff (the admin's suspense queue)."""

    class Meta:
        proxy = True
        verbose_name = "suspense deposit"
        verbose_name_plural = "suspense queue"


class Withdrawal(ConcurrentTransitionMixin, models.Model):
    """Cash a client asked to be paid out of the firm.

    requested -> approved -> processing -> completed, with rejected (from requested or
    approved), cancelled (by the client, while requested) and failed (from approved or
    processing). The amount moves from settled into reserved on request, leaves the firm on
    completion, and returns to settled on rejection, cancellation or failure.
    """

    account = models.ForeignKey(
        TradingAccount, on_delete=models.PROTECT, related_name="withdrawals"
    )
    amount = _amount_field()
    currency = models.CharField(max_length=3)
    destination = models.CharField(max_length=64, blank=True, default="")
    status = FSMField(
        max_length=16,
        choices=WithdrawalStatus.choices,
        default=WithdrawalStatus.REQUESTED,
        protected=True,
    )
    status_reason = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    first_approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    bank_reference = models.CharField(max_length=100, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    history = audit_history()

    class Meta:
        ordering = ["-requested_at"]
        permissions = [
            ("approve_withdrawal", "Can approve withdrawals"),
            ("reject_withdrawal", "Can reject withdrawals"),
            ("complete_withdrawal", "Can mark withdrawals as paid out or failed"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="ledger_withdrawal_idempotency",
            )
        ]
        indexes = [
            models.Index(fields=["account", "requested_at"], name="ledger_withdrawal_account"),
            models.Index(fields=["status", "requested_at"], name="ledger_withdrawal_status"),
        ]

    def __str__(self) -> str:
        return f"Withdrawal {self.pk} {self.amount.normalize():f} {self.currency} ({self.status})"

    @property
    def ledger_reference(self) -> str:
        """The ``reference`` of this withdrawal's journal entries (and of its bank payout)."""
        return f"WD-{self.pk}"

    @property
    def approvals(self) -> int:
        if self.approved_by_id:
            return self.approvals_required
        return 1 if self.first_approved_by_id else 0

    @transition(field=status, source=WithdrawalStatus.REQUESTED, target=WithdrawalStatus.APPROVED)
    def approve(self) -> None:
        """Approved by staff (two different members above the four-eyes threshold)."""

    @transition(field=status, source=WithdrawalStatus.APPROVED, target=WithdrawalStatus.PROCESSING)
    def send(self) -> None:
        """Handed to the bank for payout."""

    @transition(
        field=status,
        source=[WithdrawalStatus.APPROVED, WithdrawalStatus.PROCESSING],
        target=WithdrawalStatus.COMPLETED,
    )
    def complete(self) -> None:
        """The bank paid it out: the money has left the firm."""

    @transition(
        field=status,
        source=[WithdrawalStatus.APPROVED, WithdrawalStatus.PROCESSING],
        target=WithdrawalStatus.FAILED,
    )
    def fail(self) -> None:
        """The payout failed; the hold returns to settled cash."""

    @transition(
        field=status,
        source=[WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED],
        target=WithdrawalStatus.REJECTED,
    )
    def reject(self) -> None:
        """Refused by staff; the hold returns to settled cash."""

    @transition(field=status, source=WithdrawalStatus.REQUESTED, target=WithdrawalStatus.CANCELLED)
    def cancel(self) -> None:
        """Withdrawn by the client before approval; the hold returns to settled cash."""


class WithdrawalQueue(Withdrawal):
    """Withdrawals waiting for staff: to approve, or to confirm as paid or failed."""

    class Meta:
        proxy = True
        verbose_name = "withdrawal awaiting action"
        verbose_name_plural = "withdrawal approval queue"


class Adjustment(ConcurrentTransitionMixin, models.Model):
    """A manual credit (positive) or debit (negative) of a client's settled cash.

    Always four-eyes: requested by one staff member, applied only when a different one approves.
    """

    account = models.ForeignKey(
        TradingAccount, on_delete=models.PROTECT, related_name="adjustments"
    )
    amount = _amount_field()
    currency = models.CharField(max_length=3)
    justification = models.TextField(help_text="Why the adjustment is needed.")
    status = FSMField(
        max_length=20,
        choices=AdjustmentStatus.choices,
        default=AdjustmentStatus.PENDING_APPROVAL,
        protected=True,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")

    history = audit_history()

    class Meta:
        ordering = ["-requested_at"]
        permissions = [("approve_adjustment", "Can approve or reject manual adjustments")]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="ledger_adjustment_idempotency",
            ),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_adjustment_not_zero"),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="ledger_adjustment_status")]

    def __str__(self) -> str:
        return f"Adjustment {self.pk} {self.amount.normalize():+f} {self.currency} ({self.status})"

    @property
    def ledger_reference(self) -> str:
        """The ``reference`` of this adjustment's journal entry."""
        return f"ADJ-{self.pk}"

    @transition(
        field=status, source=AdjustmentStatus.PENDING_APPROVAL, target=AdjustmentStatus.APPLIED
    )
    def apply(self) -> None:
        """Approved by a second staff member and posted to the ledger."""

    @transition(
        field=status, source=AdjustmentStatus.PENDING_APPROVAL, target=AdjustmentStatus.REJECTED
    )
    def reject(self) -> None:
        """Refused; nothing was posted."""


class AdjustmentQueue(Adjustment):
    """Adjustments waiting for a second staff member's approval."""

    class Meta:
        proxy = True
        verbose_name = "adjustment awaiting approval"
        verbose_name_plural = "adjustment queue"


class SimulatedBankPayout(models.Model):
    """A payout instruction as the simulated bank keeps it: it settles (completes or fails) at
    ``due_at``. The default bank adapter; a real bank keeps this on its side."""

    payout_id = models.CharField(max_length=64, unique=True)
    amount = _amount_field()
    currency = models.CharField(max_length=3)
    destination = models.CharField(max_length=64, blank=True, default="")
    bank_reference = models.CharField(max_length=100)
    outcome = models.CharField(max_length=16, choices=SimulatedPayoutOutcome.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    due_at = models.DateTimeField(db_index=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]

    def __str__(self) -> str:
        return f"Simulated payout {self.payout_id} ({self.outcome})"
