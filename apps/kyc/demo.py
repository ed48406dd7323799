"""Demo KYC: the sample sanctions list, Alice verified at tier 2 (and accredited), Bob at
tier 1, both through the real services, so their trading accounts become active.

Idempotent: a list already loaded is kept, an approved client is left as they are.
"""

from __future__ import annotations

import datetime as dt
from typing import TextIO

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.accounts.models import User
from apps.core import context
from apps.kyc import samples, selectors, services
from apps.kyc.choices import DocumentAccessChannel, DocumentKind, KycStatus
from apps.kyc.models import AccreditedInvestorStatus, SanctionsList

REVIEWER = "compliance@bourse.local"

PROFILE = {
    "employment_status": "employed",
    "annual_income": "100k_200k",
    "net_worth": "250k_500k",
    "liquid_net_worth": "100k_250k",
    "source_of_funds": "employment",
    "investment_experience": "good",
    "investment_objective": "growth",
    "time_horizon": "long",
    "risk_tolerance": "medium",
}
CLIENTS = {
    "alice@example.com": {
        "tier": 2,
        "fields": {
            "legal_name": "Alice Margaret Archer",
            "date_of_birth": dt.date(1986, 4, 9),
            "citizenship": "US",
            "country": "US",
            "address_line1": "221 Harbor View Road",
            "city": "Boston",
            "region": "MA",
            "postal_code": "02110",
            "tax_id": "521-44-0198",
            "employer": "Northwind Analytics",
            "occupation": "Data scientist",
            **PROFILE,
            "annual_income": "200k_500k",
            "net_worth": "1m_5m",
        },
        "accredited": True,
    },
    "bob@example.com": {
        "tier": 1,
        "fields": {
            "legal_name": "Robert James Baker",
            "date_of_birth": dt.date(1992, 11, 23),
            "citizenship": "US",
            "country": "US",
            "address_line1": "48 Elm Street",
            "city": "Austin",
            "region": "TX",
            "postal_code": "78701",
            "tax_id": "318-27-5564",
            "employer": "Lone Star Logistics",
            "occupation": "Operations manager",
            **PROFILE,
        },
        "accredited": False,
    },
}


def _file(name: str, content: bytes, content_type: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def _onboard(user: User, spec: dict, reviewer: User | None, out: TextIO) -> None:
    application = selectors.kyc_application_for(user=user)
    if application is not None and application.status in (
        KycStatus.APPROVED,
        KycStatus.REVIEW_DUE,
        KycStatus.REJECTED,
    ):
        return
    if application is None or application.status in (KycStatus.DRAFT, KycStatus.NEEDS_INFORMATION):
        services.kyc_application_update(
            user=user, actor=user, requested_tier=spec["tier"], **spec["fields"]
        )
        if spec["tier"] >= 2:
            expiry = timezone.localdate() + dt.timedelta(days=5 * 365)
            services.kyc_document_upload(
                user=user,
                actor=user,
                kind=DocumentKind.GOVERNMENT_ID,
                file=_file("passport.png", samples.png(320, 200, (40, 70, 120)), "image/png"),
                expires_on=expiry,
            )
            services.kyc_document_upload(
                user=user,
                actor=user,
                kind=DocumentKind.PROOF_OF_ADDRESS,
                file=_file(
                    "utility-bill.pdf",
                    samples.pdf(
                        "Boston Water and Power - statement",
                        spec["fields"]["legal_name"],
                        spec["fields"]["address_line1"],
                    ),
                    "application/pdf",
                ),
            )
        application = services.kyc_submit(user=user, actor=user)
    # Screening normally runs in a worker; run it here so the demo does not wait for one.
    services.kyc_screening_run(
        application_id=application.pk, submission=application.submission_count
    )
    application.refresh_from_db()
    if application.status != KycStatus.APPROVED:
        if reviewer is not None:
            # The reviewer looks at the id before deciding; the access is on record.
            for document in application.documents.all():
                services.kyc_document_open(
                    document=document, actor=reviewer, channel=DocumentAccessChannel.ADMIN
                ).close()
        services.kyc_approve(
            application=application,
            actor=reviewer,
            tier=spec["tier"],
            reason="Demo: identity documents and screening checked.",
            enforce_permission=reviewer is not None,
        )
    out.write(f"  KYC approved: {user.email} (tier {spec['tier']})\n")


def _accredit(user: User, reviewer: User | None) -> None:
    if AccreditedInvestorStatus.objects.filter(user=user).exists():
        return
    evidence = services.kyc_document_upload(
        user=user,
        actor=user,
        kind=DocumentKind.ACCREDITATION_EVIDENCE,
        file=_file(
            "cpa-letter.pdf",
            samples.pdf("CPA verification letter", "Net worth above $1,000,000"),
            "application/pdf",
        ),
    )
    request = services.accreditation_request(
        user=user, actor=user, basis="net_worth", evidence=evidence
    )
    services.accreditation_verify(
        accreditation=request,
        actor=reviewer,
        reason="Demo: CPA letter confirms net worth.",
        enforce_permission=reviewer is not None,
    )


def load(out: TextIO) -> None:
    reviewer = User.objects.filter(email=REVIEWER).first()
    with context.bind(correlation_id=context.new_correlation_id()):
        if not SanctionsList.objects.exists():
            loaded = services.sanctions_list_load(
                data=settings.KYC_SANCTIONS_SAMPLE_FILE.read_bytes(),
                source_name=settings.KYC_SANCTIONS_SAMPLE_FILE.name,
            )
            out.write(f"Sanctions list: {loaded.entry_count} sample entries loaded.\n")
        for email, spec in CLIENTS.items():
            user = User.objects.filter(email=email).first()
            if user is None:
                continue
            _onboard(user, spec, reviewer, out)
            if spec["accredited"]:
                _accredit(user, reviewer)
