"""Tables of the orders app: clients' orders and the fee schedules that price them.

An order's hold lives in the ledger (``reserved`` cash for a buy, ``reserved`` shares for a
sell); :attr:`Order.reserved` is how much of it is still held, so the pipeline and a cancel
release exactly that, once. Orders change only through :mod:`apps.orders.services` (intake,
cancel, replace, expiry) and the matching pipeline (fills), always under the instrument's
advisory lock.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.accounts.models import TradingAccount
from apps.core.audit import audit_history
from apps.instruments.choices import AssetClass
from apps.instruments.models import Instrument
from apps.orders.choices import (
    OPEN_ORDER_STATUSES,
    CancelSource,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
)

QTY = {"max_digits": 24, "decimal_places": 8}
MONEY = {"max_digits": 24, "decimal_places": 8}
_OPEN = list(OPEN_ORDER_STATUSES)


class Order(ConcurrentTransitionMixin, models.Model):
    """A client's instruction to buy or sell.

    accepted -> partially_filled -> filled; stop orders start in pending_trigger and become
    accepted when they trigger; any open order may end cancelled (client, staff, or the unfilled
    remainder of IOC/FOK/market) or expired (DAY at the session close, GTD at expire_at);
    rejected when the pipeline cannot take an order it had queued (e.g. a market order whose
    session never opened).

    ``needs_match`` marks an order the pipeline has to take as incoming (new, triggered outside
    the book, or replaced with loss of priority); ``book_priority`` is its place among resting
    orders, for rebuilding the book after a restart.
    """

    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="orders")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    type = models.CharField(max_length=10, choices=OrderType.choices)
    quantity = models.DecimalField(**QTY)
    limit_price = models.DecimalField(**MONEY, null=True, blank=True)
    stop_price = models.DecimalField(**MONEY, null=True, blank=True)
    time_in_force = models.CharField(max_length=3, choices=TimeInForce.choices)
    expire_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the pipeline expires it: the session close for DAY, expire_at for GTD.",
    )
    client_order_id = models.CharField(max_length=64, null=True, blank=True)
    sequence = models.BigIntegerField(
        unique=True, help_text="Arrival sequence (a new one after a replace that loses priority)."
    )
    status = FSMField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.ACCEPTED, protected=True
    )
    filled_quantity = models.DecimalField(**QTY, default=Decimal(0))
    average_price = models.DecimalField(**MONEY, null=True, blank=True)
    notional_filled = models.DecimalField(**MONEY, default=Decimal(0))
    fees = models.DecimalField(**MONEY, default=Decimal(0))
    reject_reason = models.CharField(max_length=200, blank=True, default="")
    cancel_source = models.CharField(
        max_length=16, choices=CancelSource.choices, blank=True, default=""
    )
    status_reason = models.TextField(blank=True, default="")
    # The hold: cash (account currency) for a buy, shares for a sell.
    hold_total = models.DecimalField(**MONEY, default=Decimal(0))
    reserved = models.DecimalField(**MONEY, default=Decimal(0))
    hold_from_unsettled = models.DecimalField(
        **MONEY,
        default=Decimal(0),
        help_text="The part of the hold taken from unsettled cash (or shares).",
    )
    notional_estimate = models.DecimalField(
        **MONEY,
        default=Decimal(0),
        help_text="Quantity x the price it may trade at, at intake: counts toward daily limits.",
    )
    protection_price = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="A market order's collar."
    )
    lot_ids = models.JSONField(
        default=list, blank=True, help_text="Specific tax lots to relieve, for a sell."
    )
    needs_match = models.BooleanField(default=True)
    book_priority = models.BigIntegerField(null=True, blank=True)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_at = models.DateTimeField(null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-sequence"]
        permissions = [
            ("cancel_any_order", "Can cancel any client's order"),
            ("view_order_blotter", "Can view the order blotter"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "client_order_id"],
                condition=Q(client_order_id__isnull=False),
                name="orders_client_order_id_unique",
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orders_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0) & Q(filled_quantity__lte=models.F("quantity")),
                name="orders_filled_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="orders_reserved_not_negative"
            ),
        ]
        indexes = [
            models.Index(
                fields=["instrument", "sequence"],
                condition=Q(needs_match=True, status__in=_OPEN),
                name="orders_to_match",
            ),
            models.Index(
                fields=["instrument", "book_priority"],
                condition=Q(needs_match=False, status__in=_OPEN),
                name="orders_on_book",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(expires_at__isnull=False, status__in=_OPEN),
                name="orders_to_expire",
            ),
            models.Index(fields=["account", "created_at"], name="orders_account_created"),
            models.Index(fields=["status", "created_at"], name="orders_status_created"),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} {self.side} {self.quantity.normalize():f} {self.instrument_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ORDER_STATUSES

    @property
    def leaves_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def is_buy(self) -> bool:
        return self.side == OrderSide.BUY

    # --- transitions (guards only; the services and the pipeline do the rest) ---

    @transition(field=status, source=OrderStatus.PENDING_TRIGGER, target=OrderStatus.ACCEPTED)
    def trigger(self) -> None:
        """A stop order's trigger price traded."""

    @transition(
        field=status,
        source=[OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED],
        target=OrderStatus.PENDING_TRIGGER,
    )
    def wait_for_trigger(self) -> None:
        """A stop order that the book holds until its trigger price trades."""

    @transition(
        field=status,
        source=[OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED],
        target=OrderStatus.PARTIALLY_FILLED,
    )
    def fill_part(self) -> None:
        """Some of the quantity traded."""

    @transition(
        field=status,
        source=[OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED],
        target=OrderStatus.FILLED,
    )
    def fill(self) -> None:
        """All of the quantity traded."""

    @transition(field=status, source=_OPEN, target=OrderStatus.CANCELLED)
    def cancel(self) -> None:
        """Ended before filling completely; the hold left is released."""

    @transition(field=status, source=_OPEN, target=OrderStatus.EXPIRED)
    def expire(self) -> None:
        """Its time in force ran out; the hold left is released."""

    @transition(field=status, source=_OPEN, target=OrderStatus.REJECTED)
    def reject(self) -> None:
        """The pipeline could not take it (e.g. the market never opened for a queued order)."""


class FeeSchedule(models.Model):
    """What an order costs, per asset class: a rate (bps of notional) or a price per share, at
    least ``minimum_per_order`` and at most ``maximum_per_order`` (when set), charged on an
    order's fills as they happen (the minimum with the first fill)."""

    asset_class = models.CharField(max_length=16, choices=AssetClass.choices, unique=True)
    bps = models.DecimalField(
        max_digits=10, decimal_places=4, default=Decimal(0), help_text="Basis points of notional."
    )
    per_share = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    minimum_per_order = models.DecimalField(**MONEY, default=Decimal(0))
    maximum_per_order = models.DecimalField(**MONEY, null=True, blank=True)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history()

    class Meta:
        ordering = ["asset_class"]
        constraints = [
            models.CheckConstraint(
                condition=Q(bps__gte=0) & Q(per_share__gte=0) & Q(minimum_per_order__gte=0),
                name="orders_fee_schedule_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Fees {self.get_asset_class_display()}"

    def fee_for(self, *, notional: Decimal, quantity: Decimal, cents: Decimal) -> Decimal:
        """The whole fee of an order that has traded ``quantity`` for ``notional`` so far."""
        if not self.active or quantity <= 0:
            return Decimal(0)
        fee = notional * self.bps / Decimal(10000) + quantity * self.per_share
        fee = max(fee, self.minimum_per_order)
        if self.maximum_per_order is not None:
            fee = min(fee, self.maximum_per_order)
        return fee.quantize(cents, rounding=ROUND_HALF_UP)
