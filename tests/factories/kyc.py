"""KYC applications, documents and accreditations, made through the kyc services."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.kyc import samples, services
from apps.kyc.choices import DocumentKind, KycStatus
from apps.kyc.models import AccreditedInvestorStatus, KycApplication, KycDocument
from tests.factories.accounts import ClientFactory, StaffFactory

PNG = samples.png()
PDF = samples.pdf("Utility bill", "1 Main Street, Springfield, IL 62701")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"

SSN = "123-45-6789"

COMPLETE = {
    "date_of_birth": dt.date(1988, 5, 17),
    "citizenship": "US",
    "country": "US",
    "address_line1": "1 Main Street",
    "address_line2": "Apt 4",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "tax_id": SSN,
    "employment_status": "employed",
    "employer": "Acme Corp",
    "occupation": "Engineer",
    "annual_income": "100k_200k",
    "net_worth": "250k_500k",
    "liquid_net_worth": "100k_250k",
    "source_of_funds": "employment",
    "investment_experience": "good",
    "investment_objective": "growth",
    "time_horizon": "long",
    "risk_tolerance": "medium",
}


def upload(
    user: Any,
    kind: str = DocumentKind.GOVERNMENT_ID,
    *,
    content: bytes = PNG,
    name: str = "id.png",
    content_type: str = "image/png",
    expires_on: dt.date | None = None,
) -> KycDocument:
    return services.kyc_document_upload(
        user=user,
        actor=user,
        kind=kind,
        file=SimpleUploadedFile(name, content, content_type=content_type),
        expires_on=expires_on,
    )


def fill_in(user: Any, *, requested_tier: int = 1, **overrides: Any) -> KycApplication:
    """A complete application for ``requested_tier`` (with its documents for tier 2 and 3)."""
    fields = {
        "legal_name": f"{user.first_name} {user.last_name}".strip() or "Pat Lee",
        **COMPLETE,
        "requested_tier": requested_tier,
    }
    if requested_tier >= 3:
        fields["source_of_funds_detail"] = "Salary savings over ten years and a bonus in 2023."
    fields.update(overrides)
    application = services.kyc_application_update(user=user, actor=user, **fields)
    if requested_tier >= 2:
        upload(
            user,
            DocumentKind.GOVERNMENT_ID,
            expires_on=timezone.localdate() + dt.timedelta(days=800),
        )
        upload(user, DocumentKind.PROOF_OF_ADDRESS, content=PDF, name="bill.pdf")
    return application


class KycApplicationFactory(factory.django.DjangoModelFactory):
    """An application brought to ``status`` through the services (screening run at once).

    ``status``: draft, submitted, under_review, needs_information, approved, rejected,
    review_due. ``tier`` is the tier requested (and granted, when approved).
    """

    class Meta:
        model = KycApplication

    user = factory.SubFactory(ClientFactory)
    status = KycStatus.DRAFT
    tier = 1

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> KycApplication:
        user, status, tier = kwargs.pop("user"), kwargs.pop("status"), kwargs.pop("tier")
        application = fill_in(user, requested_tier=tier, **kwargs)
        if status == KycStatus.DRAFT:
            return application
        return bring_to(application, status, tier=tier)


def reviewer() -> Any:
    return StaffFactory(is_superuser=True)


def submit(user: Any) -> KycApplication:
    application = services.kyc_submit(user=user, actor=user)
    services.kyc_screening_run(
        application_id=application.pk, submission=application.submission_count
    )
    application.refresh_from_db()
    return application


def bring_to(application: KycApplication, status: str, *, tier: int = 1) -> KycApplication:
    user = application.user
    admin = reviewer()
    application = submit(user)
    if status == KycStatus.SUBMITTED:
        assert application.status == KycStatus.SUBMITTED, application.status
        return application
    if status == KycStatus.UNDER_REVIEW:
        if application.status == KycStatus.SUBMITTED:
            application = services.kyc_review_start(
                application=application, actor=admin, reason="Taking it"
            )
        return application
    if status == KycStatus.NEEDS_INFORMATION:
        return services.kyc_request_information(
            application=application, actor=admin, reason="Need a clearer id", question="Why?"
        )
    if status == KycStatus.REJECTED:
        return services.kyc_reject(application=application, actor=admin, reason="Refused")
    application = services.kyc_approve(
        application=application, actor=admin, tier=tier, reason="All checks passed"
    )
    if status == KycStatus.REVIEW_DUE:
        application = services.kyc_review_open(
            application=application, actor=admin, reason="Periodic review"
        )
    assert application.status == status
    return application


def accredit(
    user: Any, *, basis: str = "net_worth", expires_on: dt.date | None = None
) -> AccreditedInvestorStatus:
    """A verified accredited-investor status for an approved client."""
    evidence = upload(user, DocumentKind.ACCREDITATION_EVIDENCE, content=PDF, name="cpa-letter.pdf")
    request = services.accreditation_request(user=user, actor=user, basis=basis, evidence=evidence)
    return services.accreditation_verify(
        accreditation=request, actor=reviewer(), reason="CPA letter checked", expires_on=expires_on
    )
