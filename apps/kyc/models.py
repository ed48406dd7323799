"""Tables of the kyc app: onboarding applications, documents, tiers and limits, screening."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django_countries.fields import CountryField
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from apps.core.audit import audit_history
from apps.kyc.choices import (
    AccreditationBasis,
    AccreditationStatus,
    DocumentAccessChannel,
    DocumentKind,
    EmploymentStatus,
    HitSource,
    IncomeRange,
    InvestmentExperience,
    InvestmentObjective,
    KycStatus,
    RiskRating,
    RiskTolerance,
    ScreeningOutcome,
    SourceOfFunds,
    TaxIdType,
    Tier,
    TimeHorizon,
    WealthRange,
)
from apps.kyc.storage import private_storage
from apps.kyc.validation import mask_tax_id

S = KycStatus


class KycApplication(ConcurrentTransitionMixin, models.Model):
    """A user's know-your-customer application; one per user, reviewed by compliance.

    Status: draft -> submitted -> under_review -> approved, with needs_information (back to
    submitted when the client answers), rejected, and review_due for approved clients whose
    periodic review date passed or whose id expired. Transitions run in apps.kyc.services only.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kyc_application"
    )
    status = FSMField(max_length=20, choices=KycStatus.choices, default=S.DRAFT, protected=True)
    requested_tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.BASIC)
    tier = models.PositiveSmallIntegerField(
        choices=Tier.choices, null=True, blank=True, help_text="Granted at approval."
    )

    # Identity (the customer identification programme).
    legal_name = models.CharField(max_length=200, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    citizenship = CountryField(blank=True, help_text="Country of citizenship.")
    country = CountryField(blank=True, help_text="Country of residence.")
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True, help_text="State or region.")
    postal_code = models.CharField(max_length=20, blank=True)
    tax_id_type = models.CharField(max_length=8, choices=TaxIdType.choices, blank=True)
    tax_id_encrypted = models.TextField(
        blank=True, help_text="Fernet token of the tax id (apps.kyc.crypto); never in clear."
    )
    tax_id_last4 = models.CharField(max_length=4, blank=True)

    # Employment (FINRA Rule 4512) and finances.
    employment_status = models.CharField(
        max_length=16, choices=EmploymentStatus.choices, blank=True
    )
    employer = models.CharField(max_length=200, blank=True)
    occupation = models.CharField(max_length=200, blank=True)
    finra_affiliated = models.BooleanField(
        default=False, help_text="Employed by or associated with a broker-dealer or FINRA."
    )
    control_person = models.BooleanField(
        default=False, help_text="Director, officer or 10% shareholder of a listed company."
    )
    control_person_company = models.CharField(max_length=200, blank=True)
    annual_income = models.CharField(max_length=16, choices=IncomeRange.choices, blank=True)
    net_worth = models.CharField(max_length=16, choices=WealthRange.choices, blank=True)
    liquid_net_worth = models.CharField(max_length=16, choices=WealthRange.choices, blank=True)
    source_of_funds = models.CharField(max_length=16, choices=SourceOfFunds.choices, blank=True)
    source_of_funds_detail = models.TextField(
        blank=True, help_text="Where the money comes from, in the client's words (tier 3)."
    )

    # Investment profile (suitability).
    investment_experience = models.CharField(
        max_length=16, choices=InvestmentExperience.choices, blank=True
    )
    investment_objective = models.CharField(
        max_length=24, choices=InvestmentObjective.choices, blank=True
    )
    time_horizon = models.CharField(max_length=8, choices=TimeHorizon.choices, blank=True)
    risk_tolerance = models.CharField(max_length=8, choices=RiskTolerance.choices, blank=True)

    # Review.
    risk_rating = models.CharField(max_length=8, choices=RiskRating.choices, blank=True)
    submission_count = models.PositiveIntegerField(default=0, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Compliance officer who took the application for review.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty for automatic decisions.",
    )
    status_reason = models.TextField(blank=True, help_text="Why the last change; internal.")
    information_request = models.TextField(
        blank=True, help_text="What compliance asked the client (shown to the client)."
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    next_review_on = models.DateField(null=True, blank=True)
    review_due_since = models.DateTimeField(null=True, blank=True)
    latest_screening = models.ForeignKey(
        "ScreeningResult", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = audit_history()

    class Meta:
        permissions = [
            ("review_kycapplication", "Can take KYC applications for review and ask clients"),
            ("approve_kycapplication", "Can approve KYC applications"),
            ("reject_kycapplication", "Can reject KYC applications"),
            ("view_tax_id", "Can see clients' full tax ids"),
        ]
        indexes = [
            models.Index(fields=["status", "submitted_at"]),
            models.Index(fields=["status", "next_review_on"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status=KycStatus.APPROVED) | models.Q(tier__isnull=False),
                name="kyc_approved_has_tier",
            )
        ]

    def __str__(self) -> str:
        return f"KYC {self.legal_name or self.user} ({self.status})"

    @property
    def tax_id_masked(self) -> str:
        return mask_tax_id(self.tax_id_last4, self.tax_id_type)

    @property
    def is_us_person(self) -> bool:
        return "US" in (self.citizenship, self.country)

    # --- transitions (guards only; the services lock, check, stamp and save) ---

    @transition(field=status, source=[S.DRAFT, S.NEEDS_INFORMATION], target=S.SUBMITTED)
    def submit(self) -> None:
        """The client sends the application (again) for screening and review."""

    @transition(
        field=status,
        source=S.SUBMITTED,
        target=S.UNDER_REVIEW,
        permission="kyc.review_kycapplication",
    )
    def start_review(self) -> None:
        """Compliance (or screening, for a possible match) takes it for a closer look."""

    @transition(
        field=status,
        source=[S.SUBMITTED, S.UNDER_REVIEW, S.REVIEW_DUE],
        target=S.APPROVED,
        permission="kyc.approve_kycapplication",
    )
    def approve(self) -> None:
        """The client may trade, within the limits of the granted tier."""

    @transition(
        field=status,
        source=[S.SUBMITTED, S.UNDER_REVIEW, S.REVIEW_DUE, S.NEEDS_INFORMATION],
        target=S.REJECTED,
        permission="kyc.reject_kycapplication",
    )
    def reject(self) -> None:
        """Refused; final."""

    @transition(
        field=status,
        source=[S.SUBMITTED, S.UNDER_REVIEW, S.REVIEW_DUE],
        target=S.NEEDS_INFORMATION,
        permission="kyc.review_kycapplication",
    )
    def request_information(self) -> None:
        """Back to the client with a question; they edit and submit again."""

    @transition(
        field=status,
        source=S.APPROVED,
        target=S.REVIEW_DUE,
        permission="kyc.review_kycapplication",
    )
    def mark_review_due(self) -> None:
        """Periodic review date passed, an id expired, or compliance opened a review."""


def document_path(instance: KycDocument, filename: str) -> str:
    # The client's file name never reaches the file system.
    return f"kyc/{instance.application.user_id}/{uuid.uuid4().hex}.{filename.rsplit('.', 1)[-1]}"


class KycDocument(models.Model):
    """A file a client uploaded: id, proof of address, selfie or accreditation evidence.

    Stored under PRIVATE_MEDIA_ROOT and read only through views that check the reader and
    write a :class:`DocumentAccess` row. Never changed after upload except its expiry date,
    which compliance may record.
    """

    application = models.ForeignKey(
        KycApplication, on_delete=models.PROTECT, related_name="documents"
    )
    kind = models.CharField(max_length=24, choices=DocumentKind.choices)
    file = models.FileField(upload_to=document_path, storage=private_storage, max_length=255)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    expires_on = models.DateField(null=True, blank=True, help_text="For identity documents.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    history = audit_history()

    class Meta:
        ordering = ["-uploaded_at", "-pk"]
        indexes = [models.Index(fields=["application", "kind", "uploaded_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class DocumentAccess(models.Model):
    """Every time someone opened a client document: who, when, from where, through what."""

    document = models.ForeignKey(KycDocument, on_delete=models.PROTECT, related_name="accesses")
    accessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    accessed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    channel = models.CharField(max_length=16, choices=DocumentAccessChannel.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    correlation_id = models.CharField(max_length=64, blank=True, default="", db_index=True)

    class Meta:
        ordering = ["-accessed_at", "-pk"]
        verbose_name_plural = "document accesses"

    def __str__(self) -> str:
        return f"{self.accessed_by} opened {self.document} ({self.channel})"


class SanctionsList(models.Model):
    """One loaded version of the sanctions list; the newest is the one screening uses."""

    source_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    loaded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    entry_count = models.PositiveIntegerField(default=0)
    individual_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-loaded_at", "-pk"]
        get_latest_by = ["loaded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.source_name} ({self.loaded_at:%Y-%m-%d %H:%M}, {self.entry_count} entries)"


class SanctionsEntry(models.Model):
    """A row of the OFAC SDN list (ent_num, name, type, programs, remarks)."""

    sanctions_list = models.ForeignKey(
        SanctionsList, on_delete=models.CASCADE, related_name="entries"
    )
    ent_num = models.PositiveIntegerField()
    name = models.CharField(max_length=350)
    sdn_type = models.CharField(max_length=32, blank=True)
    programs = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=255, blank=True)
    remarks = models.TextField(blank=True)
    aliases = models.JSONField(default=list, blank=True)
    birth_dates = models.JSONField(
        default=list, blank=True, help_text="[[first, last], ...] ISO dates each DOB covers."
    )
    birth_date_text = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["ent_num"]
        verbose_name_plural = "sanctions entries"
        constraints = [
            models.UniqueConstraint(fields=["sanctions_list", "ent_num"], name="kyc_sdn_unique")
        ]
        indexes = [models.Index(fields=["sanctions_list", "sdn_type"])]

    def __str__(self) -> str:
        return f"{self.name} (SDN #{self.ent_num})"


class ScreeningResult(models.Model):
    """The outcome of screening one submission of an application."""

    application = models.ForeignKey(
        KycApplication, on_delete=models.PROTECT, related_name="screenings"
    )
    submission = models.PositiveIntegerField()
    sanctions_list = models.ForeignKey(
        SanctionsList, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    screened_at = models.DateTimeField(auto_now_add=True)
    screened_name = models.CharField(max_length=200)
    screened_date_of_birth = models.DateField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=ScreeningOutcome.choices)
    sanctions_match = models.BooleanField(default=False)
    pep_match = models.BooleanField(default=False)
    high_risk_countries = models.JSONField(default=list, blank=True)
    max_score = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    threshold = models.DecimalField(max_digits=5, decimal_places=2)
    risk_rating = models.CharField(max_length=8, choices=RiskRating.choices)
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["-screened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "submission"], name="kyc_screening_once_per_submission"
            )
        ]

    def __str__(self) -> str:
        return f"Screening of {self.application_id}/{self.submission}: {self.outcome}"


class ScreeningHit(models.Model):
    """A list entry the client's name matched, kept as it was when it matched."""

    result = models.ForeignKey(ScreeningResult, on_delete=models.CASCADE, related_name="hits")
    source = models.CharField(max_length=16, choices=HitSource.choices)
    entry = models.ForeignKey(
        SanctionsEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    list_key = models.CharField(max_length=32, help_text="SDN ent_num or PEP id.")
    list_name = models.CharField(max_length=350)
    matched_name = models.CharField(max_length=350, help_text="The name or alias that matched.")
    entry_type = models.CharField(max_length=32, blank=True)
    programs = models.CharField(max_length=255, blank=True)
    birth_date_text = models.CharField(max_length=255, blank=True)
    details = models.TextField(blank=True, help_text="Remarks (SDN) or position (PEP).")
    name_score = models.DecimalField(max_digits=5, decimal_places=2)
    dob_match = models.BooleanField(null=True, help_text="Empty when the list gives no DOB.")

    class Meta:
        ordering = ["-name_score", "pk"]

    def __str__(self) -> str:
        return f"{self.list_name} ({self.source}, {self.name_score})"


class AccreditedInvestorStatus(ConcurrentTransitionMixin, models.Model):
    """A client's claim to be an accredited investor (Regulation D, Rule 501(a)).

    pending -> verified (by staff, until ``expires_on``) or rejected; verified -> revoked.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="accreditations"
    )
    basis = models.CharField(max_length=16, choices=AccreditationBasis.choices)
    evidence = models.ForeignKey(
        KycDocument, on_delete=models.PROTECT, related_name="accreditations"
    )
    licence_number = models.CharField(
        max_length=32, blank=True, help_text="CRD number of a Series 7, 65 or 82 holder."
    )
    status = FSMField(
        max_length=16,
        choices=AccreditationStatus.choices,
        default=AccreditationStatus.PENDING,
        protected=True,
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    expires_on = models.DateField(null=True, blank=True)
    status_reason = models.TextField(blank=True)

    history = audit_history()

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = "accredited-investor status"
        verbose_name_plural = "accredited-investor statuses"
        permissions = [("verify_accreditedinvestorstatus", "Can verify accredited investors")]
        indexes = [models.Index(fields=["user", "status", "expires_on"])]

    def __str__(self) -> str:
        return f"{self.user} accredited by {self.basis} ({self.status})"

    @transition(
        field=status,
        source=AccreditationStatus.PENDING,
        target=AccreditationStatus.VERIFIED,
        permission="kyc.verify_accreditedinvestorstatus",
    )
    def verify(self) -> None:
        """Staff checked the evidence."""

    @transition(
        field=status,
        source=AccreditationStatus.PENDING,
        target=AccreditationStatus.REJECTED,
        permission="kyc.verify_accreditedinvestorstatus",
    )
    def reject(self) -> None:
        """The evidence does not show the basis claimed."""

    @transition(
        field=status,
        source=AccreditationStatus.VERIFIED,
        target=AccreditationStatus.REVOKED,
        permission="kyc.verify_accreditedinvestorstatus",
    )
    def revoke(self) -> None:
        """No longer accredited (circumstances changed, evidence found wrong)."""
