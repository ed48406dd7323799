"""Reads of the kyc app used by more than one caller.

Other apps call :func:`kyc_limits`, :func:`kyc_check_daily_limit` and
:func:`kyc_is_accredited`; reporting calls :func:`kyc_tax_id`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Case, IntegerField, Prefetch, QuerySet, Value, When
from django.utils import timezone

from apps.core.errors import ApplicationError, ErrorCode, not_found
from apps.kyc import crypto
from apps.kyc.choices import (
    EMPLOYED_STATUSES,
    NOT_STARTED,
    OPEN_STATUSES,
    AccreditationStatus,
    DocumentKind,
    KycStatus,
    RiskRating,
    SourceOfFunds,
    TaxIdType,
    Tier,
)
from apps.kyc.models import (
    AccreditedInvestorStatus,
    DocumentAccess,
    KycApplication,
    KycDocument,
    ScreeningResult,
)


def kyc_status(*, user: object) -> str:
    """The status of the user's KYC application, or ``not_started``."""
    status = KycApplication.objects.filter(user=user).values_list("status", flat=True).first()
    return status or NOT_STARTED


def kyc_application_for(*, user: Any) -> KycApplication | None:
    """The user's application with its documents and latest screening, or None."""
    return (
        KycApplication.objects.select_related("latest_screening")
        .prefetch_related("documents")
        .filter(user=user)
        .first()
    )


# --- Limits and accreditation (called by orders, ledger, instruments) -----------------------


@dataclass(frozen=True)
class KycLimits:
    """What a client may do per day, in the base currency. ``None`` limits mean unlimited."""

    tier: int | None
    daily_trading_limit: Decimal | None
    daily_withdrawal_limit: Decimal | None

    @property
    def approved(self) -> bool:
        return self.tier is not None


NO_KYC = KycLimits(tier=None, daily_trading_limit=Decimal(0), daily_withdrawal_limit=Decimal(0))


def _limit(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def tier_limits(tier: int) -> KycLimits:
    limits = settings.KYC_TIER_LIMITS[tier]
    return KycLimits(
        tier=tier,
        daily_trading_limit=_limit(limits.get("trading")),
        daily_withdrawal_limit=_limit(limits.get("withdrawal")),
    )


def effective_tier(application: KycApplication | None, *, now: dt.datetime | None = None) -> int:
    """The tier a client trades under now, or 0: approved, or review due within the grace."""
    if application is None or application.tier is None:
        return 0
    if application.status == KycStatus.APPROVED:
        return application.tier
    if application.status == KycStatus.REVIEW_DUE and application.review_due_since:
        grace = dt.timedelta(days=settings.KYC_REVIEW_GRACE_DAYS)
        if (now or timezone.now()) < application.review_due_since + grace:
            return application.tier
    return 0


def kyc_limits(*, user: Any) -> KycLimits:
    """The daily trading and withdrawal limits of the user's KYC tier.

    A user without an approved application (or whose review is overdue past the grace period)
    gets tier None and zero limits.
    """
    application = (
        KycApplication.objects.filter(user=user).only("status", "tier", "review_due_since").first()
    )
    tier = effective_tier(application)
    return tier_limits(tier) if tier else NO_KYC


def kyc_check_daily_limit(*, user: Any, kind: str, amount: Decimal, used_today: Decimal) -> None:
    """Refuse ``amount`` of trading or withdrawal (``kind``) on top of ``used_today``.

    Raises ``kyc_required`` when the user has no approved KYC and ``limit_exceeded`` when the
    day's total would pass the tier's limit; the details name the limit and what is left.
    """
    if kind not in ("trading", "withdrawal"):
        raise ValueError(f"kind must be 'trading' or 'withdrawal', not {kind!r}")
    limits = kyc_limits(user=user)
    if not limits.approved:
        raise ApplicationError(
            ErrorCode.KYC_REQUIRED,
            "Complete identity verification (KYC) before trading or withdrawing.",
            {"kyc_status": kyc_status(user=user)},
        )
    limit = limits.daily_trading_limit if kind == "trading" else limits.daily_withdrawal_limit
    if limit is not None and used_today + amount > limit:
        cents = Decimal(1).scaleb(-settings.CURRENCIES.get(settings.BASE_CURRENCY, 2))
        limit, used_today = limit.quantize(cents), used_today.quantize(cents)
        remaining = max(limit - used_today, Decimal(0)).quantize(cents)
        raise ApplicationError(
            ErrorCode.LIMIT_EXCEEDED,
            f"This exceeds your daily {kind} limit of {limit} {settings.BASE_CURRENCY} "
            f"(tier {limits.tier}); {remaining} is left today.",
            {
                "tier": limits.tier,
                "kind": kind,
                "daily_limit": str(limit),
                "used_today": str(used_today),
                "remaining": str(remaining),
                "currency": settings.BASE_CURRENCY,
            },
        )


def kyc_is_accredited(*, user: Any, on: dt.date | None = None) -> bool:
    """Whether staff verified the user as an accredited investor and it holds on ``on``.

    ``on`` defaults to today; verified after ``on``, expired before it, or revoked: False.
    """
    on = on or timezone.localdate()
    return AccreditedInvestorStatus.objects.filter(
        user=user,
        status=AccreditationStatus.VERIFIED,
        verified_at__date__lte=on,
        expires_on__gte=on,
    ).exists()


def accreditation_current(*, user: Any) -> AccreditedInvestorStatus | None:
    """The user's newest accreditation request, whatever its status."""
    return AccreditedInvestorStatus.objects.filter(user=user).order_by("-requested_at").first()


def accreditations_for(*, user: Any) -> QuerySet[AccreditedInvestorStatus]:
    return AccreditedInvestorStatus.objects.filter(user=user).select_related("evidence")


def accreditations_backoffice() -> QuerySet[AccreditedInvestorStatus]:
    return AccreditedInvestorStatus.objects.select_related("user", "evidence", "verified_by")


def accreditation_backoffice(*, pk: Any) -> AccreditedInvestorStatus:
    found = accreditations_backoffice().filter(pk=_int(pk)).first()
    if found is None:
        raise not_found("No such accreditation.")
    return found


def kyc_tax_id(*, user: Any) -> str:
    """The user's tax id in clear (tax reporting only), or ''."""
    token = (
        KycApplication.objects.filter(user=user).values_list("tax_id_encrypted", flat=True).first()
    )
    return crypto.decrypt(token or "")


# --- Completeness ---------------------------------------------------------------------------

REQUIRED = "This field is required."


def current_documents(application: KycApplication) -> dict[str, KycDocument]:
    """The newest document of each kind (uses the prefetched documents when present)."""
    newest: dict[str, KycDocument] = {}
    if application.pk is None:
        return newest
    for document in sorted(
        application.documents.all(), key=lambda d: (d.uploaded_at, d.pk), reverse=True
    ):
        newest.setdefault(document.kind, document)
    return newest


def kyc_application_missing(
    application: KycApplication, *, tier: int | None = None, today: dt.date | None = None
) -> dict[str, str]:
    """What the application lacks for ``tier`` (default: the tier requested): field -> why.

    Empty when it is complete. Tier 1 is the identity, address, tax id, employment, finances and
    investment profile; tier 2 adds a current government id and a proof of address; tier 3 adds
    a written source of funds (enhanced due diligence).
    """
    tier = tier or application.requested_tier
    today = today or timezone.localdate()
    a = application
    missing: dict[str, str] = {}
    for field in (
        "legal_name",
        "date_of_birth",
        "citizenship",
        "country",
        "address_line1",
        "city",
        "postal_code",
        "employment_status",
        "annual_income",
        "net_worth",
        "liquid_net_worth",
        "source_of_funds",
        "investment_experience",
        "investment_objective",
        "time_horizon",
        "risk_tolerance",
    ):
        if getattr(a, field) in (None, ""):
            missing[field] = REQUIRED
    if a.country == "US" and not a.region:
        missing["region"] = "The state is required for a US address."
    if not a.tax_id_encrypted:
        missing["tax_id"] = REQUIRED
    elif a.is_us_person and a.tax_id_type == TaxIdType.FOREIGN:
        missing["tax_id"] = "US persons give a Social Security number or an ITIN."
    elif a.citizenship == "US" and a.tax_id_type != TaxIdType.SSN:
        missing["tax_id"] = "US citizens give their Social Security number."
    if a.employment_status in EMPLOYED_STATUSES:
        for field in ("employer", "occupation"):
            if not getattr(a, field):
                missing[field] = "Required when employed."
    if a.control_person and not a.control_person_company:
        missing["control_person_company"] = "Name the company you are a control person of."
    if a.source_of_funds == SourceOfFunds.OTHER and not a.source_of_funds_detail.strip():
        missing["source_of_funds_detail"] = "Describe the source of funds."
    if tier >= Tier.VERIFIED:
        documents = current_documents(a)
        government_id = documents.get(DocumentKind.GOVERNMENT_ID)
        if government_id is None:
            missing["government_id"] = "Upload a government-issued photo id."
        elif government_id.expires_on is not None and government_id.expires_on <= today:
            missing["government_id"] = "The id on file has expired; upload a current one."
        if DocumentKind.PROOF_OF_ADDRESS not in documents:
            missing["proof_of_address"] = "Upload a proof of address (under 3 months old)."
    if tier >= Tier.ENHANCED and len(a.source_of_funds_detail.strip()) < 20:
        missing["source_of_funds_detail"] = (
            "Enhanced due diligence: describe the origin of the funds you will invest."
        )
    return missing


# --- Back office ----------------------------------------------------------------------------

RISK_ORDER = Case(
    When(risk_rating=RiskRating.HIGH, then=Value(0)),
    When(risk_rating=RiskRating.MEDIUM, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def kyc_applications_backoffice(
    *, status: list[str] | None = None, risk_rating: str | None = None, email: str | None = None
) -> QuerySet[KycApplication]:
    """Applications for staff, riskiest first, then oldest submission first."""
    qs = KycApplication.objects.select_related(
        "user", "latest_screening", "reviewer", "decided_by"
    ).annotate(risk_order=RISK_ORDER)
    if status:
        qs = qs.filter(status__in=status)
    if risk_rating:
        qs = qs.filter(risk_rating=risk_rating)
    if email:
        qs = qs.filter(user__email__iexact=email.strip())
    return qs.order_by("risk_order", "submitted_at", "pk")


def kyc_review_queue() -> QuerySet[KycApplication]:
    """What compliance must act on: submitted, under review and review due."""
    return kyc_applications_backoffice(status=list(OPEN_STATUSES))


def _int(pk: Any) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError) as exc:
        raise not_found() from exc


def kyc_application_backoffice(*, pk: Any) -> KycApplication:
    found = (
        kyc_applications_backoffice()
        .prefetch_related(
            "documents",
            Prefetch("screenings", queryset=ScreeningResult.objects.prefetch_related("hits")),
        )
        .filter(pk=_int(pk))
        .first()
    )
    if found is None:
        raise not_found("No such KYC application.")
    return found


def kyc_document_for_owner(*, user: Any, pk: Any) -> KycDocument:
    """One of the user's own documents; anyone else's (or a missing) id is ``not_found``."""
    found = (
        KycDocument.objects.select_related("application")
        .filter(pk=_int(pk), application__user=user)
        .first()
    )
    if found is None:
        raise not_found("No such document.")
    return found


def kyc_document_backoffice(*, pk: Any) -> KycDocument:
    found = KycDocument.objects.select_related("application__user").filter(pk=_int(pk)).first()
    if found is None:
        raise not_found("No such document.")
    return found


def kyc_documents_for(*, user: Any) -> QuerySet[KycDocument]:
    return KycDocument.objects.filter(application__user=user).order_by("-uploaded_at", "-pk")


def document_accesses(*, application: KycApplication | None = None) -> QuerySet[DocumentAccess]:
    """Who opened which client document, newest first (compliance)."""
    qs = DocumentAccess.objects.select_related("document", "accessed_by")
    if application is not None:
        qs = qs.filter(document__application=application)
    return qs.order_by("-accessed_at", "-pk")
