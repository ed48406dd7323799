"""The quote / depth / recent-prints cache: what the REST endpoints and the WebSocket
snapshots serve, kept current by :func:`apps.marketdata.services.market_data_apply`.

The cache is Django's (Redis when ``REDIS_URL`` is set, process memory otherwise). Entries
are JSON-ready dicts with decimals already formatted to the instrument's tick and lot steps.
They are a projection of :class:`~apps.marketdata.models.MarketState` and the ticks, so a
missing entry (a flushed Redis, an evicted key) is rebuilt from those - never from orders.
Each entry carries its stream sequence number; a write never replaces a newer entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder

from apps.instruments.models import Instrument
from apps.marketdata.feed import TradePrint
from apps.marketdata.models import MarketState, TradeTick

QUOTE = "md:quote:{}"
DEPTH = "md:depth:{}"
PRINTS = "md:prints:{}"


# --- Formatting -----------------------------------------------------------------------------


def places(step: Decimal | None) -> int:
    """Decimal places of a tick or lot step (0.01 -> 2, 1 -> 0)."""
    if not step:
        return 0
    return max(0, -Decimal(step).normalize().as_tuple().exponent)


def fmt(value: Decimal | None, decimals: int) -> str | None:
    """A decimal as a string with the step's places, never dropping precision it has."""
    if value is None:
        return None
    value = Decimal(value)
    quantum = Decimal(1).scaleb(-decimals)
    quantized = value.quantize(quantum)
    if quantized == value:
        return str(quantized)
    return format(value.normalize(), "f")


def percent(value: Decimal | None) -> str | None:
    """A percentage rounded to hundredths ("2.02")."""
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def iso(instant: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as the REST API renders instants."""
    if instant is None:
        return None
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_safe(data: Any) -> Any:
    """Decimals to strings, instants to ISO 8601: what a channel layer and a browser take."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


class Formats:
    """Price and quantity places of one instrument."""

    __slots__ = ("price", "quantity", "symbol")

    def __init__(self, instrument: Instrument) -> None:
        self.symbol = instrument.symbol
        self.price = places(instrument.tick_size)
        self.quantity = places(instrument.lot_size)

    def p(self, value: Decimal | None) -> str | None:
        return fmt(value, self.price)

    def q(self, value: Decimal | None) -> str | None:
        return fmt(value, self.quantity)


# --- Building entries -----------------------------------------------------------------------


def quote_entry(instrument: Instrument, state: MarketState | None) -> dict[str, Any]:
    """The L1 quote of ``instrument``: best bid/ask with sizes, last, the day's statistics."""
    f = Formats(instrument)
    if state is None:
        previous = getattr(instrument, "previous_close", None) or getattr(
            instrument, "reference_price", None
        )
        return {
            "symbol": f.symbol,
            "bid": None,
            "bid_size": None,
            "ask": None,
            "ask_size": None,
            "last": None,
            "last_size": None,
            "volume": f.q(Decimal(0)),
            "open": None,
            "high": None,
            "low": None,
            "previous_close": f.p(previous),
            "change": None,
            "change_percent": None,
            "trading_day": None,
            "timestamp": None,
            "seq": 0,
        }
    stamps = [t for t in (state.last_trade_at, state.book_at) if t is not None]
    return {
        "symbol": f.symbol,
        "bid": f.p(state.bid),
        "bid_size": f.q(state.bid_size),
        "ask": f.p(state.ask),
        "ask_size": f.q(state.ask_size),
        "last": f.p(state.last),
        "last_size": f.q(state.last_size),
        "volume": f.q(state.volume),
        "open": f.p(state.open),
        "high": f.p(state.high),
        "low": f.p(state.low),
        "previous_close": f.p(state.previous_close),
        "change": f.p(state.change),
        "change_percent": percent(state.change_percent),
        "trading_day": state.trading_day.isoformat() if state.trading_day else None,
        "timestamp": iso(max(stamps)) if stamps else None,
        "seq": state.quote_seq,
    }


def depth_entry(instrument: Instrument, state: MarketState | None) -> dict[str, Any]:
    """The top levels of the book as stored (``MARKETDATA_DEPTH_LEVELS`` per side)."""
    depth = state.depth if state is not None else {}
    return {
        "symbol": instrument.symbol,
        "bids": depth.get("bids", []),
        "asks": depth.get("asks", []),
        "timestamp": iso(state.book_at) if state is not None else None,
        "seq": state.depth_seq if state is not None else 0,
    }


def print_entry(instrument: Instrument, trade: TradePrint, seq: int) -> dict[str, Any]:
    f = Formats(instrument)
    return {
        "symbol": f.symbol,
        "price": f.p(trade.price),
        "quantity": f.q(trade.quantity),
        "side": trade.aggressor_side,
        "timestamp": iso(trade.executed_at),
        "trade_id": trade.trade_id,
        "seq": seq,
    }


def prints_from_ticks(instrument: Instrument) -> list[dict[str, Any]]:
    """The most recent prints, newest first, read from the ticks."""
    ticks = TradeTick.objects.filter(instrument=instrument).order_by("-time", "-seq")[
        : settings.MARKETDATA_RECENT_PRINTS
    ]
    return [
        print_entry(
            instrument,
            TradePrint(
                trade_id=t.trade_id,
                price=t.price,
                quantity=t.quantity,
                aggressor_side=t.aggressor_side,
                executed_at=t.time,
            ),
            t.seq,
        )
        for t in ticks
    ]


# --- The cache ------------------------------------------------------------------------------


def _newer(current: dict[str, Any] | None, entry: dict[str, Any]) -> bool:
    return current is None or entry["seq"] >= current.get("seq", 0)


def store(
    instrument_id: int,
    *,
    quote: dict[str, Any] | None = None,
    depth: dict[str, Any] | None = None,
    prints: list[dict[str, Any]] | None = None,
) -> None:
    """Write entries, keeping whichever of old and new is further along its stream.

    ``prints`` are merged into the recent list by sequence number (newest first, capped).
    """
    keys = {QUOTE.format(instrument_id), DEPTH.format(instrument_id), PRINTS.format(instrument_id)}
    current = cache.get_many(list(keys))
    updates: dict[str, Any] = {}
    if quote is not None and _newer(current.get(QUOTE.format(instrument_id)), quote):
        updates[QUOTE.format(instrument_id)] = quote
    if depth is not None and _newer(current.get(DEPTH.format(instrument_id)), depth):
        updates[DEPTH.format(instrument_id)] = depth
    if prints:
        existing = current.get(PRINTS.format(instrument_id))
        if existing is not None:
            by_seq = {p["seq"]: p for p in existing}
            by_seq.update({p["seq"]: p for p in prints})
            merged = sorted(by_seq.values(), key=lambda p: p["seq"], reverse=True)
            updates[PRINTS.format(instrument_id)] = merged[: settings.MARKETDATA_RECENT_PRINTS]
        # Without a cached list, the next read rebuilds it from the ticks (which have these).
    if updates:
        cache.set_many(updates, timeout=None)


def forget(instrument_id: int) -> None:
    cache.delete_many(
        [QUOTE.format(instrument_id), DEPTH.format(instrument_id), PRINTS.format(instrument_id)]
    )


def _state(instrument: Instrument) -> MarketState | None:
    return MarketState.objects.filter(pk=instrument.pk).first()


def quote(instrument: Instrument) -> dict[str, Any]:
    key = QUOTE.format(instrument.pk)
    entry = cache.get(key)
    if entry is None:
        entry = quote_entry(instrument, _state(instrument))
        cache.add(key, entry, timeout=None)
    return entry


def quotes(instruments: Iterable[Instrument]) -> dict[int, dict[str, Any]]:
    """Quotes of many instruments: one cache round trip, one query for the misses."""
    instruments = list(instruments)
    keys = {QUOTE.format(i.pk): i for i in instruments}
    found = cache.get_many(list(keys))
    result = {keys[k].pk: v for k, v in found.items()}
    missing = [i for i in instruments if i.pk not in result]
    if missing:
        states = MarketState.objects.in_bulk([i.pk for i in missing])
        built = {i.pk: quote_entry(i, states.get(i.pk)) for i in missing}
        for pk, entry in built.items():
            cache.add(QUOTE.format(pk), entry, timeout=None)
        result.update(built)
    return result


def depth(instrument: Instrument) -> dict[str, Any]:
    key = DEPTH.format(instrument.pk)
    entry = cache.get(key)
    if entry is None:
        entry = depth_entry(instrument, _state(instrument))
        cache.add(key, entry, timeout=None)
    return entry


def prints(instrument: Instrument) -> list[dict[str, Any]]:
    key = PRINTS.format(instrument.pk)
    entry = cache.get(key)
    if entry is None:
        entry = prints_from_ticks(instrument)
        cache.add(key, entry, timeout=None)
    return entry


def rebuild(instrument: Instrument) -> None:
    """Rewrite the instrument's entries from the database."""
    state = _state(instrument)
    cache.set_many(
        {
            QUOTE.format(instrument.pk): quote_entry(instrument, state),
            DEPTH.format(instrument.pk): depth_entry(instrument, state),
            PRINTS.format(instrument.pk): prints_from_ticks(instrument),
        },
        timeout=None,
    )
