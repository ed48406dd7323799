"""Tables of the kyc app: onboarding applications, documents, tiers and limits, screening."""

from django.conf import settings
from django.db import models
from django_fsm import ConcurrentTransitionMixin, FSMField

from apps.core.audit import audit_history
from apps.kyc.choices import KycStatus


class KycApplication(ConcurrentTransitionMixin, models.Model):
    """A user's know-your-customer application; one per user, reviewed by compliance."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kyc_application"
    )
    status = FSMField(
        max_length=20, choices=KycStatus.choices, default=KycStatus.DRAFT, protected=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history()

    def __str__(self) -> str:
        return f"KYC {self.user} ({self.status})"
