"""Tables of the positions app: what each account holds of each instrument, its tax lots and
the realized gains of every lot relief.

The ledger holds the shares (settled, unsettled, reserved buckets); a position is their sum
with the cost basis the ledger does not know. The nightly reconciliation compares the two and
records every difference as a :class:`ReconciliationBreak`.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

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

    def __str__(self) -> str:
        return f"Break {self.account_id}/{self.instrument_id} at {self.run_at:%Y-%m-%d}"

    @property
    def difference(self) -> Decimal:
        return self.position_quantity - self.ledger_quantity
