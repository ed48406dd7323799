"""Tables of the instruments app:
instruments, trading calendars and sessions, halts, corporate-action records.
"""

from __future__ import annotations

import math
import uuid
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.core.audit import audit_history
from apps.instruments.choices import (
    SPLIT_KINDS,
    AssetClass,
    ClosureKind,
    CorporateActionKind,
    CorporateActionStatus,
    HaltKind,
    InstrumentStatus,
)

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


# --- Corporate actions ----------------------------------------------------------------------

EIGHT_PLACES = Decimal("0.00000001")


def _floor_to(value: Fraction, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` at or below ``value``."""
    return Decimal(math.floor(value / Fraction(step))) * step


def _ceil_to(value: Fraction, step: Decimal) -> Decimal:
    return Decimal(math.ceil(value / Fraction(step))) * step


class CorporateAction(ConcurrentTransitionMixin, models.Model):
    """An event of an instrument's issuer that changes what its holders own: a cash dividend,
    a split or reverse split, a symbol change.

    draft -> announced -> approved -> processed, or cancelled before processing. A staff
    member enters the terms; a different one approves them (four-eyes: neither the one who
    entered nor the last one who edited them); processing changes the books once (the
    services lock the row and check the state; ledger entries carry idempotency keys).

    Dividends: ``amount_per_share`` in ``currency`` to the holders of record on
    ``record_date`` (trades settled by then), paid on ``pay_date`` (``effective_date``).
    Splits: ``ratio_new`` shares for every ``ratio_old`` (2-for-1, 3-for-2; 1-for-10 is a
    reverse split) from ``effective_date``; a fraction of a share left over is paid in cash at
    ``cash_in_lieu_price``. Symbol changes: the instrument keeps its id, history, positions
    and orders, and trades as ``new_symbol`` from ``effective_date``; ``old_symbol`` keeps
    the symbol it had.
    """

    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="corporate_actions"
    )
    kind = models.CharField(max_length=16, choices=CorporateActionKind.choices)
    status = FSMField(
        max_length=16,
        choices=CorporateActionStatus.choices,
        default=CorporateActionStatus.DRAFT,
        protected=True,
    )
    description = models.CharField(
        max_length=200, blank=True, default="", help_text="What clients read, e.g. 'Q3 dividend'."
    )
    effective_date = models.DateField(
        help_text="Pay date of a dividend; first day on the new terms for a split or symbol."
    )
    # Cash dividends
    ex_date = models.DateField(null=True, blank=True)
    record_date = models.DateField(null=True, blank=True)
    pay_date = models.DateField(null=True, blank=True)
    amount_per_share = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    # Splits and reverse splits
    ratio_new = models.PositiveIntegerField(
        null=True, blank=True, help_text="New shares for every `ratio_old` held (3 in 3-for-2)."
    )
    ratio_old = models.PositiveIntegerField(null=True, blank=True, help_text="2 in 3-for-2.")
    cash_in_lieu_price = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="Price per post-split share paid for fractions of a share.",
    )
    new_tick_size = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="The instrument's tick size from the effective date, when it changes.",
    )
    # Symbol changes
    old_symbol = models.CharField(max_length=16, blank=True, default="")
    new_symbol = models.CharField(max_length=16, blank=True, default="")
    new_name = models.CharField(max_length=200, blank=True, default="")
    # Workflow
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField(auto_now_add=True)
    last_edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    announced_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    processed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.TextField(blank=True, default="")
    summary = models.JSONField(
        default=dict, blank=True, help_text="What processing did: accounts, totals, orders."
    )
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history(excluded_fields=["summary"])

    class Meta:
        ordering = ["-effective_date", "-pk"]
        permissions = [
            ("approve_corporateaction", "Can approve corporate actions entered by others"),
            ("process_corporateaction", "Can process approved corporate actions"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=CorporateActionKind.CASH_DIVIDEND)
                | (
                    Q(ex_date__isnull=False)
                    & Q(record_date__isnull=False)
                    & Q(pay_date__isnull=False)
                    & Q(record_date__lt=models.F("pay_date"))
                    & Q(effective_date=models.F("pay_date"))
                    & Q(amount_per_share__gt=0)
                    & ~Q(currency="")
                ),
                name="corporate_action_dividend_terms",
                violation_error_message="A dividend needs its dates (record before pay), a "
                "positive amount per share and a currency.",
            ),
            models.CheckConstraint(
                condition=~Q(kind=CorporateActionKind.SPLIT)
                | Q(ratio_old__gt=0, ratio_new__gt=models.F("ratio_old")),
                name="corporate_action_split_ratio",
                violation_error_message="A split gives more new shares than old ones.",
            ),
            models.CheckConstraint(
                condition=~Q(kind=CorporateActionKind.REVERSE_SPLIT)
                | Q(ratio_new__gt=0, ratio_old__gt=models.F("ratio_new")),
                name="corporate_action_reverse_split_ratio",
                violation_error_message="A reverse split gives fewer new shares than old ones.",
            ),
            models.CheckConstraint(
                condition=~Q(kind=CorporateActionKind.SYMBOL_CHANGE) | ~Q(new_symbol=""),
                name="corporate_action_symbol_change_symbol",
                violation_error_message="A symbol change needs the new symbol.",
            ),
            models.CheckConstraint(
                condition=Q(cash_in_lieu_price__isnull=True) | Q(cash_in_lieu_price__gt=0),
                name="corporate_action_cash_in_lieu_positive",
            ),
            models.UniqueConstraint(
                fields=["entered_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="corporate_action_idempotency",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "effective_date"], name="corporate_action_due"),
            models.Index(fields=["instrument", "effective_date"], name="corporate_action_instr"),
        ]

    def __str__(self) -> str:
        symbol = self.symbol if self.instrument_id else ""
        return f"{self.reference} {self.get_kind_display()} {symbol}".strip()

    @property
    def reference(self) -> str:
        """The ``reference`` of this action's journal entries and lot reliefs."""
        return f"CA-{self.pk}"

    @property
    def symbol(self) -> str:
        return self.old_symbol or self.instrument.symbol

    @property
    def is_split(self) -> bool:
        return self.kind in SPLIT_KINDS

    @property
    def ratio(self) -> Fraction:
        """New shares per old share (3/2 for a 3-for-2 split)."""
        return Fraction(self.ratio_new, self.ratio_old)

    @property
    def ratio_display(self) -> str:
        return f"{self.ratio_new}-for-{self.ratio_old}" if self.is_split else ""

    @property
    def terms_display(self) -> str:
        """The terms in one line, as clients and staff read them."""
        if self.kind == CorporateActionKind.CASH_DIVIDEND:
            return (
                f"{self.amount_per_share.normalize():f} {self.currency} per share; ex-date "
                f"{self.ex_date}, record date {self.record_date}, paid {self.pay_date}"
            )
        if self.is_split:
            return f"{self.ratio_display} from {self.effective_date}"
        return f"{self.old_symbol or self.instrument.symbol} becomes {self.new_symbol} from " + str(
            self.effective_date
        )

    # --- Arithmetic of a split (pure) ---------------------------------------------------------

    def split_quantity(self, quantity: Decimal, lot_size: Decimal) -> tuple[Decimal, Decimal]:
        """(whole lots held after the split, the fraction left over to pay in cash) for a
        holding of ``quantity``; the fraction is cut to 8 decimal places."""
        exact = Fraction(quantity) * self.ratio
        held = _floor_to(exact, lot_size)
        fraction = _floor_to(exact - Fraction(held), EIGHT_PLACES)
        return held, fraction

    def split_price(self, price: Decimal, tick_size: Decimal, *, up: bool) -> Decimal:
        """``price`` on the post-split basis, rounded to ``tick_size`` (up or down)."""
        exact = Fraction(price) / self.ratio
        return _ceil_to(exact, tick_size) if up else _floor_to(exact, tick_size)

    # --- State machine (guards only; services lock, check four-eyes, audit and save) ----------

    @transition(
        field=status, source=CorporateActionStatus.DRAFT, target=CorporateActionStatus.ANNOUNCED
    )
    def announce(self) -> None:
        """Published to clients."""

    @transition(
        field=status,
        source=[CorporateActionStatus.DRAFT, CorporateActionStatus.ANNOUNCED],
        target=CorporateActionStatus.APPROVED,
        permission="instruments.approve_corporateaction",
    )
    def approve(self) -> None:
        """A second staff member checked the terms; processing may run from the date."""

    @transition(
        field=status,
        source=CorporateActionStatus.APPROVED,
        target=CorporateActionStatus.PROCESSED,
        permission="instruments.process_corporateaction",
    )
    def process(self) -> None:
        """The books changed: cash paid, holdings split, or the symbol changed."""

    @transition(
        field=status,
        source=[
            CorporateActionStatus.DRAFT,
            CorporateActionStatus.ANNOUNCED,
            CorporateActionStatus.APPROVED,
        ],
        target=CorporateActionStatus.CANCELLED,
    )
    def cancel(self) -> None:
        """Withdrawn before processing (the issuer cancelled it, or it was entered wrong)."""


class CorporateActionEntitlement(models.Model):
    """What one account received from a processed corporate action.

    Dividends: the holding of record (``quantity``), gross, tax withheld and net cash.
    Splits: the holding before (``quantity``) and after (``new_quantity``), the fraction
    paid in cash (``fraction``, its cash in ``gross`` = ``net``). ``journal_entry_id`` is the
    ledger entry that paid the cash or moved the shares.
    """

    action = models.ForeignKey(
        CorporateAction, on_delete=models.PROTECT, related_name="entitlements"
    )
    account = models.ForeignKey(
        "accounts.TradingAccount", on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.DecimalField(max_digits=24, decimal_places=8)
    new_quantity = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    fraction = models.DecimalField(max_digits=24, decimal_places=8, default=Decimal(0))
    gross = models.DecimalField(max_digits=24, decimal_places=8, default=Decimal(0))
    withholding = models.DecimalField(max_digits=24, decimal_places=8, default=Decimal(0))
    withholding_rate = models.DecimalField(max_digits=6, decimal_places=4, default=Decimal(0))
    net = models.DecimalField(max_digits=24, decimal_places=8, default=Decimal(0))
    currency = models.CharField(max_length=3, blank=True, default="")
    journal_entry_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["action", "account"], name="corporate_action_entitlement_once"
            ),
        ]
        indexes = [models.Index(fields=["account", "created_at"], name="entitlement_account")]

    def __str__(self) -> str:
        return f"{self.action.reference} for {self.account_id}"
