"""Instruments to quote, prints and book tops, and clients' watchlists and alerts.

Instruments come from the instrument master's factory (listed through its service).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from apps.instruments.models import Instrument
from apps.marketdata.feed import BookTop, TradePrint
from tests.factories import instruments

_trade_ids = itertools.count(1)
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # a Monday, 14:30 UTC


def instrument(symbol: str | None = None, **fields: object) -> Instrument:
    """An instrument to quote, listed through the instrument master (the same one for the same
    symbol). No reference price or previous close unless given: market data works them out."""
    if symbol is not None:
        existing = Instrument.objects.filter(symbol=symbol).first()
        if existing is not None:
            return existing
        fields["symbol"] = symbol
    fields.setdefault("reference_price", None)
    fields.setdefault("previous_close", None)
    return instruments.InstrumentFactory(**fields)


InstrumentFactory = instrument


def trade(
    price: str | Decimal,
    quantity: str | Decimal = "10",
    *,
    at: datetime | None = None,
    seconds: float = 0,
    side: str = "buy",
    trade_id: str | None = None,
) -> TradePrint:
    """A print at ``at`` (default T0) plus ``seconds``."""
    return TradePrint(
        trade_id=trade_id or f"T{next(_trade_ids)}",
        price=Decimal(str(price)),
        quantity=Decimal(str(quantity)),
        aggressor_side=side,
        executed_at=(at or T0) + timedelta(seconds=seconds),
    )


def book(
    bids: list[tuple[str, str]] = (),
    asks: list[tuple[str, str]] = (),
    *,
    version: int | None = None,
    as_of: datetime | None = None,
) -> BookTop:
    return BookTop(
        bids=tuple((Decimal(p), Decimal(q)) for p, q in bids),
        asks=tuple((Decimal(p), Decimal(q)) for p, q in asks),
        version=version,
        as_of=as_of,
    )
