"""Reads of the marketdata app: quotes, depth and prints from the cache, candles from
whichever storage path the database is on, movers, and a client's own watchlists, alerts and
notifications."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max, Prefetch, QuerySet

from apps.core.errors import invalid, not_found
from apps.instruments.choices import AssetClass
from apps.instruments.models import Instrument
from apps.marketdata import snapshots, storage
from apps.marketdata.choices import AlertStatus, CandleInterval, NotificationEvent
from apps.marketdata.models import (
    MarketState,
    Notification,
    NotificationPreference,
    PriceAlert,
    Watchlist,
    WatchlistItem,
)

MOVERS_CACHE_SECONDS = 2


# --- Instruments ----------------------------------------------------------------------------


def normalize_symbol(symbol: str) -> str:
    return (symbol or "").strip().upper()


def instrument_by_symbol(symbol: str) -> Instrument:
    """The instrument with this symbol, or ``not_found``."""
    instrument = Instrument.objects.filter(symbol=normalize_symbol(symbol)).first()
    if instrument is None:
        raise not_found(f"No instrument with symbol {normalize_symbol(symbol)!r}.")
    return instrument


def instruments_by_symbol(symbols: Iterable[str]) -> dict[str, Instrument]:
    """Symbol -> instrument for the symbols that exist (one query)."""
    wanted = {normalize_symbol(s) for s in symbols}
    return {i.symbol: i for i in Instrument.objects.filter(symbol__in=wanted)}


# --- Market data ----------------------------------------------------------------------------


def instrument_quote(*, instrument: Instrument) -> dict[str, Any]:
    """L1: best bid/ask with sizes, last and last size, the day's volume, open/high/low and
    change against the previous close, with the quote stream's ``seq``."""
    return snapshots.quote(instrument)


def instrument_quotes(*, instruments: Iterable[Instrument]) -> dict[int, dict[str, Any]]:
    return snapshots.quotes(instruments)


def instrument_depth(*, instrument: Instrument, levels: int) -> dict[str, Any]:
    """L2: the top ``levels`` price levels per side, best first."""
    entry = dict(snapshots.depth(instrument))
    entry["bids"] = entry["bids"][:levels]
    entry["asks"] = entry["asks"][:levels]
    return entry


def instrument_prints(*, instrument: Instrument, limit: int) -> list[dict[str, Any]]:
    """The most recent prints, newest first."""
    return snapshots.prints(instrument)[:limit]


def instrument_candles(
    *, instrument: Instrument, interval: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """OHLCV candles with a bucket start in [start, end), oldest first, whatever the storage
    path (continuous aggregates on TimescaleDB, the roll-up table otherwise)."""
    if interval not in CandleInterval.values:
        raise invalid("Unknown interval.", interval=f"Choose one of {CandleInterval.values}.")
    return storage.candles_fetch(
        instrument_id=instrument.pk,
        interval=interval,
        start=start,
        end=end,
        mode=storage.storage_mode(),
    )


def _mover(state: MarketState) -> dict[str, Any]:
    f = snapshots.Formats(state.instrument)
    return {
        "symbol": state.instrument.symbol,
        "name": state.instrument.name,
        "asset_class": state.instrument.asset_class,
        "last": f.p(state.last),
        "change": f.p(state.change),
        "change_percent": snapshots.percent(state.change_percent),
        "volume": f.q(state.volume),
    }


def market_movers(*, asset_class: str | None = None, limit: int = 10) -> dict[str, Any]:
    """Top gainers and losers (by change against the previous close) and the most active
    (by volume) of the latest session, within one asset class or across all.

    Read from the market state (one row per instrument), cached for a moment.
    """
    if asset_class is not None and asset_class not in AssetClass.values:
        raise invalid("Unknown asset class.", asset_class=f"Choose one of {AssetClass.values}.")
    key = f"md:movers:{asset_class or '*'}:{limit}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    states = MarketState.objects.select_related("instrument").filter(last__isnull=False)
    if asset_class is not None:
        states = states.filter(instrument__asset_class=asset_class)
    day = states.aggregate(day=Max("trading_day"))["day"]
    session = states.filter(trading_day=day)
    result = {
        "asset_class": asset_class,
        "trading_day": day.isoformat() if day else None,
        "gainers": [
            _mover(s)
            for s in session.filter(change_percent__gt=0).order_by("-change_percent", "pk")[:limit]
        ],
        "losers": [
            _mover(s)
            for s in session.filter(change_percent__lt=0).order_by("change_percent", "pk")[:limit]
        ],
        "most_active": [
            _mover(s) for s in session.filter(volume__gt=0).order_by("-volume", "pk")[:limit]
        ],
    }
    cache.set(key, result, timeout=MOVERS_CACHE_SECONDS)
    return result


# --- A client's own things ------------------------------------------------------------------


def watchlists_for(*, user: Any) -> QuerySet[Watchlist]:
    items = WatchlistItem.objects.select_related("instrument").order_by("position", "pk")
    return (
        Watchlist.objects.filter(user=user)
        .prefetch_related(Prefetch("items", queryset=items))
        .order_by("name", "pk")
    )


def watchlist_for(*, user: Any, pk: Any) -> Watchlist:
    try:
        return watchlists_for(user=user).get(pk=int(pk))
    except (Watchlist.DoesNotExist, ValueError, TypeError) as exc:
        raise not_found("No such watchlist.") from exc


def price_alerts_for(*, user: Any, status: str | None = None) -> QuerySet[PriceAlert]:
    alerts = PriceAlert.objects.filter(user=user).select_related("instrument")
    if status:
        if status not in AlertStatus.values:
            raise invalid("Unknown status.", status=f"Choose one of {AlertStatus.values}.")
        alerts = alerts.filter(status=status)
    return alerts.order_by("-created_at", "-pk")


def price_alert_for(*, user: Any, pk: Any) -> PriceAlert:
    try:
        return price_alerts_for(user=user).get(pk=int(pk))
    except (PriceAlert.DoesNotExist, ValueError, TypeError) as exc:
        raise not_found("No such alert.") from exc


def notifications_for(*, user: Any, unread: bool | None = None) -> QuerySet[Notification]:
    notifications = Notification.objects.filter(user=user)
    if unread is not None:
        notifications = notifications.filter(read_at__isnull=unread)
    return notifications.order_by("-created_at", "-pk")


def notification_for(*, user: Any, pk: Any) -> Notification:
    try:
        return notifications_for(user=user).get(pk=int(pk))
    except (Notification.DoesNotExist, ValueError, TypeError) as exc:
        raise not_found("No such notification.") from exc


def notifications_unread_count(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_preferences(*, user: Any) -> list[dict[str, Any]]:
    """Every event with the channels in force (the defaults where the user never chose)."""
    from apps.marketdata.services import NOTIFICATION_DEFAULTS

    rows = {p.event: p for p in NotificationPreference.objects.filter(user=user)}
    result = []
    for event in NotificationEvent:
        row = rows.get(event.value)
        channels = (
            {"in_app": row.in_app, "email": row.email}
            if row
            else dict(NOTIFICATION_DEFAULTS[event.value])
        )
        result.append({"event": event.value, "label": event.label, **channels})
    return result


def depth_levels(value: Any) -> int:
    """Parse ``?levels=`` (1 .. MARKETDATA_DEPTH_LEVELS, default 10)."""
    maximum = settings.MARKETDATA_DEPTH_LEVELS
    if value in (None, ""):
        return min(10, maximum)
    try:
        levels = int(value)
    except (TypeError, ValueError) as exc:
        raise invalid("levels must be a whole number.", levels="A whole number.") from exc
    if not 1 <= levels <= maximum:
        raise invalid(f"levels must be 1 to {maximum}.", levels=f"1 to {maximum}.")
    return levels


def candle_price(value: Decimal, instrument: Instrument) -> str | None:
    return snapshots.Formats(instrument).p(value)
