"""Template tags for an instrument's corporate actions (any page showing an instrument)."""

from __future__ import annotations

from typing import Any

from django import template

from apps.instruments import selectors

register = template.Library()


@register.simple_tag
def instrument_corporate_actions(instrument: Any, limit: int = 10) -> list:
    """The instrument's announced, approved and processed corporate actions, newest first."""
    return list(selectors.corporate_actions_public(instrument=instrument)[:limit])


@register.filter
def cash(value: Any, currency: str) -> str:
    """An amount in its currency's minor unit ("32.00", "1,250.50")."""
    from apps.ledger.money import minor_unit

    if value is None:
        return "\u2013"
    places = max(0, -minor_unit(currency).as_tuple().exponent)
    return f"{value:,.{places}f}"
