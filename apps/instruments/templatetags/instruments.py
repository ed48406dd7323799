"""Template filters for instrument pages: prices and quantities shown to their grid."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()
MISSING = "\u2013"  # en dash, for a price not known yet


def _places(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)


@register.filter
def on_grid(value: Decimal | None, step: Decimal | None) -> str:
    """``value`` with as many decimals as ``step`` has (a tick size or lot step), grouped."""
    if value is None:
        return MISSING
    places = _places(step) if step else 2
    return f"{value:,.{places}f}"


@register.filter
def plain(value: Decimal | None) -> str:
    """A decimal without trailing zeros (0.00100000 -> 0.001)."""
    if value is None:
        return MISSING
    return f"{value.normalize():f}"
