"""Tables of the instruments app:
instruments, trading calendars and sessions, halts, corporate-action records.
"""

from decimal import Decimal

from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField

from apps.core.audit import audit_history
from apps.instruments.choices import AssetClass, InstrumentStatus


class Instrument(ConcurrentTransitionMixin, models.Model):
    """Something clients can hold and trade: prices in ``tick_size`` steps, quantities in
    ``lot_size`` steps (fractions allowed where the step is below 1, e.g. 0.001 g of gold)."""

    symbol = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    asset_class = models.CharField(max_length=16, choices=AssetClass.choices)
    currency = models.CharField(max_length=3, default="USD")
    tick_size = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("0.01"))
    lot_size = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("1"))
    min_quantity = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("1"))
    status = FSMField(
        max_length=16,
        choices=InstrumentStatus.choices,
        default=InstrumentStatus.LISTED,
        protected=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history()

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return self.symbol
