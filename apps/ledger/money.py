"""Amounts in the ledger: cash in a currency's minor unit, quantities to 8 decimal places."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from apps.core.errors import ApplicationError, invalid
from apps.ledger.models import AMOUNT_PLACES

QUANTITY_QUANTUM = Decimal(1).scaleb(-AMOUNT_PLACES)


def currency_code(value: Any, *, field: str = "currency") -> str:
    """An upper-case ISO code the firm holds (settings.CURRENCIES), or ``invalid``."""
    code = str(value or "").strip().upper()
    if code not in settings.CURRENCIES:
        raise invalid(
            "Unsupported currency.", **{field: f"Choose one of {sorted(settings.CURRENCIES)}."}
        )
    return code


def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (0.01 for USD, 1 for JPY)."""
    return Decimal(1).scaleb(-settings.CURRENCIES[currency])


def to_decimal(value: Any, *, field: str = "amount") -> Decimal:
    """A finite Decimal from a Decimal, int or decimal string; floats are refused."""
    if isinstance(value, bool | float):
        raise invalid(
            "Amounts are decimal strings, never floating point.", **{field: "Not a decimal."}
        )
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise invalid("Not a number.", **{field: "Enter a decimal number."}) from exc
    if not number.is_finite():
        raise invalid("Not a number.", **{field: "Enter a finite decimal number."})
    return number


def cash_amount(
    value: Any, currency: str, *, field: str = "amount", positive: bool = True
) -> Decimal:
    """A cash amount in ``currency``'s minor unit (more decimals are refused, not rounded)."""
    number = to_decimal(value, field=field)
    unit = minor_unit(currency)
    if number != number.quantize(unit):
        raise invalid(
            f"{currency} amounts have at most {settings.CURRENCIES[currency]} decimal places.",
            **{field: "Too many decimal places."},
        )
    if positive and number <= 0:
        raise invalid("The amount must be positive.", **{field: "Must be greater than zero."})
    if not positive and number == 0:
        raise invalid("The amount can't be zero.", **{field: "Must not be zero."})
    if abs(number) >= Decimal(10) ** 18:
        raise invalid("The amount is too large.", **{field: "Too large."})
    return number.quantize(unit)


def cash_text(amount: Decimal, currency: str) -> str:
    """An amount rendered in its currency's minor unit, e.g. '1250.00'."""
    return f"{amount.quantize(minor_unit(currency)):f}"


def is_insufficient(exc: ApplicationError) -> bool:
    return exc.code in {"insufficient_funds", "insufficient_position"}
