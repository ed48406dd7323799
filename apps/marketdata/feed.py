"""What the matching pipeline hands to market data after each committed batch.

:class:`TradePrint` is one execution; :class:`BookTop` the book's top levels after the batch.
Both are immutable and validate themselves, so a bad value fails where it was made, not in
the middle of storing ticks. ``to_json``/``from_json`` carry them through a task (the outbox)
unchanged: decimals as strings, instants as ISO 8601.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

from django.utils.dateparse import parse_datetime

from apps.marketdata.choices import AggressorSide

Level = tuple[Decimal, Decimal]


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{name} must be a Decimal (or a decimal string), never a float")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{name} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"{name} must be finite")
    return result


def _instant(value: Any, name: str) -> datetime:
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            raise ValueError(f"{name} is not an ISO 8601 instant: {value!r}")
        value = parsed
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime")
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


@dataclass(frozen=True, slots=True)
class TradePrint:
    """One execution: price and quantity (Decimal), the aggressor's side, when, and the
    trade's id, which makes recording it idempotent."""

    trade_id: str
    price: Decimal
    quantity: Decimal
    aggressor_side: str
    executed_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "trade_id", str(self.trade_id))
        if not self.trade_id or len(self.trade_id) > 64:
            raise ValueError("trade_id must be 1 to 64 characters")
        price = _decimal(self.price, "price")
        quantity = _decimal(self.quantity, "quantity")
        if price <= 0 or quantity <= 0:
            raise ValueError("price and quantity must be positive")
        if self.aggressor_side not in AggressorSide.values:
            raise ValueError(f"aggressor_side must be one of {AggressorSide.values}")
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "executed_at", _instant(self.executed_at, "executed_at"))

    def to_json(self) -> dict[str, str]:
        return {
            "trade_id": self.trade_id,
            "price": str(self.price),
            "quantity": str(self.quantity),
            "aggressor_side": self.aggressor_side,
            "executed_at": self.executed_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TradePrint:
        return cls(**{key: data[key] for key in cls.__slots__})


def _levels(levels: Any, name: str) -> tuple[Level, ...]:
    result = []
    for level in levels or ():
        price, quantity = level
        price = _decimal(price, f"{name} price")
        quantity = _decimal(quantity, f"{name} quantity")
        if price <= 0 or quantity <= 0:
            raise ValueError(f"{name} levels need a positive price and quantity")
        result.append((price, quantity))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class BookTop:
    """The book's best levels after a batch: ``bids`` best (highest) first, ``asks`` best
    (lowest) first, each level ``(price, quantity)``.

    ``version`` is the book's version when the pipeline has one; a top with a version not
    newer than the one already applied is ignored, so a replayed batch never rewinds the book.
    ``as_of`` is when the book looked like this (default: when it is applied).
    """

    bids: tuple[Level, ...] = field(default_factory=tuple)
    asks: tuple[Level, ...] = field(default_factory=tuple)
    version: int | None = None
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        bids = _levels(self.bids, "bid")
        asks = _levels(self.asks, "ask")
        if any(a[0] <= b[0] for a, b in pairwise(bids)):
            raise ValueError("bids must be ordered best (highest) first, one level per price")
        if any(b[0] <= a[0] for a, b in pairwise(asks)):
            raise ValueError("asks must be ordered best (lowest) first, one level per price")
        object.__setattr__(self, "bids", bids)
        object.__setattr__(self, "asks", asks)
        if self.as_of is not None:
            object.__setattr__(self, "as_of", _instant(self.as_of, "as_of"))

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    def to_json(self) -> dict[str, Any]:
        return {
            "bids": [[str(p), str(q)] for p, q in self.bids],
            "asks": [[str(p), str(q)] for p, q in self.asks],
            "version": self.version,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BookTop:
        return cls(
            bids=tuple(tuple(level) for level in data.get("bids") or ()),
            asks=tuple(tuple(level) for level in data.get("asks") or ()),
            version=data.get("version"),
            as_of=data.get("as_of"),
        )
