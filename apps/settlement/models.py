"""Tables of the settlement app: one instruction per trade side, settled on its settlement
date by a settlement run; the runs themselves; and the good-faith violations of cash accounts
(Regulation T).

Views on instructions for the back office are proxies: the settlement calendar (what settles
on which date) and the fails queue (what could not settle, for staff to retry, buy in or
cancel).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.accounts.models import TradingAccount
from apps.core.audit import audit_history
from apps.instruments.models import Instrument, TradingCalendar
from apps.settlement.choices import FailCode, InstructionStatus, RunStatus, RunTrigger

QTY = {"max_digits": 24, "decimal_places": 8}
MONEY = {"max_digits": 24, "decimal_places": 8}


class SettlementRun(models.Model):
    """One settlement run for a date: every pending instruction due on or before ``run_date``
    (of the instruments on ``calendar``, or of every calendar when it is empty), netted and
    settled in chunks of accounts, each chunk its own transaction.

    A run that stopped half way (a crash, a lock timeout) is resumed by running the same date
    again: settled instructions are no longer pending, so only the rest is taken.
    """

    run_date = models.DateField()
    calendar = models.ForeignKey(
        TradingCalendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settlement_runs",
        help_text="Empty: the instruments of every calendar.",
    )
    trigger = models.CharField(max_length=16, choices=RunTrigger.choices)
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING, db_index=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(
        default=0, help_text="How many times the run was started (resumptions included)."
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0, help_text="Time spent over every attempt.")
    chunks_done = models.PositiveIntegerField(default=0)
    accounts_done = models.PositiveIntegerField(default=0)
    last_account_id = models.BigIntegerField(
        null=True, blank=True, help_text="The last account of the last committed chunk."
    )
    instructions_settled = models.PositiveIntegerField(default=0)
    instructions_failed = models.PositiveIntegerField(default=0)
    groups_netted = models.PositiveIntegerField(
        default=0, help_text="(account, instrument, settlement date) groups settled."
    )
    entries_posted = models.PositiveIntegerField(default=0)
    strays_swept = models.PositiveIntegerField(
        default=0,
        help_text="Unsettled balances no outstanding instruction claimed, moved to settled.",
    )
    fails_aged = models.PositiveIntegerField(default=0)
    violations_found = models.PositiveIntegerField(default=0)
    cash_moved = models.JSONField(
        default=dict, blank=True, help_text="Cash moved from unsettled to settled, by currency."
    )
    securities_moved = models.JSONField(
        default=dict, blank=True, help_text="Shares moved from unsettled to settled, by symbol."
    )
    error = models.TextField(blank=True, default="")

    history = audit_history(
        excluded_fields=[
            "chunks_done",
            "accounts_done",
            "last_account_id",
            "instructions_settled",
            "instructions_failed",
            "groups_netted",
            "entries_posted",
            "cash_moved",
            "securities_moved",
        ]
    )

    class Meta:
        ordering = ["-run_date", "-started_at"]
        permissions = [("start_settlementrun", "Can start a settlement run")]
        constraints = [
            models.UniqueConstraint(
                fields=["run_date", "calendar"],
                nulls_distinct=False,
                name="settlement_run_unique_date",
            )
        ]

    def __str__(self) -> str:
        scope = self.calendar.code if self.calendar_id else "all calendars"
        return f"Settlement {self.run_date} ({scope}): {self.get_status_display()}"


class SettlementInstruction(ConcurrentTransitionMixin, models.Model):
    """What one side of a trade owes and is owed on the settlement date.

    ``quantity`` is signed from the account's side (+ received, - delivered) and so is
    ``cash_amount`` (+ received: a sale's proceeds net of its fee; - paid: a purchase with its
    fee). pending -> settled, or pending -> failed -> settled (retried) / bought_in /
    cancelled.
    """

    trade_id = models.BigIntegerField(db_index=True)
    fill_id = models.BigIntegerField(unique=True)
    account = models.ForeignKey(
        TradingAccount, on_delete=models.PROTECT, related_name="settlement_instructions"
    )
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="settlement_instructions"
    )
    side = models.CharField(max_length=4)
    quantity = models.DecimalField(**QTY)
    cash_amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    trade_date = models.DateField()
    settlement_date = models.DateField()
    status = FSMField(
        max_length=16,
        choices=InstructionStatus.choices,
        default=InstructionStatus.PENDING,
        protected=True,
    )
    status_reason = models.TextField(blank=True, default="")
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    run = models.ForeignKey(
        SettlementRun,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="instructions",
        db_index=False,
        help_text="The run that settled it (empty when staff resolved it).",
    )
    fail_code = models.CharField(max_length=16, choices=FailCode.choices, blank=True, default="")
    failed_on = models.DateField(null=True, blank=True)
    days_failing = models.PositiveIntegerField(
        default=0, help_text="Business days since it failed, aged by every run."
    )
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["settlement_date", "id"]
        permissions = [
            ("resolve_settlementfail", "Can retry, buy in or cancel failed settlement instructions")
        ]
        indexes = [
            models.Index(fields=["status", "settlement_date"], name="settlement_due"),
            models.Index(fields=["account", "settlement_date"], name="settlement_account"),
            models.Index(
                fields=["account", "instrument"],
                condition=Q(status__in=["pending", "failed"]),
                name="settlement_outstanding",
            ),
        ]

    def __str__(self) -> str:
        return f"SI {self.pk} {self.side} {self.quantity:f} on {self.settlement_date}"

    @transition(
        field=status,
        source=[InstructionStatus.PENDING, InstructionStatus.FAILED],
        target=InstructionStatus.SETTLED,
    )
    def settle(self) -> None:
        """Cash and securities moved from unsettled to settled."""

    @transition(field=status, source=InstructionStatus.PENDING, target=InstructionStatus.FAILED)
    def fail(self) -> None:
        """It could not settle on its date."""

    @transition(field=status, source=InstructionStatus.FAILED, target=InstructionStatus.BOUGHT_IN)
    def buy_in(self) -> None:
        """The firm bought the missing securities in."""

    @transition(
        field=status,
        source=[InstructionStatus.PENDING, InstructionStatus.FAILED],
        target=InstructionStatus.CANCELLED,
    )
    def cancel(self) -> None:
        """Cancelled (after a trade bust, or by staff with four-eyes)."""


class SettlementCalendar(SettlementInstruction):
    """Instructions by settlement date: what settles on which day (the admin's calendar)."""

    class Meta:
        proxy = True
        verbose_name = "settlement calendar entry"
        verbose_name_plural = "settlement calendar"


class FailedManager(models.Manager):
    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(status=InstructionStatus.FAILED)


class FailQueue(SettlementInstruction):
    """Failed instructions waiting for staff: retry, buy in, or cancel (four-eyes)."""

    objects = FailedManager()

    class Meta:
        proxy = True
        verbose_name = "failed instruction"
        verbose_name_plural = "fails queue"


class GoodFaithViolation(models.Model):
    """Regulation T: a cash account sold a security bought with unsettled sale proceeds before
    those proceeds settled. One per selling order. Three in twelve months restrict the account
    to settled-cash purchases for 90 days (``restricted_until`` on the violation that did it).
    """

    account = models.ForeignKey(
        TradingAccount, on_delete=models.PROTECT, related_name="good_faith_violations"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    buy_order = models.ForeignKey(
        "orders.Order",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The purchase paid (in part) with unsettled proceeds.",
    )
    sell_order = models.OneToOneField(
        "orders.Order",
        on_delete=models.PROTECT,
        related_name="good_faith_violation",
        help_text="The sale made before those proceeds settled.",
    )
    trade_date = models.DateField(help_text="Trade date of the sale.")
    sold_at = models.DateTimeField()
    unsettled_funds = models.DecimalField(
        **MONEY, help_text="What the purchase paid from unsettled proceeds."
    )
    currency = models.CharField(max_length=3)
    funds_settle_on = models.DateField(help_text="When the proceeds that paid for it settle.")
    detected_at = models.DateTimeField(auto_now_add=True)
    restricted_until = models.DateTimeField(
        null=True, blank=True, help_text="Set when this violation restricted the account."
    )
    restriction_lifted_at = models.DateTimeField(null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-trade_date", "-id"]
        verbose_name = "good-faith violation"
        indexes = [models.Index(fields=["account", "trade_date"], name="settlement_gfv_account")]

    def __str__(self) -> str:
        return f"GFV {self.pk} {self.account_id} on {self.trade_date}"
