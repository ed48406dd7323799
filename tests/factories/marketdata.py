"""Instruments to quote, prints and book tops, and clients' watchlists and alerts.

The instrument master has no service to list an instrument yet, so the factory creates the row
as the instrument master's own table defines it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory

from apps.instruments.choices import AssetClass
from apps.instruments.models import Instrument
from apps.marketdata.feed import BookTop, TradePrint

_trade_ids = itertools.count(1)
T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # a Monday, 14:30 UTC


class InstrumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instrument
        django_get_or_create = ("symbol",)

    symbol = factory.Sequence(lambda n: f"MD{n:03d}")
    name = factory.LazyAttribute(lambda o: f"{o.symbol} Holdings Inc.")
    asset_class = AssetClass.EQUITY
    currency = "USD"
    tick_size = Decimal("0.01")
    lot_size = Decimal("1")


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
