"""Writes of the marketdata app.

For the trading pipeline:

* :func:`market_data_apply` - after each committed matching batch: record the prints and the
  book's top, update candles, the quote/depth/prints cache and price alerts, publish.
* :func:`private_publish` - push an update to one user's private stream (orders, account).
* :func:`notify` - tell a user about an event the way they chose (portal, e-mail), once.

For clients: watchlists, price alerts, notification preferences and read marks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, F, Q, Value
from django.utils import timezone
from django_fsm import can_proceed

from apps.core.audit import stamp
from apps.core.errors import ApplicationError, ErrorCode, invalid, invalid_state, not_found
from apps.core.services import outbox_enqueue
from apps.instruments.models import Instrument
from apps.marketdata import realtime, snapshots, storage
from apps.marketdata.choices import (
    PRIVATE_CHANNELS,
    AlertCondition,
    AlertStatus,
    NotificationEvent,
    StreamChannel,
)
from apps.marketdata.feed import BookTop, TradePrint
from apps.marketdata.models import (
    MarketState,
    Notification,
    NotificationPreference,
    PriceAlert,
    Watchlist,
    WatchlistItem,
)

logger = logging.getLogger("bourse.marketdata")

PERCENT = Decimal("0.0001")


# --- The pipeline's interface ---------------------------------------------------------------


@dataclass(frozen=True)
class AppliedBatch:
    """What :func:`market_data_apply` did: prints recorded now (a replay records none),
    whether the quote and depth moved, and the alerts that triggered."""

    recorded: int
    quote_changed: bool
    depth_changed: bool
    triggered_alert_ids: tuple[int, ...] = field(default_factory=tuple)


def trading_day(instant: datetime) -> Any:
    """The session date a print belongs to (``MARKETDATA_TRADING_DAY_TZ``)."""
    return instant.astimezone(ZoneInfo(settings.MARKETDATA_TRADING_DAY_TZ)).date()


def _dedupe(trades: Iterable[TradePrint]) -> list[TradePrint]:
    seen: set[str] = set()
    unique = []
    for trade in trades:
        if not isinstance(trade, TradePrint):
            raise TypeError("trades must be TradePrint instances")
        if trade.trade_id not in seen:
            seen.add(trade.trade_id)
            unique.append(trade)
    # Execution order; Python's sort is stable, so prints of one instant keep theirs.
    return sorted(unique, key=lambda t: t.executed_at)


def _locked_state(instrument: Instrument) -> MarketState:
    MarketState.objects.get_or_create(instrument=instrument)
    return MarketState.objects.select_for_update().get(pk=instrument.pk)


def _previous_close(instrument: Instrument, state: MarketState, day: Any, mode: str) -> Any:
    """The close a new session's change is measured against.

    The instrument master's official ``previous_close`` when it has one (the field may not
    exist yet, hence getattr), else the last price of the previous session, else the last
    daily candle, else the instrument's ``reference_price`` (likewise read defensively).
    """
    official = getattr(instrument, "previous_close", None)
    if official is not None:
        return official
    if state.last is not None:
        return state.last
    tz = ZoneInfo(settings.MARKETDATA_TRADING_DAY_TZ)
    day_start = datetime(day.year, day.month, day.day, tzinfo=tz)
    from_candles = storage.daily_close_before(
        instrument_id=instrument.pk, day_start=day_start, mode=mode
    )
    if from_candles is not None:
        return from_candles
    return getattr(instrument, "reference_price", None)


def _apply_prints(
    state: MarketState, instrument: Instrument, prints: Sequence[TradePrint], mode: str
) -> None:
    for trade in prints:
        day = trading_day(trade.executed_at)
        if state.trading_day is None or day > state.trading_day:
            state.previous_close = _previous_close(instrument, state, day, mode)
            state.trading_day = day
            state.open = state.high = state.low = None
            state.volume = Decimal(0)
            state.trade_count = 0
        if day < state.trading_day:
            continue  # a late print of an earlier session: in the ticks and candles only
        price = trade.price
        state.open = price if state.open is None else state.open
        state.high = price if state.high is None else max(state.high, price)
        state.low = price if state.low is None else min(state.low, price)
        state.volume += trade.quantity
        state.trade_count += 1
        if state.last_trade_at is None or trade.executed_at >= state.last_trade_at:
            state.last = price
            state.last_size = trade.quantity
            state.last_trade_at = trade.executed_at
    if state.last is not None and state.previous_close:
        state.change = state.last - state.previous_close
        state.change_percent = (state.change * 100 / state.previous_close).quantize(PERCENT)
    else:
        state.change = state.change_percent = None


def _apply_book(
    state: MarketState, instrument: Instrument, book: BookTop | None
) -> tuple[bool, bool]:
    """Take the book's top if it is newer; returns (depth changed, best bid/ask changed)."""
    if book is None:
        return False, False
    if book.version is not None and state.book_version is not None:
        if book.version <= state.book_version:
            return False, False
    elif book.as_of is not None and state.book_at is not None and book.as_of < state.book_at:
        return False, False
    f = snapshots.Formats(instrument)
    levels = settings.MARKETDATA_DEPTH_LEVELS
    depth = {
        "bids": [[f.p(p), f.q(q)] for p, q in book.bids[:levels]],
        "asks": [[f.p(p), f.q(q)] for p, q in book.asks[:levels]],
    }
    bid, ask = book.best_bid, book.best_ask
    top = (
        bid[0] if bid else None,
        bid[1] if bid else None,
        ask[0] if ask else None,
        ask[1] if ask else None,
    )
    top_changed = top != (state.bid, state.bid_size, state.ask, state.ask_size)
    depth_changed = depth != state.depth
    state.bid, state.bid_size, state.ask, state.ask_size = top
    state.depth = depth
    state.book_version = book.version if book.version is not None else state.book_version
    state.book_at = book.as_of or timezone.now()
    return depth_changed, top_changed


def market_data_apply(
    *, instrument: Instrument, trades: list[TradePrint], book: BookTop | None
) -> AppliedBatch:
    """Apply one committed matching batch of ``instrument`` to market data.

    Call it after the batch's transaction has committed (it runs its own, and refuses to
    run inside another). In one transaction: record the prints not recorded yet as ticks
    (numbered in the instrument's trades stream), take ``book`` if it is newer than the one
    held, record the best bid/ask when it moved, update the day's statistics, rebuild the
    touched candles (plain PostgreSQL; continuous aggregates on TimescaleDB), and trigger
    price alerts the prints satisfy (each notifies once). After commit: update the cache and
    publish quotes, depth and trades. Idempotent: a replayed batch changes nothing.
    """
    prints = _dedupe(trades)
    mode = storage.storage_mode()
    with transaction.atomic(durable=True):
        state = _locked_state(instrument)
        recorded_before = storage.ticks_recorded(instrument_id=instrument.pk, prints=prints)
        fresh = [t for t in prints if t.trade_id not in recorded_before]
        numbered = [(t, state.trades_seq + n) for n, t in enumerate(fresh, start=1)]
        inserted = storage.ticks_insert(instrument_id=instrument.pk, prints=numbered)
        new = [(t, seq) for t, seq in numbered if t.trade_id in inserted]
        state.trades_seq += len(numbered)
        _apply_prints(state, instrument, [t for t, _ in new], mode)
        depth_changed, top_changed = _apply_book(state, instrument, book)
        if top_changed:
            storage.quote_tick_insert(
                instrument_id=instrument.pk,
                time=state.book_at,
                bid=book.best_bid,
                ask=book.best_ask,
            )
        quote_changed = bool(new) or top_changed
        state.quote_seq += 1 if quote_changed else 0
        state.depth_seq += 1 if depth_changed else 0
        state.save()
        if new and mode == storage.POSTGRESQL:
            storage.candles_rollup(
                instrument_id=instrument.pk,
                start=min(t.executed_at for t, _ in new),
                end=max(t.executed_at for t, _ in new),
            )
        triggered = price_alerts_evaluate(instrument=instrument, prints=new) if new else []

        quote = snapshots.quote_entry(instrument, state) if quote_changed else None
        depth = snapshots.depth_entry(instrument, state) if depth_changed else None
        prints_out = [snapshots.print_entry(instrument, t, seq) for t, seq in new]
        transaction.on_commit(
            lambda: _after_apply(instrument, quote=quote, depth=depth, prints=prints_out),
            robust=True,
        )
    return AppliedBatch(
        recorded=len(new),
        quote_changed=quote_changed,
        depth_changed=depth_changed,
        triggered_alert_ids=tuple(a.pk for a in triggered),
    )


def _after_apply(
    instrument: Instrument,
    *,
    quote: dict[str, Any] | None,
    depth: dict[str, Any] | None,
    prints: list[dict[str, Any]],
) -> None:
    snapshots.store(instrument.pk, quote=quote, depth=depth, prints=prints)
    publications: list[realtime.Publication] = []
    if prints:
        publications.append(
            (
                realtime.market_group(StreamChannel.TRADES, instrument.pk),
                realtime.market_message(StreamChannel.TRADES, instrument.symbol, prints),
            )
        )
    if quote is not None:
        publications.append(
            (
                realtime.market_group(StreamChannel.QUOTES, instrument.pk),
                realtime.market_message(StreamChannel.QUOTES, instrument.symbol, [quote]),
            )
        )
    if depth is not None:
        publications.append(
            (
                realtime.market_group(StreamChannel.DEPTH, instrument.pk),
                realtime.market_message(StreamChannel.DEPTH, instrument.symbol, [depth]),
            )
        )
    realtime.publish(publications)


def private_publish(
    *,
    user_id: int,
    channel: Literal["orders", "account", "notifications"],
    data: dict[str, Any],
) -> None:
    """Push ``data`` to one user's private stream, after the current transaction commits
    (at once outside one). Decimals and instants in ``data`` become strings.

    Delivery is at most once; each message is numbered per user and stream, so a client that
    sees a gap reloads its orders or account from the REST API.
    """
    if channel not in PRIVATE_CHANNELS:
        raise ValueError(f"channel must be one of {[str(c) for c in PRIVATE_CHANNELS]}")
    payload = snapshots.json_safe(data)

    def send() -> None:
        seq = realtime.next_private_seq(user_id, channel)
        realtime.publish(
            [
                (
                    realtime.private_group(channel, user_id),
                    realtime.private_message(channel, seq, payload),
                )
            ]
        )

    transaction.on_commit(send, robust=True)


def private_publish_many(*, items: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
    """:func:`private_publish` for many (user id, channel, data) at once, after commit: one
    sequence increment per user and stream, and one pipelined round trip to Redis."""
    for _, channel, _ in items:
        if channel not in PRIVATE_CHANNELS:
            raise ValueError(f"channel must be one of {[str(c) for c in PRIVATE_CHANNELS]}")
    if not items:
        return
    payloads = [(user_id, channel, snapshots.json_safe(data)) for user_id, channel, data in items]

    def send() -> None:
        counts: dict[tuple[int, str], int] = {}
        for user_id, channel, _ in payloads:
            counts[(user_id, channel)] = counts.get((user_id, channel), 0) + 1
        next_seq = {
            stream: realtime.next_private_seq(*stream, count=n) - n for stream, n in counts.items()
        }
        publications: list[realtime.Publication] = []
        for user_id, channel, payload in payloads:
            next_seq[(user_id, channel)] += 1
            publications.append(
                (
                    realtime.private_group(channel, user_id),
                    realtime.private_message(channel, next_seq[(user_id, channel)], payload),
                )
            )
        realtime.publish(publications)

    transaction.on_commit(send, robust=True)


# --- Notifications --------------------------------------------------------------------------

NOTIFICATION_DEFAULTS: dict[str, dict[str, bool]] = {
    NotificationEvent.PRICE_ALERT: {"in_app": True, "email": True},
    NotificationEvent.ORDER_FILL: {"in_app": True, "email": True},
    NotificationEvent.DEPOSIT: {"in_app": True, "email": True},
}


def notification_channels(*, user: Any, event: str) -> dict[str, bool]:
    """The channels ``user`` chose for ``event`` (the defaults when they never chose)."""
    row = NotificationPreference.objects.filter(user=user, event=event).first()
    if row is None:
        return dict(NOTIFICATION_DEFAULTS[event])
    return {"in_app": row.in_app, "email": row.email}


def notification_payload(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "event": notification.event,
        "subject": notification.subject,
        "body": notification.body,
        "data": notification.data,
        "created_at": snapshots.iso(notification.created_at),
        "read": notification.read_at is not None,
    }


def notify(
    *,
    user: Any,
    event: str,
    subject: str,
    body: str,
    data: dict[str, Any] | None = None,
    key: str | None = None,
) -> Notification:
    """Tell ``user`` about ``event`` through the channels they chose, and record it.

    ``event`` is a :class:`~apps.marketdata.choices.NotificationEvent` value (price_alert,
    order_fill, deposit). ``key`` makes it happen once: a second call with the same key
    returns the first notification and sends nothing. The e-mail goes through the outbox to
    the ``notifications`` queue; the live push goes to the user's ``notifications`` stream;
    both only once the surrounding transaction commits.
    """
    if event not in NotificationEvent.values:
        raise ValueError(f"event must be one of {NotificationEvent.values}")
    channels = notification_channels(user=user, event=event)
    with transaction.atomic():
        if key is not None:
            existing = Notification.objects.filter(user=user, key=key).first()
            if existing is not None:
                return existing
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    user=user,
                    event=event,
                    subject=subject[:200],
                    body=body,
                    data=snapshots.json_safe(data or {}),
                    key=key,
                    in_app=channels["in_app"],
                    email=channels["email"] and bool(getattr(user, "email", "")),
                )
        except IntegrityError:
            return Notification.objects.get(user=user, key=key)
        if notification.email:
            outbox_enqueue(
                task_name="apps.marketdata.tasks.notify_email",
                args=[notification.pk],
                queue="notifications",
            )
        if notification.in_app:
            private_publish(
                user_id=user.pk,
                channel=StreamChannel.NOTIFICATIONS,
                data=notification_payload(notification),
            )
    return notification


def notification_email_send(*, notification_id: int) -> bool:
    """Send a notification's e-mail once; returns whether it was sent now."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or not notification.email or notification.emailed_at:
            return False
        link = f"{settings.PORTAL_BASE_URL.rstrip('/')}/markets/notifications/"
        send_mail(
            subject=f"[Bourse] {notification.subject}",
            message=f"{notification.body}\n\nYour notifications: {link}\n"
            "Choose how Bourse tells you about events on that page.",
            from_email=None,
            recipient_list=[notification.user.email],
        )
        notification.emailed_at = timezone.now()
        notification.save(update_fields=["emailed_at"])
    return True


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


@transaction.atomic
def notification_preferences_update(
    *, user: Any, preferences: dict[str, dict[str, bool]]
) -> dict[str, dict[str, bool]]:
    """Set the channels per event: ``{"price_alert": {"in_app": true, "email": false}}``.

    Events left out keep their settings; a channel left out keeps its value.
    """
    unknown = set(preferences) - set(NotificationEvent.values)
    if unknown:
        raise invalid(
            "Unknown notification events.", **dict.fromkeys(sorted(unknown), "Unknown event.")
        )
    for event, channels in preferences.items():
        row = NotificationPreference.objects.select_for_update().filter(user=user, event=event)
        row = row.first() or NotificationPreference(
            user=user, event=event, **NOTIFICATION_DEFAULTS[event]
        )
        for name in ("in_app", "email"):
            if name in channels:
                setattr(row, name, bool(channels[name]))
        stamp(row, actor=user, reason="Notification preferences changed")
        row.save()
    return {
        event: notification_channels(user=user, event=event) for event in NotificationEvent.values
    }


# --- Price alerts ---------------------------------------------------------------------------


def _alert_text(alert: PriceAlert, price: Decimal, symbol: str, f: snapshots.Formats) -> str:
    if alert.condition == AlertCondition.ABOVE:
        return f"{symbol} traded at {f.p(price)}, at or above your alert at {f.p(alert.threshold)}"
    if alert.condition == AlertCondition.BELOW:
        return f"{symbol} traded at {f.p(price)}, at or below your alert at {f.p(alert.threshold)}"
    move = (price - alert.base_price) * 100 / alert.base_price
    return (
        f"{symbol} traded at {f.p(price)}, {move.quantize(Decimal('0.01')):+}% from "
        f"{f.p(alert.base_price)} (your alert: a move of {alert.threshold.normalize():f}%)"
    )


def _alert_met(alert: PriceAlert, price: Decimal) -> bool:
    if alert.condition == AlertCondition.ABOVE:
        return price >= alert.threshold
    if alert.condition == AlertCondition.BELOW:
        return price <= alert.threshold
    return abs(price - alert.base_price) * 100 / alert.base_price >= alert.threshold


def price_alerts_evaluate(
    *, instrument: Instrument, prints: Sequence[tuple[TradePrint, int]]
) -> list[PriceAlert]:
    """Trigger the active alerts of ``instrument`` that ``prints`` satisfy (inside the
    caller's transaction): each once, at the first print that meets it, with a notification
    keyed by the alert."""
    if not prints:
        return []
    prices = [t.price for t, _ in prints]
    high = Value(max(prices), output_field=DecimalField())
    low = Value(min(prices), output_field=DecimalField())
    base = F("base_price")
    met = (
        Q(condition=AlertCondition.ABOVE, threshold__lte=high)
        | Q(condition=AlertCondition.BELOW, threshold__gte=low)
        | (
            Q(condition=AlertCondition.PERCENT_MOVE)
            & (
                Q(threshold__lte=(high - base) * 100 / base)
                | Q(threshold__lte=(base - low) * 100 / base)
            )
        )
    )
    candidates = (
        PriceAlert.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(instrument=instrument, status=AlertStatus.ACTIVE)
        .filter(met)
        .select_related("user")
        .order_by("pk")
    )
    f = snapshots.Formats(instrument)
    triggered = []
    for alert in candidates:
        trade = next((t for t, _ in prints if _alert_met(alert, t.price)), None)
        if trade is None:
            continue
        alert.trigger()
        alert.triggered_at = trade.executed_at
        alert.triggered_price = trade.price
        alert.triggered_trade_id = trade.trade_id
        stamp(alert, reason=f"Trade {trade.trade_id} at {f.p(trade.price)}")
        alert.save()
        text = _alert_text(alert, trade.price, instrument.symbol, f)
        notify(
            user=alert.user,
            event=NotificationEvent.PRICE_ALERT,
            subject=f"Price alert: {instrument.symbol} at {f.p(trade.price)}",
            body=f"{text} ({snapshots.iso(trade.executed_at)}).",
            data={
                "alert_id": alert.pk,
                "symbol": instrument.symbol,
                "condition": alert.condition,
                "threshold": f.p(alert.threshold)
                if alert.condition != AlertCondition.PERCENT_MOVE
                else str(alert.threshold.normalize()),
                "price": f.p(trade.price),
                "trade_id": trade.trade_id,
                "executed_at": snapshots.iso(trade.executed_at),
            },
            key=f"price_alert:{alert.pk}",
        )
        triggered.append(alert)
    return triggered


def price_alert_create(
    *,
    user: Any,
    instrument: Instrument,
    condition: str,
    threshold: Decimal,
    base_price: Decimal | None = None,
    note: str = "",
) -> PriceAlert:
    """A new active alert. ``percent_move`` measures from ``base_price``, by default the last
    price (or the previous close before the first trade)."""
    if condition not in AlertCondition.values:
        raise invalid("Unknown condition.", condition=f"Choose one of {AlertCondition.values}.")
    threshold = Decimal(threshold)
    if threshold <= 0:
        raise invalid("The threshold must be positive.", threshold="Must be greater than 0.")
    if condition == AlertCondition.PERCENT_MOVE:
        if threshold > 1000:
            raise invalid("A move is at most 1000%.", threshold="At most 1000.")
        if base_price is None:
            state = MarketState.objects.filter(pk=instrument.pk).first()
            base_price = state and (state.last or state.previous_close)
            base_price = base_price or getattr(instrument, "reference_price", None)
        if base_price is None:
            raise invalid(
                f"{instrument.symbol} has no price yet to measure a move from.",
                base_price="Give the price to measure the move from.",
            )
        if Decimal(base_price) <= 0:
            raise invalid("The base price must be positive.", base_price="Must be greater than 0.")
    else:
        base_price = None
    with transaction.atomic():
        active = PriceAlert.objects.filter(user=user, status=AlertStatus.ACTIVE).count()
        if active >= settings.MARKETDATA_MAX_ACTIVE_ALERTS:
            raise ApplicationError(
                ErrorCode.LIMIT_EXCEEDED,
                f"You can have at most {settings.MARKETDATA_MAX_ACTIVE_ALERTS} active alerts.",
                {"limit": settings.MARKETDATA_MAX_ACTIVE_ALERTS},
            )
        alert = PriceAlert(
            user=user,
            instrument=instrument,
            condition=condition,
            threshold=threshold,
            base_price=base_price,
            note=note.strip()[:200],
        )
        stamp(alert, actor=user, reason="Alert created")
        alert.save()
    return alert


def price_alert_cancel(*, alert: PriceAlert, actor: Any, reason: str = "") -> PriceAlert:
    """Cancel an active alert; a triggered or cancelled one is ``invalid_state``."""
    with transaction.atomic():
        locked = PriceAlert.objects.select_for_update().get(pk=alert.pk)
        if not can_proceed(locked.cancel):
            raise invalid_state(f"This alert is {locked.status}.", status=locked.status)
        locked.cancel()
        locked.cancelled_at = timezone.now()
        stamp(locked, actor=actor, reason=reason or "Cancelled")
        locked.save()
    return locked


# --- Watchlists -----------------------------------------------------------------------------


def _watchlist_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise invalid("A watchlist needs a name of 1 to 60 characters.", name="1 to 60 characters.")
    return name


def watchlist_create(*, user: Any, name: str, instruments: Sequence[Instrument] = ()) -> Watchlist:
    name = _watchlist_name(name)
    with transaction.atomic():
        if Watchlist.objects.filter(user=user).count() >= settings.MARKETDATA_MAX_WATCHLISTS:
            raise ApplicationError(
                ErrorCode.LIMIT_EXCEEDED,
                f"You can keep at most {settings.MARKETDATA_MAX_WATCHLISTS} watchlists.",
                {"limit": settings.MARKETDATA_MAX_WATCHLISTS},
            )
        if Watchlist.objects.filter(user=user, name__iexact=name).exists():
            raise invalid("You already have a watchlist with this name.", name="Already used.")
        watchlist = Watchlist(user=user, name=name)
        stamp(watchlist, actor=user, reason="Watchlist created")
        watchlist.save()
        for instrument in instruments:
            watchlist_item_add(watchlist=watchlist, instrument=instrument, actor=user)
    return watchlist


def watchlist_rename(*, watchlist: Watchlist, name: str, actor: Any) -> Watchlist:
    name = _watchlist_name(name)
    with transaction.atomic():
        clash = Watchlist.objects.filter(user=watchlist.user_id, name__iexact=name)
        if clash.exclude(pk=watchlist.pk).exists():
            raise invalid("You already have a watchlist with this name.", name="Already used.")
        watchlist.name = name
        stamp(watchlist, actor=actor, reason="Watchlist renamed")
        watchlist.save(update_fields=["name", "updated_at"])
    return watchlist


def watchlist_delete(*, watchlist: Watchlist, actor: Any) -> None:
    with transaction.atomic():
        for item in watchlist.items.all():
            stamp(item, actor=actor, reason="Watchlist deleted")
            item.delete()
        stamp(watchlist, actor=actor, reason="Watchlist deleted")
        watchlist.delete()


def watchlist_item_add(
    *, watchlist: Watchlist, instrument: Instrument, actor: Any
) -> WatchlistItem:
    """Add ``instrument`` at the end; adding one already there changes nothing."""
    with transaction.atomic():
        Watchlist.objects.select_for_update().filter(pk=watchlist.pk).first()
        existing = WatchlistItem.objects.filter(watchlist=watchlist, instrument=instrument).first()
        if existing is not None:
            return existing
        count = WatchlistItem.objects.filter(watchlist=watchlist).count()
        if count >= settings.MARKETDATA_MAX_WATCHLIST_ITEMS:
            raise ApplicationError(
                ErrorCode.LIMIT_EXCEEDED,
                f"A watchlist holds at most {settings.MARKETDATA_MAX_WATCHLIST_ITEMS} instruments.",
                {"limit": settings.MARKETDATA_MAX_WATCHLIST_ITEMS},
            )
        last = WatchlistItem.objects.filter(watchlist=watchlist).order_by("-position").first()
        item = WatchlistItem(
            watchlist=watchlist,
            instrument=instrument,
            position=(last.position + 1) if last else 0,
        )
        stamp(item, actor=actor, reason=f"{instrument.symbol} added")
        item.save()
    return item


def watchlist_item_remove(*, watchlist: Watchlist, instrument: Instrument, actor: Any) -> None:
    with transaction.atomic():
        item = WatchlistItem.objects.filter(watchlist=watchlist, instrument=instrument).first()
        if item is None:
            raise not_found(f"{instrument.symbol} is not on this watchlist.")
        stamp(item, actor=actor, reason=f"{instrument.symbol} removed")
        item.delete()


# --- Maintenance ----------------------------------------------------------------------------


def market_state_initialize(*, instrument: Instrument) -> MarketState:
    """The state of an instrument before its first trade: the previous close it will be
    measured against (read defensively from the instrument master)."""
    with transaction.atomic():
        state, created = MarketState.objects.get_or_create(instrument=instrument)
        if created or state.previous_close is None:
            previous = getattr(instrument, "previous_close", None) or getattr(
                instrument, "reference_price", None
            )
            if previous is not None:
                state.previous_close = previous
                state.save(update_fields=["previous_close", "updated_at"])
    transaction.on_commit(lambda: snapshots.rebuild(instrument), robust=True)
    return state


def market_cache_rebuild(*, instruments: Iterable[Instrument]) -> int:
    """Rewrite the quote/depth/prints cache from the database (after Redis lost it)."""
    count = 0
    for instrument in instruments:
        snapshots.rebuild(instrument)
        count += 1
    return count


def candles_rebuild(*, instrument: Instrument, start: datetime, end: datetime) -> None:
    """Recompute the roll-up candles of [start, end] from the ticks (plain PostgreSQL)."""
    if storage.storage_mode() != storage.POSTGRESQL:
        raise invalid_state("Candles are continuous aggregates on TimescaleDB; refresh those.")
    with transaction.atomic():
        storage.candles_rollup(instrument_id=instrument.pk, start=start, end=end)


def ticks_purge(*, now: datetime | None = None) -> int:
    """Retention on plain PostgreSQL (TimescaleDB's policies do it there)."""
    if storage.storage_mode() != storage.POSTGRESQL:
        return 0
    now = now or timezone.now()
    with transaction.atomic():
        return storage.ticks_purge(
            before_ticks=now - timedelta(days=settings.MARKETDATA_TICK_RETENTION_DAYS),
            before_quotes=now - timedelta(days=settings.MARKETDATA_QUOTE_RETENTION_DAYS),
            before_minutes=now - timedelta(days=settings.MARKETDATA_MINUTE_CANDLE_RETENTION_DAYS),
        )


def fills_notify(*, fill_ids: Sequence[int]) -> int:
    """Confirm each fill to its client (``order_fill``: in the portal and by e-mail, as they
    chose), once per fill (a repeat sends nothing). Returns how many fills it looked at."""
    from apps.ledger.money import cash_text
    from apps.matching.models import Fill

    fills = (
        Fill.objects.filter(pk__in=list(fill_ids))
        .select_related("order", "instrument", "account__owner")
        .order_by("pk")
    )
    sent = 0
    for fill in fills:
        order, account = fill.order, fill.account
        symbol = fill.instrument.symbol
        quantity = f"{fill.quantity.normalize():f}"
        price = f"{fill.price.quantize(fill.instrument.tick_size):f}"
        fee = cash_text(fill.fee, fill.instrument.currency)
        verb = "Bought" if fill.side == "buy" else "Sold"
        notify(
            user=account.owner,
            event=NotificationEvent.ORDER_FILL,
            subject=f"{verb} {quantity} {symbol} at {price}",
            body=(
                f"Trade confirmation: order {order.pk} on account {account.number} "
                f"{verb.lower()} {quantity} {symbol} at {price} {fill.instrument.currency}, "
                f"fee {fee}, trade date {fill.trade_date}, settles on "
                f"{fill.settlement_date}. The order is now {order.status.replace('_', ' ')}."
            ),
            data={
                "fill_id": fill.pk,
                "order_id": order.pk,
                "account": account.number,
                "symbol": symbol,
                "side": fill.side,
                "quantity": fill.quantity,
                "price": fill.price,
                "fee": fill.fee,
                "settlement_date": fill.settlement_date,
            },
            key=f"fill:{fill.pk}",
        )
        sent += 1
    return sent
