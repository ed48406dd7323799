"""Deposit references: ISO 11649 structured creditor references ("RF" + two check digits +
"BRS" + the account number's digits, e.g. RF73BRS000001).

Clients quote their reference on bank transfers. The check digits catch typos, so a mistyped
reference never credits someone else's account: it lands in suspense for staff instead.
"""

from __future__ import annotations

import re

PREFIX = "BRS"
_BODY = re.compile(r"^BRS(\d{6,18})$")
_RF = re.compile(r"^RF(\d{2})([0-9A-Z]{1,21})$")


def _numeric(text: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in text))


def _check_digits(body: str) -> str:
    return f"{98 - _numeric(body + 'RF00') % 97:02d}"


def reference_for(account_number: str) -> str:
    """The deposit reference of a trading account number such as 'BRS-000001'."""
    digits = "".join(ch for ch in account_number if ch.isdigit())
    body = f"{PREFIX}{digits}"
    return f"RF{_check_digits(body)}{body}"


def account_number_from(reference: str) -> str | None:
    """The account number a reference names, or None when it is malformed or its check
    digits are wrong. Spaces and case are ignored, as banks reformat references."""
    compact = re.sub(r"[\s\-]", "", str(reference or "")).upper()
    match = _RF.match(compact)
    if not match:
        return None
    check, body = match.groups()
    if _numeric(body + "RF" + check) % 97 != 1:
        return None
    number = _BODY.match(body)
    return f"{PREFIX}-{number.group(1)}" if number else None


def display(reference: str) -> str:
    """The reference in groups of four, as printed on payment forms."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))
