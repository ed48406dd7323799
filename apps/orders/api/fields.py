"""Decimal output fields of the trading API: prices in the instrument's tick, quantities in its
lot step, cash in the currency's minor unit, always as strings ("101.25", "10", "0.001").

Each field reads its value from ``source`` and the instrument (or currency) from a second
attribute path of the same object, so one serializer renders any instrument correctly.
"""

from __future__ import annotations

from decimal import Decimal
from operator import attrgetter
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.ledger.money import minor_unit

DECIMAL_SCHEMA = {"type": "string", "format": "decimal", "example": "101.25"}


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def decimal_text(value: Decimal | None, places: int) -> str | None:
    """``value`` with at least ``places`` decimals (more when it has more significant ones,
    up to 8), e.g. an average price of 101.125 on a 0.01 tick stays "101.125"."""
    if value is None:
        return None
    own = _places(value) if value != value.to_integral_value() else 0
    return f"{value.quantize(Decimal(1).scaleb(-min(max(places, own), 8))):f}"


def price_text(value: Decimal | None, instrument: Any) -> str | None:
    return decimal_text(value, _places(instrument.tick_size))


def quantity_text(value: Decimal | None, instrument: Any) -> str | None:
    return decimal_text(value, _places(instrument.lot_size))


def cash_text(value: Decimal | None, currency: str) -> str | None:
    if value is None:
        return None
    return f"{value.quantize(minor_unit(currency)):f}"


class _TextField(serializers.Field):
    def __init__(self, *, unit_from: str = "instrument", **kwargs: Any) -> None:
        kwargs["read_only"] = True
        self.unit_from = unit_from
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> tuple[Any, Any]:
        return super().get_attribute(instance), attrgetter(self.unit_from)(instance)

    def to_representation(self, value: tuple[Any, Any]) -> str | None:
        return self.render(*value)

    def render(self, value: Any, unit: Any) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError


@extend_schema_field({**DECIMAL_SCHEMA, "nullable": True})
class PriceField(_TextField):
    """A price in the tick of the instrument found at ``unit_from``."""

    def render(self, value: Any, unit: Any) -> str | None:
        return price_text(value, unit)


@extend_schema_field({**DECIMAL_SCHEMA, "example": "100"})
class QuantityField(_TextField):
    """A quantity in the lot step of the instrument found at ``unit_from``."""

    def render(self, value: Any, unit: Any) -> str | None:
        return quantity_text(value, unit)


@extend_schema_field({**DECIMAL_SCHEMA, "example": "1250.00"})
class CashField(_TextField):
    """Cash in the minor unit of the currency found at ``unit_from`` (a currency code, or an
    object with ``currency``)."""

    def __init__(self, *, unit_from: str = "instrument.currency", **kwargs: Any) -> None:
        super().__init__(unit_from=unit_from, **kwargs)

    def render(self, value: Any, unit: Any) -> str | None:
        return cash_text(value, unit if isinstance(unit, str) else unit.currency)
