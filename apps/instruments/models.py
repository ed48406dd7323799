"""Tables of the instruments app:
instruments, trading calendars and sessions, halts, corporate-action records.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.core.audit import audit_history
from apps.instruments.choices import AssetClass, ClosureKind, HaltKind, InstrumentStatus

WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class TradingCalendar(models.Model):
    """When a market trades: its time zone, daily session times, trading weekdays, the public
    and early-close days of a `holidays` financial calendar, and closures staff add.

    Times are wall-clock times in ``timezone``; a round-the-clock calendar trades from
    midnight to midnight of each trading day. ``rules_version`` changes whenever the calendar
    or one of its closures changes, so cached schedules know they are stale.
    """

    code = models.CharField(max_length=16, unique=True, help_text="e.g. XNYS, 24x7")
    name = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, help_text="IANA zone, e.g. America/New_York")
    trading_days = models.CharField(
        max_length=7,
        default="12345",
        help_text="ISO weekdays the market trades: 1 = Monday ... 7 = Sunday.",
    )
    round_the_clock = models.BooleanField(
        default=False, help_text="Trades all day on every trading day (no session times)."
    )
    pre_open_time = models.TimeField(
        null=True, blank=True, help_text="Orders are taken from here until the open."
    )
    open_time = models.TimeField(null=True, blank=True)
    close_time = models.TimeField(null=True, blank=True)
    early_close_time = models.TimeField(
        null=True,
        blank=True,
        help_text="Close on the holiday calendar's early-close days when it names no time "
        "(1 pm for NYSE).",
    )
    holiday_source = models.CharField(
        max_length=8,
        blank=True,
        default="",
        help_text="Market code of the `holidays` package's financial calendars (XNYS, XSIF).",
    )
    rules_version = models.UUIDField(default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history(excluded_fields=["rules_version"])

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(round_the_clock=True)
                | (
                    Q(open_time__isnull=False)
                    & Q(close_time__isnull=False)
                    & Q(close_time__gt=models.F("open_time"))
                ),
                name="calendar_session_times",
                violation_error_message="Open and close times are required, close after open.",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def trading_weekdays(self) -> frozenset[int]:
        """Python weekdays (0 = Monday) the market trades on."""
        return frozenset(int(c) - 1 for c in self.trading_days)

    @property
    def trading_days_display(self) -> str:
        if len(self.trading_weekdays) == len(WEEKDAY_NAMES):
            return "every day"
        return ", ".join(WEEKDAY_NAMES[d] for d in sorted(self.trading_weekdays))


class CalendarClosure(models.Model):
    """A day staff mark as closed, closing early or opening late (beyond the holiday source).

    A closure replaces whatever the holiday source says about that date.
    """

    calendar = models.ForeignKey(TradingCalendar, on_delete=models.CASCADE, related_name="closures")
    date = models.DateField()
    kind = models.CharField(max_length=16, choices=ClosureKind.choices, default=ClosureKind.CLOSED)
    open_time = models.TimeField(null=True, blank=True, help_text="Late open: the new open.")
    close_time = models.TimeField(null=True, blank=True, help_text="Early close: the new close.")
    description = models.CharField(max_length=200, help_text="Why, as clients will read it.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = audit_history()

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "date"],
                name="closure_one_per_day",
                violation_error_message="That date already has a closure; edit it instead.",
            ),
            models.CheckConstraint(
                condition=Q(kind=ClosureKind.CLOSED)
                | Q(kind=ClosureKind.EARLY_CLOSE, close_time__isnull=False)
                | Q(kind=ClosureKind.LATE_OPEN, open_time__isnull=False),
                name="closure_kind_times",
                violation_error_message="Early closes need a close time, late opens an open time.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.calendar.code} {self.date} {self.get_kind_display()}"


class Instrument(ConcurrentTransitionMixin, models.Model):
    """Something clients can hold and trade: prices in ``tick_size`` steps, quantities in
    ``lot_size`` steps (fractions allowed where the step is below 1, e.g. 0.001 g of gold).

    Status: listed -> halted -> listed (resume); listed or halted -> suspended -> listed
    (reinstate); any of those -> delisted (final). Transitions are called by
    apps.instruments.services only.
    """

    symbol = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=200)
    asset_class = models.CharField(max_length=16, choices=AssetClass.choices)
    currency = models.CharField(max_length=3, default="USD")
    isin = models.CharField("ISIN", max_length=12, blank=True, default="")
    cusip = models.CharField("CUSIP", max_length=9, blank=True, default="")
    tick_size = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("0.01"))
    lot_size = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("1"))
    min_quantity = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("1"))
    price_band_pct = models.DecimalField(
        "price band (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("10"),
        help_text="Orders priced further than this from the reference price are refused.",
    )
    reference_price = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    previous_close = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    reference_price_at = models.DateTimeField(null=True, blank=True)
    settlement_cycle = models.PositiveSmallIntegerField(
        default=1, help_text="Business days from trade date to settlement date (T+n)."
    )
    calendar = models.ForeignKey(
        TradingCalendar, on_delete=models.PROTECT, related_name="instruments"
    )
    accredited_only = models.BooleanField(
        default=False, help_text="Only accredited investors may trade it."
    )
    status = FSMField(
        max_length=16,
        choices=InstrumentStatus.choices,
        default=InstrumentStatus.LISTED,
        protected=True,
    )
    status_reason = models.TextField(blank=True, default="")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history()

    class Meta:
        ordering = ["symbol"]
        permissions = [
            ("halt_instrument", "Can halt and resume trading in instruments"),
            ("suspend_instrument", "Can suspend and reinstate instruments"),
            ("delist_instrument", "Can delist instruments"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["isin"], condition=~Q(isin=""), name="instrument_isin_unique"
            ),
            models.UniqueConstraint(
                fields=["cusip"], condition=~Q(cusip=""), name="instrument_cusip_unique"
            ),
            models.CheckConstraint(
                condition=Q(tick_size__gt=0),
                name="instrument_tick_positive",
                violation_error_message="The tick size must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(lot_size__gt=0),
                name="instrument_lot_positive",
                violation_error_message="The lot step must be greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(min_quantity__gte=models.F("lot_size")),
                name="instrument_min_quantity_at_least_lot",
                violation_error_message="The minimum quantity must be at least one lot step.",
            ),
            models.CheckConstraint(
                condition=Q(price_band_pct__gt=0, price_band_pct__lte=100),
                name="instrument_price_band_range",
                violation_error_message="The price band is a percentage above 0, at most 100.",
            ),
            models.CheckConstraint(
                condition=Q(settlement_cycle__lte=10),
                name="instrument_settlement_cycle_range",
                violation_error_message="The settlement cycle is at most 10 business days.",
            ),
        ]
        indexes = [
            models.Index(fields=["asset_class", "status"]),
            models.Index(fields=["currency"]),
        ]

    def __str__(self) -> str:
        return self.symbol

    # --- Rules of the instrument (pure; order intake calls them through selectors) ---------

    def is_on_tick(self, price: Decimal) -> bool:
        return price > 0 and price % self.tick_size == 0

    def is_on_lot(self, quantity: Decimal) -> bool:
        return quantity > 0 and quantity % self.lot_size == 0

    def price_band(self) -> tuple[Decimal, Decimal] | None:
        """Lowest and highest acceptable prices (on the tick grid), or None without a
        reference price."""
        if self.reference_price is None:
            return None
        width = self.reference_price * self.price_band_pct / 100
        low = ((self.reference_price - width) / self.tick_size).to_integral_value(ROUND_CEILING)
        high = ((self.reference_price + width) / self.tick_size).to_integral_value(ROUND_FLOOR)
        low_price = max(low * self.tick_size, self.tick_size)
        return low_price.normalize(), (high * self.tick_size).normalize()

    @property
    def day_change(self) -> Decimal | None:
        if self.reference_price is None or self.previous_close is None:
            return None
        return self.reference_price - self.previous_close

    @property
    def day_change_pct(self) -> Decimal | None:
        if self.day_change is None or not self.previous_close:
            return None
        return (self.day_change / self.previous_close * 100).quantize(Decimal("0.01"))

    # --- State machine (guards only; services lock, audit and save) -------------------------

    def _changed(self) -> None:
        self.status_changed_at = timezone.now()

    @transition(
        field=status,
        source=InstrumentStatus.LISTED,
        target=InstrumentStatus.HALTED,
        permission="instruments.halt_instrument",
    )
    def halt(self) -> None:
        """Stop trading for now (news pending, volatility, regulatory or operational)."""
        self._changed()

    @transition(
        field=status,
        source=InstrumentStatus.HALTED,
        target=InstrumentStatus.LISTED,
        permission="instruments.halt_instrument",
    )
    def resume(self) -> None:
        """Trading resumes after a halt."""
        self._changed()

    @transition(
        field=status,
        source=[InstrumentStatus.LISTED, InstrumentStatus.HALTED],
        target=InstrumentStatus.SUSPENDED,
        permission="instruments.suspend_instrument",
    )
    def suspend(self) -> None:
        """Suspend for an extended period (regulatory suspension, pending corporate event)."""
        self._changed()

    @transition(
        field=status,
        source=InstrumentStatus.SUSPENDED,
        target=InstrumentStatus.LISTED,
        permission="instruments.suspend_instrument",
    )
    def reinstate(self) -> None:
        """Lift a suspension."""
        self._changed()

    @transition(
        field=status,
        source=[InstrumentStatus.LISTED, InstrumentStatus.HALTED, InstrumentStatus.SUSPENDED],
        target=InstrumentStatus.DELISTED,
        permission="instruments.delist_instrument",
    )
    def delist(self) -> None:
        """No longer tradable, for good; positions stay on the books."""
        self._changed()


class InstrumentHalt(models.Model):
    """One trading halt of an instrument: why, who started and ended it, and when.

    At most one halt of an instrument is open (``ended_at`` empty) at a time.
    """

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="halts")
    kind = models.CharField(max_length=20, choices=HaltKind.choices, default=HaltKind.OTHER)
    halt_reason = models.TextField()
    started_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resume_at = models.DateTimeField(
        null=True, blank=True, help_text="Planned resumption; trading resumes by itself then."
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    end_reason = models.TextField(blank=True, default="")

    history = audit_history()

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument"],
                condition=Q(ended_at__isnull=True),
                name="halt_one_open_per_instrument",
            ),
        ]
        indexes = [
            models.Index(
                fields=["resume_at"], condition=Q(ended_at__isnull=True), name="halt_open_resume_at"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument} halted {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None
