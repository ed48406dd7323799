"""Tables of the positions app: what each account holds of each instrument, its tax lots and
the realized gains of every lot relief.

The ledger holds the shares (settled, unsettled, reserved buckets); a position is their sum
with the cost basis the ledger does not know. The nightly reconciliation compares the two and
records every difference as a :class:`ReconciliationBreak`.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.accounts.models import TradingAccount
from apps.core.audit import audit_history
from apps.instruments.models import Instrument

QTY = {"max_digits": 24, "decimal_places": 8}
MONEY = {"max_digits": 24, "decimal_places": 8}


class Position(models.Model):
    """An account's holding of one instrument. ``quantity`` counts every share the account owns
    (settled, unsettled and reserved for sell orders); ``settled_quantity`` those whose trades
    have settled. ``cost_basis`` is the open lots' total cost (fees included), so
    ``average_cost`` = cost_basis / quantity."""

    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="positions")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="positions")
    quantity = models.DecimalField(**QTY, default=Decimal(0))
    settled_quantity = models.DecimalField(**QTY, default=Decimal(0))
    cost_basis = models.DecimalField(**MONEY, default=Decimal(0))
    average_cost = models.DecimalField(**MONEY, default=Decimal(0))
    realized_pnl = models.DecimalField(**MONEY, default=Decimal(0))
    realized_short_term = models.DecimalField(**MONEY, default=Decimal(0))
    realized_long_term = models.DecimalField(**MONEY, default=Decimal(0))
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history()

    class Meta:
        ordering = ["account", "instrument"]
        constraints = [
            models.UniqueConstraint(fields=["account", "instrument"], name="positions_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="positions_not_short"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.instrument_id}: {self.quantity.normalize():f}"


class LotSource(models.TextChoices):
    TRADE = "trade", "Trade"
    TRANSFER_IN = "transfer_in", "Transfer in"
    CORPORATE_ACTION = "corporate_action", "Corporate action"


class TaxLot(models.Model):
    """Shares acquired together: when, how many are left, and what they cost (fees included).
    ``cost`` is the cost of the ``quantity`` still open."""

    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="lots")
    acquired_on = models.DateField()
    original_quantity = models.DecimalField(**QTY)
    quantity = models.DecimalField(**QTY)
    cost = models.DecimalField(**MONEY)
    source = models.CharField(max_length=16, choices=LotSource.choices, default=LotSource.TRADE)
    source_reference = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["acquired_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=0), name="positions_lot_not_negative"),
        ]
        indexes = [
            models.Index(
                fields=["position", "acquired_on"],
                condition=Q(quantity__gt=0),
                name="positions_open_lots",
            )
        ]

    def __str__(self) -> str:
        return f"Lot {self.pk} {self.quantity.normalize():f} from {self.acquired_on}"

    @property
    def cost_per_share(self) -> Decimal:
        return self.cost / self.quantity if self.quantity else Decimal(0)


class GainTerm(models.TextChoices):
    SHORT = "short", "Short term"
    LONG = "long", "Long term"


class LotRelief(models.Model):
    """Shares of one lot given up by one sell fill, with the realized gain."""

    lot = models.ForeignKey(TaxLot, on_delete=models.PROTECT, related_name="reliefs")
    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="reliefs")
    fill_id = models.BigIntegerField(null=True, blank=True)
    reference = models.CharField(max_length=64, blank=True, default="")
    sold_on = models.DateField()
    quantity = models.DecimalField(**QTY)
    cost = models.DecimalField(**MONEY)
    proceeds = models.DecimalField(**MONEY)
    gain = models.DecimalField(**MONEY)
    term = models.CharField(max_length=5, choices=GainTerm.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sold_on", "-id"]

    def __str__(self) -> str:
        return f"Relief {self.pk} {self.quantity.normalize():f} of lot {self.lot_id}"


class ReconciliationBreak(models.Model):
    """A difference between a position and the ledger's securities balances, found by the
    nightly reconciliation; ops resolve it with a note."""

    run_at = models.DateTimeField(db_index=True)
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="+")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    position_quantity = models.DecimalField(**QTY)
    ledger_quantity = models.DecimalField(**QTY)
    position_settled = models.DecimalField(**QTY, default=Decimal(0))
    ledger_settled = models.DecimalField(**QTY, default=Decimal(0))
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True, default="")

    history = audit_history()

    class Meta:
        ordering = ["-run_at", "id"]
        permissions = [
            ("resolve_reconciliationbreak", "Can resolve position reconciliation breaks")
        ]

    def __str__(self) -> str:
        return f"Break {self.account_id}/{self.instrument_id} at {self.run_at:%Y-%m-%d}"

    @property
    def difference(self) -> Decimal:
        return self.position_quantity - self.ledger_quantity


class TransferStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Waiting for a second approval"
    APPLIED = "applied", "Applied to the account"
    REJECTED = "rejected", "Rejected"


class SecuritiesTransfer(ConcurrentTransitionMixin, models.Model):
    """A free-of-payment transfer of shares into a client's account (e.g. ACATS from another
    broker): custody's shares become the client's settled shares, with a tax lot carrying the
    cost basis and acquisition date the delivering broker reported.

    pending_approval -> applied (posted to the ledger and the position) or rejected. A transfer
    worth more than SECURITIES_TRANSFER_FOUR_EYES_VALUE waits for a second staff member; a
    smaller one is applied when it is requested.
    """

    account = models.ForeignKey(
        TradingAccount, on_delete=models.PROTECT, related_name="securities_transfers"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(**QTY)
    cost_basis = models.DecimalField(**MONEY, help_text="Cost per share, as reported.")
    cost = models.DecimalField(**MONEY, help_text="Total cost of the lot (quantity x cost basis).")
    acquired_on = models.DateField(
        help_text="When the client acquired the shares (holding period)."
    )
    reason = models.TextField()
    external_reference = models.CharField(
        max_length=64, blank=True, default="", help_text="E.g. the ACATS control number."
    )
    status = FSMField(
        max_length=20,
        choices=TransferStatus.choices,
        default=TransferStatus.PENDING_APPROVAL,
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
    journal_entry_id = models.BigIntegerField(null=True, blank=True)
    lot = models.ForeignKey(
        TaxLot, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    history = audit_history()

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [
            ("approve_securitiestransfer", "Can approve or reject securities transfers"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["requested_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="positions_transfer_idempotency",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="positions_transfer_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(cost_basis__gte=0), name="positions_transfer_cost_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "requested_at"], name="positions_transfer_status"),
        ]

    def __str__(self) -> str:
        return (
            f"Transfer {self.pk} {self.quantity.normalize():f} {self.instrument_id} ({self.status})"
        )

    @property
    def ledger_reference(self) -> str:
        """The ``reference`` of the transfer's journal entry and tax lot."""
        return f"SXF-{self.pk}"

    @transition(field=status, source=TransferStatus.PENDING_APPROVAL, target=TransferStatus.APPLIED)
    def apply(self) -> None:
        """Posted: the shares are the client's, with their lot."""

    @transition(
        field=status, source=TransferStatus.PENDING_APPROVAL, target=TransferStatus.REJECTED
    )
    def reject(self) -> None:
        """Refused; nothing was posted."""
