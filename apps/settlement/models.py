"""Tables of the settlement app: one instruction per trade side, settled on its settlement
date by a settlement run."""

from __future__ import annotations

from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.accounts.models import TradingAccount
from apps.core.audit import audit_history
from apps.instruments.models import Instrument
from apps.settlement.choices import InstructionStatus

QTY = {"max_digits": 24, "decimal_places": 8}
MONEY = {"max_digits": 24, "decimal_places": 8}


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

    history = audit_history()

    class Meta:
        ordering = ["settlement_date", "id"]
        indexes = [
            models.Index(fields=["status", "settlement_date"], name="settlement_due"),
            models.Index(fields=["account", "settlement_date"], name="settlement_account"),
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
