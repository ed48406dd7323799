"""Field rules of a KYC application and of uploaded documents (pure functions).

Each check returns the cleaned value or raises ``ValueError`` with a message for the client;
the services turn those into ``invalid`` errors naming the field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import filetype
from django_countries import countries

from apps.kyc.choices import US_STATES, TaxIdType
from apps.kyc.screening import fold

NAME_CHARS = re.compile(r"^[^\W\d_]+(?:[ '\-.,][^\W\d_]*)*\.?$", re.UNICODE)
PO_BOX = re.compile(r"\b(p\.?\s*o\.?\s*box|post\s+office\s+box)\b", re.IGNORECASE)
US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
DIGITS9 = re.compile(r"^\d{9}$")
FOREIGN_TIN = re.compile(r"^[A-Z0-9]{4,30}$")
# ITIN group numbers (the 4th and 5th digits) the IRS issues.
ITIN_GROUPS = {*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100)}


def legal_name(value: str) -> str:
    cleaned = " ".join(value.split())
    if len(cleaned) < 2 or len(cleaned) > 200:
        raise ValueError("Enter your full legal name (2 to 200 characters).")
    if not NAME_CHARS.match(cleaned):
        raise ValueError("A name may hold letters, spaces, hyphens, apostrophes and periods.")
    if not fold(cleaned).isascii():
        # Screening lists are in the Latin alphabet; so is the machine-readable part of an id.
        raise ValueError(
            "Write your name in Latin letters, as in the machine-readable part of your id."
        )
    return cleaned


def age_on(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def iso_date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError("Use the format YYYY-MM-DD.") from exc


def date_of_birth(value: dt.date, *, today: dt.date, minimum_age: int) -> dt.date:
    if value > today:
        raise ValueError("The date of birth is in the future.")
    age = age_on(value, today)
    if age < minimum_age:
        raise ValueError(f"You must be at least {minimum_age} years old to open an account.")
    if age > 120:
        raise ValueError("Check the date of birth.")
    return value


def country(value: str) -> str:
    code = countries.alpha2(value.strip()) if value and value.strip() else ""
    if not code:
        raise ValueError("Unknown country; use its ISO 3166 code (e.g. US, GB, DE).")
    return code


def address_line(value: str) -> str:
    cleaned = " ".join(value.split())
    if PO_BOX.search(cleaned):
        raise ValueError("Give a residential street address, not a P.O. box.")
    return cleaned


def us_state(value: str) -> str:
    code = value.strip().upper()
    if code not in US_STATES:
        raise ValueError("Use the two-letter code of a US state or territory.")
    return code


def us_postal_code(value: str) -> str:
    cleaned = value.strip()
    if not US_ZIP.match(cleaned):
        raise ValueError("A US ZIP code has 5 digits, or 5+4 (12345-6789).")
    return cleaned


def is_valid_ssn(digits: str) -> bool:
    """SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    if not DIGITS9.match(digits):
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def is_valid_itin(digits: str) -> bool:
    """IRS rules: starts with 9, group (4th-5th digits) in the issued ranges."""
    return bool(DIGITS9.match(digits)) and digits[0] == "9" and int(digits[3:5]) in ITIN_GROUPS


def guess_tax_id_type(raw: str) -> str:
    digits = re.sub(r"[\s-]", "", raw)
    if DIGITS9.match(digits):
        return TaxIdType.ITIN if digits[0] == "9" else TaxIdType.SSN
    return TaxIdType.FOREIGN


def tax_id(raw: str, kind: str) -> str:
    """The canonical form of a tax id of ``kind``: 123-45-6789 for SSN and ITIN."""
    if kind in (TaxIdType.SSN, TaxIdType.ITIN):
        digits = re.sub(r"[\s-]", "", raw)
        valid = is_valid_ssn(digits) if kind == TaxIdType.SSN else is_valid_itin(digits)
        if not valid:
            label = "Social Security number" if kind == TaxIdType.SSN else "ITIN"
            raise ValueError(f"This is not a valid {label} (format 123-45-6789).")
        return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
    cleaned = re.sub(r"[\s\-./]", "", raw).upper()
    if not FOREIGN_TIN.match(cleaned):
        raise ValueError("A foreign tax id has 4 to 30 letters and digits.")
    return cleaned


def mask_tax_id(last4: str, kind: str) -> str:
    if not last4:
        return ""
    if kind in (TaxIdType.SSN, TaxIdType.ITIN):
        return f"***-**-{last4}"
    return f"****{last4}"


# --- Documents ------------------------------------------------------------------------------

ALLOWED_TYPES = {
    "application/pdf": ("pdf",),
    "image/jpeg": ("jpg", "jpeg"),
    "image/png": ("png",),
}
# PDF features that run code when opened; identity documents never need them.
PDF_ACTIVE_CONTENT = (b"/JavaScript", b"/JS ", b"/JS(", b"/Launch", b"/EmbeddedFile")
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class CheckedFile:
    content_type: str
    extension: str


def document_content(*, head: bytes, name: str, size: int, max_bytes: int) -> CheckedFile:
    """Check an upload from its bytes: PDF, JPEG or PNG, matching its name, within the cap.

    ``head`` is the start of the file (at least the first few kilobytes).
    """
    if size <= 0:
        raise ValueError("The file is empty.")
    if size > max_bytes:
        raise ValueError(f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    guessed = filetype.guess(head)
    mime = guessed.mime if guessed is not None else None
    if mime not in ALLOWED_TYPES:
        raise ValueError("Only PDF, JPEG and PNG files are accepted.")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED_TYPES[mime]:
        raise ValueError(
            f"The file's content is {mime.split('/')[1].upper()} but its name says "
            f"'.{extension or '(none)'}'; upload it under its real type."
        )
    return CheckedFile(content_type=mime, extension=ALLOWED_TYPES[mime][0])


def pdf_without_active_content(body: bytes) -> None:
    if any(marker in body for marker in PDF_ACTIVE_CONTENT):
        raise ValueError("PDFs with scripts, launch actions or embedded files are not accepted.")
