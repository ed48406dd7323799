"""Security identifiers: ISIN (ISO 6166) and CUSIP, checked by their check digits.

* ISIN: two-letter country code, nine-character national number, one check digit computed
  with the Luhn algorithm over the digits obtained by replacing each letter with its value
  (A=10 ... Z=35).
* CUSIP: six-character issuer, two-character issue, one check digit by the "modulus 10
  double-add-double" rule (letters A=10 ... Z=35, * = 36, @ = 37, # = 38; every second
  character doubled; digits of the products summed).

For ISINs of North American securities (country US or CA) the national number is the CUSIP.
The arithmetic is python-stdnum's; this module turns its exceptions into Bourse's messages.
"""

from __future__ import annotations

from stdnum import cusip as stdnum_cusip
from stdnum import isin as stdnum_isin
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

# Countries whose ISINs embed the CUSIP (CUSIP Global Services numbering).
CUSIP_COUNTRIES = {"US", "CA"}


class IdentifierError(ValueError):
    """An identifier that is malformed or whose check digit is wrong."""


def _message(exc: ValidationError, kind: str) -> str:
    if isinstance(exc, InvalidChecksum):
        return f"The {kind} check digit is wrong."
    if isinstance(exc, InvalidLength):
        return f"An {kind} has {12 if kind == 'ISIN' else 9} characters."
    if isinstance(exc, InvalidComponent):
        return "The ISIN country code is not an ISO 3166 country."
    if isinstance(exc, InvalidFormat):
        return f"An {kind} has only letters and digits in its fixed positions."
    return f"Not a valid {kind}."


def normalize_isin(value: str) -> str:
    """The ISIN in canonical form (upper case, no spaces); raises :class:`IdentifierError`."""
    compact = stdnum_isin.compact(value or "")
    try:
        return stdnum_isin.validate(compact)
    except ValidationError as exc:
        raise IdentifierError(_message(exc, "ISIN")) from exc


def normalize_cusip(value: str) -> str:
    """The CUSIP in canonical form (upper case, no spaces); raises :class:`IdentifierError`."""
    compact = stdnum_cusip.compact(value or "")
    try:
        return stdnum_cusip.validate(compact)
    except ValidationError as exc:
        raise IdentifierError(_message(exc, "CUSIP")) from exc


def is_valid_isin(value: str) -> bool:
    try:
        normalize_isin(value)
    except IdentifierError:
        return False
    return True


def is_valid_cusip(value: str) -> bool:
    try:
        normalize_cusip(value)
    except IdentifierError:
        return False
    return True


def cusip_from_isin(isin: str) -> str | None:
    """The CUSIP inside a US or Canadian ISIN, or None for other countries."""
    if isin[:2] in CUSIP_COUNTRIES and is_valid_cusip(isin[2:11]):
        return isin[2:11]
    return None


def isin_from_cusip(cusip: str, country: str = "US") -> str:
    """The ISIN of a CUSIP-numbered security (country code, CUSIP, ISIN check digit)."""
    body = f"{country}{cusip}"
    return body + stdnum_isin.calc_check_digit(body)


def cusip_check_digit(base: str) -> str:
    """The check digit for the first eight characters of a CUSIP."""
    return stdnum_cusip.calc_check_digit(base.upper())
