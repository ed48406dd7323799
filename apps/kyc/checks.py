"""System checks: KYC settings that would otherwise fail only when a client trades."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from apps.kyc import crypto


@register()
def kyc_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for tier in (1, 2, 3):
        limits = settings.KYC_TIER_LIMITS.get(tier)
        if limits is None:
            errors.append(Error(f"KYC_TIER_LIMITS has no tier {tier}.", id="kyc.E001"))
            continue
        for kind in ("trading", "withdrawal"):
            value = limits.get(kind)
            if value in (None, ""):
                continue
            try:
                valid = Decimal(str(value)) >= 0
            except InvalidOperation:
                valid = False
            if not valid:
                errors.append(
                    Error(
                        f"The tier {tier} daily {kind} limit {value!r} is not an amount.",
                        hint=f"Set KYC_TIER{tier}_DAILY_{kind.upper()}_LIMIT to a number, "
                        "or empty for no limit.",
                        id="kyc.E002",
                    )
                )
    if not 0 < settings.KYC_SCREENING_THRESHOLD <= 100:
        errors.append(Error("KYC_SCREENING_THRESHOLD must be within 1-100.", id="kyc.E003"))
    if not Path(settings.KYC_PEP_LIST_FILE).is_file():
        errors.append(
            Error(f"KYC_PEP_LIST_FILE {settings.KYC_PEP_LIST_FILE} does not exist.", id="kyc.E004")
        )
    try:
        crypto.validate_keys(crypto.configured_keys())
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), id="kyc.E005"))
    return errors
