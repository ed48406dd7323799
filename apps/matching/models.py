"""Tables of the matching app: the state of each instrument's book, and the executions the
pipeline records (a trade between two orders, and one fill per side)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.accounts.models import TradingAccount
from apps.core.audit import audit_history
from apps.instruments.models import Instrument
from apps.orders.choices import OrderSide
from apps.orders.models import MONEY, QTY, Order


class BookState(models.Model):
    """Per instrument: the book's version (for workers' cached books) and its last trade.

    Every committed change to the book (a matching batch, a cancel, a replace, an expiry)
    increments ``version``; a worker whose cached book has another version rebuilds it from
    the open orders. ``next_priority`` numbers resting orders in time priority.
    """

    instrument = models.OneToOneField(
        Instrument, on_delete=models.CASCADE, primary_key=True, related_name="book_state"
    )
    version = models.BigIntegerField(default=0)
    next_priority = models.BigIntegerField(default=1)
    last_price = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    last_quantity = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    last_trade_at = models.DateTimeField(null=True, blank=True)
    batches = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Book of {self.instrument_id} v{self.version}"


class TradeStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    BUSTED = "busted", "Busted"
    CORRECTED = "corrected", "Corrected"


class Trade(models.Model):
    """One execution between a resting (maker) and an incoming (taker) order, at the maker's
    price. ``journal_entry_id`` is the ledger entry that moved its cash, shares and fees."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="trades")
    buy_order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="buy_trades")
    sell_order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="sell_trades")
    price = models.DecimalField(**MONEY)
    quantity = models.DecimalField(**QTY)
    notional = models.DecimalField(**MONEY)
    aggressor_side = models.CharField(max_length=4, choices=OrderSide.choices)
    trade_date = models.DateField()
    settlement_date = models.DateField()
    executed_at = models.DateTimeField(db_index=True)
    match_sequence = models.PositiveIntegerField(
        help_text="Its place among the trades of its matching batch."
    )
    batch = models.BigIntegerField(help_text="The book version its batch produced.")
    status = models.CharField(max_length=16, choices=TradeStatus.choices, default="active")
    journal_entry_id = models.BigIntegerField(null=True, blank=True)
    status_reason = models.TextField(blank=True, default="")
    replaces = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="replaced_by",
        help_text="The trade this one rebooked at a corrected price.",
    )

    history = audit_history()

    class Meta:
        ordering = ["-executed_at", "-id"]
        permissions = [("bust_trade", "Can request and approve trade busts and corrections")]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "batch", "match_sequence"], name="matching_trade_unique"
            ),
        ]
        indexes = [models.Index(fields=["instrument", "executed_at"])]

    def __str__(self) -> str:
        return f"Trade {self.pk} {self.quantity.normalize():f} @ {self.price.normalize():f}"


class Fill(models.Model):
    """One side of a trade, as its order and account see it. ``fee`` is the fee charged on this
    fill (the order's minimum fee falls on its first fill)."""

    trade = models.ForeignKey(Trade, on_delete=models.PROTECT, related_name="fills")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    account = models.ForeignKey(TradingAccount, on_delete=models.PROTECT, related_name="fills")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="fills")
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    liquidity = models.CharField(
        max_length=5, choices=[("maker", "Maker"), ("taker", "Taker")], default="taker"
    )
    price = models.DecimalField(**MONEY)
    quantity = models.DecimalField(**QTY)
    notional = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY)
    trade_date = models.DateField()
    settlement_date = models.DateField()
    executed_at = models.DateTimeField()

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["trade", "side"], name="matching_fill_one_per_side"),
        ]
        indexes = [
            models.Index(fields=["account", "executed_at"]),
            models.Index(fields=["order", "executed_at"]),
        ]

    def __str__(self) -> str:
        return f"Fill {self.pk} {self.side} {self.quantity.normalize():f} @ {self.price:f}"


class BookHealth(BookState):
    """The matching queue's health in the back office: orders waiting per instrument."""

    class Meta:
        proxy = True
        verbose_name = "matching queue"
        verbose_name_plural = "matching queue"


class CorrectionKind(models.TextChoices):
    BUST = "bust", "Bust"
    CORRECTION = "correction", "Price correction"


class CorrectionStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"


class TradeCorrection(ConcurrentTransitionMixin, models.Model):
    """A request to bust a trade (it never happened) or to correct its price (busted and booked
    again at ``price``). One staff member asks, a different one approves; nothing changes
    before the approval. pending_approval -> applied | rejected."""

    trade = models.ForeignKey(Trade, on_delete=models.PROTECT, related_name="corrections")
    kind = models.CharField(max_length=10, choices=CorrectionKind.choices)
    price = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="The corrected price (corrections only)."
    )
    reason = models.TextField()
    status = FSMField(
        max_length=16,
        choices=CorrectionStatus.choices,
        default=CorrectionStatus.PENDING_APPROVAL,
        protected=True,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    reversal_entry_id = models.BigIntegerField(
        null=True, blank=True, help_text="The ledger entry reversing the trade's entry."
    )
    replacement = models.ForeignKey(
        Trade,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The trade booked at the corrected price.",
    )

    history = audit_history()

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["trade"],
                condition=Q(status="pending_approval"),
                name="matching_one_pending_correction_per_trade",
            ),
            models.CheckConstraint(
                condition=Q(kind="bust", price__isnull=True) | Q(kind="correction", price__gt=0),
                name="matching_correction_price",
            ),
        ]

    def __str__(self) -> str:
        what = "Bust" if self.kind == CorrectionKind.BUST else f"Correction to {self.price:f}"
        return f"{what} of trade {self.trade_id}"

    @transition(
        field=status, source=CorrectionStatus.PENDING_APPROVAL, target=CorrectionStatus.APPLIED
    )
    def apply(self) -> None:
        """A second staff member approved it: the trade was busted (and rebooked)."""

    @transition(
        field=status, source=CorrectionStatus.PENDING_APPROVAL, target=CorrectionStatus.REJECTED
    )
    def reject(self) -> None:
        """Refused (or withdrawn by its requester); the trade stands."""
