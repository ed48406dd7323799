"""Tables of the marketdata app.

Time series (the same schema on both storage paths, see apps.marketdata.storage):

* :class:`TradeTick` - every print, unique per (instrument, trade id, time), so recording a
  batch twice records it once. A TimescaleDB hypertable when the extension is present.
* :class:`QuoteTick` - the best bid/ask whenever it changes. A hypertable likewise.
* :class:`Candle` - the incremental OHLCV roll-up kept on plain PostgreSQL; on TimescaleDB
  continuous aggregates (views named ``marketdata_candle_<interval>``) take its place.

State and people:

* :class:`MarketState` - one row per instrument: the day's statistics, the book's top, the
  stream sequence numbers. The quote/depth cache is a projection of it.
* :class:`Watchlist` / :class:`WatchlistItem`, :class:`PriceAlert`,
  :class:`Notification`, :class:`NotificationPreference`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from timescale.db.models.fields import TimescaleDateTimeField

from apps.core.audit import audit_history
from apps.instruments.models import Instrument
from apps.marketdata.choices import (
    AggressorSide,
    AlertCondition,
    AlertStatus,
    CandleInterval,
    NotificationEvent,
)

PRICE = {"max_digits": 20, "decimal_places": 8}
VOLUME = {"max_digits": 28, "decimal_places": 8}


class TradeTick(models.Model):
    """One print. ``time`` is the hypertable's partition column on TimescaleDB."""

    time = TimescaleDateTimeField(interval="1 day")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    trade_id = models.CharField(max_length=64)
    price = models.DecimalField(**PRICE)
    quantity = models.DecimalField(**PRICE)
    aggressor_side = models.CharField(max_length=4, choices=AggressorSide.choices)
    seq = models.BigIntegerField(help_text="Position in the instrument's trades stream.")

    class Meta:
        constraints = [
            # Includes the partition column, as TimescaleDB requires of unique indexes.
            models.UniqueConstraint(
                fields=["instrument", "trade_id", "time"], name="marketdata_tick_unique_trade"
            )
        ]
        indexes = [models.Index(fields=["instrument", "-time"], name="marketdata_tick_recent")]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.quantity}@{self.price} {self.time:%Y-%m-%d %H:%M:%S}"


class QuoteTick(models.Model):
    """The best bid and offer at ``time`` (recorded when it changes)."""

    time = TimescaleDateTimeField(interval="1 day")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    bid = models.DecimalField(null=True, blank=True, **PRICE)
    bid_size = models.DecimalField(null=True, blank=True, **PRICE)
    ask = models.DecimalField(null=True, blank=True, **PRICE)
    ask_size = models.DecimalField(null=True, blank=True, **PRICE)

    class Meta:
        indexes = [models.Index(fields=["instrument", "-time"], name="marketdata_quote_recent")]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.bid}/{self.ask} {self.time:%Y-%m-%d %H:%M:%S}"


class Candle(models.Model):
    """OHLCV for one instrument, interval and bucket (start, UTC) on plain PostgreSQL.

    Rebuilt from the ticks of the touched buckets after every batch (1m from ticks, each
    wider interval from the one below), so it is exact and idempotent.
    """

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    interval = models.CharField(max_length=3, choices=CandleInterval.choices)
    bucket = models.DateTimeField()
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)
    volume = models.DecimalField(**VOLUME)
    trade_count = models.IntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "interval", "bucket"], name="marketdata_candle_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.interval} {self.bucket:%Y-%m-%d %H:%M}"


class MarketState(models.Model):
    """The live state of one instrument's market, updated under a row lock by each batch.

    A projection of the pipeline's output (no history of its own: the ticks are the history).
    ``quote_seq``, ``depth_seq`` and ``trades_seq`` number the WebSocket streams; the REST
    snapshots carry them too, so a client can line a snapshot up with live updates.
    """

    instrument = models.OneToOneField(
        Instrument, on_delete=models.CASCADE, primary_key=True, related_name="market_state"
    )
    trading_day = models.DateField(null=True, blank=True)
    open = models.DecimalField(null=True, blank=True, **PRICE)
    high = models.DecimalField(null=True, blank=True, **PRICE)
    low = models.DecimalField(null=True, blank=True, **PRICE)
    last = models.DecimalField(null=True, blank=True, **PRICE)
    last_size = models.DecimalField(null=True, blank=True, **PRICE)
    last_trade_at = models.DateTimeField(null=True, blank=True)
    volume = models.DecimalField(default=0, **VOLUME)
    trade_count = models.IntegerField(default=0)
    previous_close = models.DecimalField(null=True, blank=True, **PRICE)
    change = models.DecimalField(null=True, blank=True, **PRICE)
    change_percent = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    bid = models.DecimalField(null=True, blank=True, **PRICE)
    bid_size = models.DecimalField(null=True, blank=True, **PRICE)
    ask = models.DecimalField(null=True, blank=True, **PRICE)
    ask_size = models.DecimalField(null=True, blank=True, **PRICE)
    depth = models.JSONField(default=dict, blank=True, help_text="Top levels: {bids, asks}.")
    book_version = models.BigIntegerField(null=True, blank=True)
    book_at = models.DateTimeField(null=True, blank=True)
    quote_seq = models.BigIntegerField(default=0)
    depth_seq = models.BigIntegerField(default=0)
    trades_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["trading_day", "change_percent"], name="marketdata_state_movers"),
            models.Index(fields=["trading_day", "volume"], name="marketdata_state_active"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} last {self.last}"


class Watchlist(models.Model):
    """A client's named list of instruments (a client keeps several)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlists"
    )
    name = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="marketdata_watchlist_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"


class WatchlistItem(models.Model):
    watchlist = models.ForeignKey(Watchlist, on_delete=models.CASCADE, related_name="items")
    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)
    added_at = models.DateTimeField(auto_now_add=True)

    history = audit_history()

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["watchlist", "instrument"], name="marketdata_watchlist_item_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.watchlist_id}: {self.instrument_id}"


class PriceAlert(ConcurrentTransitionMixin, models.Model):
    """Tell the client when an instrument trades at or through a level.

    ``above``/``below``: ``threshold`` is a price. ``percent_move``: ``threshold`` is a
    percentage, measured from ``base_price`` in either direction. Evaluated on every print;
    it triggers once (active -> triggered) and its notification is recorded once.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="price_alerts"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="+")
    condition = models.CharField(max_length=16, choices=AlertCondition.choices)
    threshold = models.DecimalField(**PRICE)
    base_price = models.DecimalField(null=True, blank=True, **PRICE)
    note = models.CharField(max_length=200, blank=True, default="")
    status = FSMField(
        max_length=16, choices=AlertStatus.choices, default=AlertStatus.ACTIVE, protected=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    triggered_price = models.DecimalField(null=True, blank=True, **PRICE)
    triggered_trade_id = models.CharField(max_length=64, blank=True, default="")
    cancelled_at = models.DateTimeField(null=True, blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["instrument", "condition"],
                condition=Q(status=AlertStatus.ACTIVE),
                name="marketdata_alert_active",
            ),
            models.Index(fields=["user", "status"], name="marketdata_alert_user"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gt=0), name="marketdata_alert_positive"),
            models.CheckConstraint(
                condition=~Q(condition=AlertCondition.PERCENT_MOVE) | Q(base_price__gt=0),
                name="marketdata_alert_percent_base",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.condition} {self.threshold} ({self.status})"

    @transition(field=status, source=AlertStatus.ACTIVE, target=AlertStatus.TRIGGERED)
    def trigger(self) -> None:
        """A print satisfied the condition; the services record which one."""

    @transition(field=status, source=AlertStatus.ACTIVE, target=AlertStatus.CANCELLED)
    def cancel(self) -> None:
        """The client no longer wants it."""


class NotificationPreference(models.Model):
    """How a user wants to hear about one kind of event. No row: the defaults apply."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event = models.CharField(max_length=32, choices=NotificationEvent.choices)
    in_app = models.BooleanField(default=True, help_text="Shown live in the portal.")
    email = models.BooleanField(default=True, help_text="Sent by e-mail.")
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history()

    class Meta:
        ordering = ["user", "event"]
        constraints = [
            models.UniqueConstraint(fields=["user", "event"], name="marketdata_preference_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.event}"


class Notification(models.Model):
    """Something Bourse told a user: recorded once per ``key``, whatever the channels.

    ``in_app`` and ``email`` are the channels the user's preferences chose at the time;
    ``emailed_at`` says the e-mail went out.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.CharField(max_length=32, choices=NotificationEvent.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    key = models.CharField(
        max_length=128, null=True, blank=True, help_text="Dedupe key: one notification per key."
    )
    in_app = models.BooleanField()
    email = models.BooleanField()
    emailed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"],
                condition=Q(key__isnull=False),
                name="marketdata_notification_once",
            )
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="marketdata_notif_user")]

    def __str__(self) -> str:
        return f"{self.user}: {self.subject}"
