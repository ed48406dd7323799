"""Reads of the kyc app used by more than one caller."""

from apps.kyc.choices import NOT_STARTED
from apps.kyc.models import KycApplication


def kyc_status(*, user: object) -> str:
    """The status of the user's KYC application, or ``not_started``."""
    status = KycApplication.objects.filter(user=user).values_list("status", flat=True).first()
    return status or NOT_STARTED
