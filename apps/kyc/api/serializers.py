from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.kyc.choices import (
    AccreditationBasis,
    DocumentKind,
    EmploymentStatus,
    IncomeRange,
    InvestmentExperience,
    InvestmentObjective,
    KycStatus,
    RiskRating,
    RiskTolerance,
    SourceOfFunds,
    TaxIdType,
    Tier,
    TimeHorizon,
    WealthRange,
)
from apps.kyc.models import (
    AccreditedInvestorStatus,
    DocumentAccess,
    KycApplication,
    KycDocument,
    ScreeningHit,
    ScreeningResult,
)

ADDRESS_FIELDS = {
    "line1": "address_line1",
    "line2": "address_line2",
    "city": "city",
    "region": "region",
    "postal_code": "postal_code",
}


class AddressSerializer(serializers.Serializer):
    line1 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True)
    city = serializers.CharField(max_length=100, required=False, allow_blank=True)
    region = serializers.CharField(
        max_length=100, required=False, allow_blank=True, help_text="State (US) or region."
    )
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)


@extend_schema_field(AddressSerializer)
class AddressField(serializers.Field):
    """The residential address: an object {line1, line2, city, region, postal_code}.

    A single string is accepted as ``line1``, for callers that keep the address as one line.
    """

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if isinstance(data, str):
            return {"line1": data}
        nested = AddressSerializer(data=data)
        nested.is_valid(raise_exception=True)
        return dict(nested.validated_data)

    def to_representation(self, value: Any) -> dict[str, str]:
        return value


def _choice(choices: Any, **kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=choices, required=False, allow_blank=True, **kwargs)


class ApplicationInputSerializer(serializers.Serializer):
    """Fields of the application; any subset (PUT saves as you go). Empty clears a field."""

    legal_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    citizenship = serializers.CharField(
        max_length=60, required=False, allow_blank=True, help_text="ISO 3166 code (US, GB)."
    )
    country = serializers.CharField(
        max_length=60,
        required=False,
        allow_blank=True,
        help_text="Country of residence, ISO 3166 code.",
    )
    address = AddressField(required=False)
    tax_id = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="SSN or ITIN (123-45-6789) for US persons, else the foreign tax id.",
    )
    tax_id_type = _choice(TaxIdType.choices)
    employment_status = _choice(EmploymentStatus.choices)
    employer = serializers.CharField(max_length=200, required=False, allow_blank=True)
    occupation = serializers.CharField(max_length=200, required=False, allow_blank=True)
    finra_affiliated = serializers.BooleanField(required=False)
    control_person = serializers.BooleanField(required=False)
    control_person_company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    annual_income = _choice(IncomeRange.choices)
    net_worth = _choice(WealthRange.choices)
    liquid_net_worth = _choice(WealthRange.choices)
    source_of_funds = _choice(SourceOfFunds.choices)
    source_of_funds_detail = serializers.CharField(
        max_length=4000, required=False, allow_blank=True
    )
    investment_experience = _choice(InvestmentExperience.choices)
    investment_objective = _choice(InvestmentObjective.choices)
    time_horizon = _choice(TimeHorizon.choices)
    risk_tolerance = _choice(RiskTolerance.choices)
    requested_tier = serializers.ChoiceField(choices=Tier.choices, required=False)

    def service_fields(self) -> dict[str, Any]:
        """The validated data in the service's field names (the address flattened)."""
        data = dict(self.validated_data)
        address = data.pop("address", None) or {}
        for key, field in ADDRESS_FIELDS.items():
            if key in address:
                data[field] = address[key]
        return data


class DocumentOutputSerializer(serializers.ModelSerializer):
    file_name = serializers.CharField(source="original_name")
    download = serializers.SerializerMethodField()

    class Meta:
        model = KycDocument
        fields = [
            "id",
            "kind",
            "file_name",
            "content_type",
            "size",
            "sha256",
            "expires_on",
            "uploaded_at",
            "download",
        ]
        read_only_fields = fields

    def get_download(self, document: KycDocument) -> str:
        return self.context.get("download_url", "/api/v1/kyc/documents/{id}/file").format(
            id=document.pk
        )


class DocumentUploadInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    file = serializers.FileField(allow_empty_file=True)
    expires_on = serializers.DateField(
        required=False, allow_null=True, help_text="Expiry printed on a government id."
    )


class LimitsOutputSerializer(serializers.Serializer):
    tier = serializers.IntegerField(allow_null=True)
    daily_trading_limit = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    daily_withdrawal_limit = serializers.DecimalField(
        max_digits=20, decimal_places=2, allow_null=True
    )


def address_of(application: KycApplication) -> dict[str, str]:
    return {key: getattr(application, field) for key, field in ADDRESS_FIELDS.items()}


class ApplicationOutputSerializer(serializers.Serializer):
    """The client's view: their data with the tax id masked; no internal review notes."""

    id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    requested_tier = serializers.IntegerField()
    tier = serializers.IntegerField(allow_null=True)
    legal_name = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    citizenship = serializers.CharField()
    country = serializers.CharField()
    address = serializers.DictField(child=serializers.CharField())
    tax_id = serializers.CharField(help_text="Masked: ***-**-1234.")
    tax_id_type = serializers.CharField()
    employment_status = serializers.CharField()
    employer = serializers.CharField()
    occupation = serializers.CharField()
    finra_affiliated = serializers.BooleanField()
    control_person = serializers.BooleanField()
    control_person_company = serializers.CharField()
    annual_income = serializers.CharField()
    net_worth = serializers.CharField()
    liquid_net_worth = serializers.CharField()
    source_of_funds = serializers.CharField()
    source_of_funds_detail = serializers.CharField()
    investment_experience = serializers.CharField()
    investment_objective = serializers.CharField()
    time_horizon = serializers.CharField()
    risk_tolerance = serializers.CharField()
    information_request = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    approved_at = serializers.DateTimeField(allow_null=True)
    next_review_on = serializers.DateField(allow_null=True)
    editable = serializers.BooleanField()
    missing = serializers.DictField(
        child=serializers.CharField(), help_text="What submission still needs."
    )
    documents = DocumentOutputSerializer(many=True)
    limits = LimitsOutputSerializer()
    accredited = serializers.BooleanField()


class SubmitOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=KycStatus.choices)
    tier = serializers.IntegerField(allow_null=True)


class ScreeningHitOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScreeningHit
        fields = [
            "source",
            "list_key",
            "list_name",
            "matched_name",
            "entry_type",
            "programs",
            "birth_date_text",
            "details",
            "name_score",
            "dob_match",
        ]
        read_only_fields = fields


class ScreeningOutputSerializer(serializers.ModelSerializer):
    hits = ScreeningHitOutputSerializer(many=True, read_only=True)

    class Meta:
        model = ScreeningResult
        fields = [
            "id",
            "submission",
            "screened_at",
            "screened_name",
            "screened_date_of_birth",
            "outcome",
            "sanctions_match",
            "pep_match",
            "high_risk_countries",
            "max_score",
            "threshold",
            "risk_rating",
            "summary",
            "hits",
        ]
        read_only_fields = fields


class BackofficeApplicationOutputSerializer(serializers.ModelSerializer):
    """A row of the review queue."""

    email = serializers.EmailField(source="user.email")
    screening_outcome = serializers.CharField(
        source="latest_screening.outcome", default=None, allow_null=True
    )
    screening_score = serializers.DecimalField(
        source="latest_screening.max_score",
        max_digits=5,
        decimal_places=2,
        default=None,
        allow_null=True,
    )
    reviewer = serializers.EmailField(source="reviewer.email", default=None, allow_null=True)
    decided_by = serializers.EmailField(source="decided_by.email", default=None, allow_null=True)
    citizenship = serializers.CharField(help_text="ISO 3166 code.")
    country = serializers.CharField(help_text="Country of residence, ISO 3166 code.")

    class Meta:
        model = KycApplication
        fields = [
            "id",
            "email",
            "legal_name",
            "status",
            "requested_tier",
            "tier",
            "risk_rating",
            "citizenship",
            "country",
            "submitted_at",
            "screening_outcome",
            "screening_score",
            "reviewer",
            "decided_by",
            "decided_at",
            "status_reason",
            "information_request",
            "next_review_on",
        ]
        read_only_fields = fields


class BackofficeApplicationDetailSerializer(BackofficeApplicationOutputSerializer):
    address = serializers.SerializerMethodField()
    tax_id = serializers.CharField(source="tax_id_masked")
    documents = DocumentOutputSerializer(many=True, read_only=True)
    screenings = ScreeningOutputSerializer(many=True, read_only=True)

    class Meta(BackofficeApplicationOutputSerializer.Meta):
        fields = [
            *BackofficeApplicationOutputSerializer.Meta.fields,
            "date_of_birth",
            "address",
            "tax_id",
            "tax_id_type",
            "employment_status",
            "employer",
            "occupation",
            "finra_affiliated",
            "control_person",
            "control_person_company",
            "annual_income",
            "net_worth",
            "liquid_net_worth",
            "source_of_funds",
            "source_of_funds_detail",
            "investment_experience",
            "investment_objective",
            "time_horizon",
            "risk_tolerance",
            "approved_at",
            "review_due_since",
            "documents",
            "screenings",
        ]
        read_only_fields = fields

    def get_address(self, application: KycApplication) -> dict[str, str]:
        return address_of(application)


class BackofficeFilterSerializer(serializers.Serializer):
    status = serializers.MultipleChoiceField(choices=KycStatus.choices, required=False)
    risk_rating = serializers.ChoiceField(choices=RiskRating.choices, required=False)
    email = serializers.EmailField(required=False)


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3, max_length=1000)


class ApproveInputSerializer(ReasonInputSerializer):
    tier = serializers.ChoiceField(choices=Tier.choices)
    risk_rating = serializers.ChoiceField(choices=RiskRating.choices, required=False)


class RequestInformationInputSerializer(ReasonInputSerializer):
    question = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="What the client is asked; the reason when omitted.",
    )


class DecisionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = KycApplication
        fields = ["id", "status", "tier", "risk_rating", "decided_at", "next_review_on"]
        read_only_fields = fields


class DocumentAccessOutputSerializer(serializers.ModelSerializer):
    accessed_by = serializers.EmailField(source="accessed_by.email")
    kind = serializers.CharField(source="document.kind")

    class Meta:
        model = DocumentAccess
        fields = [
            "id",
            "document",
            "kind",
            "accessed_by",
            "accessed_at",
            "channel",
            "ip_address",
            "user_agent",
            "correlation_id",
        ]
        read_only_fields = fields


class AccreditationInputSerializer(serializers.Serializer):
    basis = serializers.ChoiceField(choices=AccreditationBasis.choices)
    evidence = serializers.IntegerField(help_text="Id of an accreditation_evidence document.")
    licence_number = serializers.CharField(max_length=32, required=False, allow_blank=True)


class AccreditationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccreditedInvestorStatus
        fields = [
            "id",
            "basis",
            "evidence",
            "licence_number",
            "status",
            "requested_at",
            "verified_at",
            "expires_on",
        ]
        read_only_fields = fields


class AccreditationBackofficeOutputSerializer(AccreditationOutputSerializer):
    email = serializers.EmailField(source="user.email")
    verified_by = serializers.EmailField(source="verified_by.email", default=None)

    class Meta(AccreditationOutputSerializer.Meta):
        fields = [
            *AccreditationOutputSerializer.Meta.fields,
            "email",
            "verified_by",
            "status_reason",
        ]
        read_only_fields = fields


class AccreditationVerifyInputSerializer(ReasonInputSerializer):
    expires_on = serializers.DateField(required=False, allow_null=True)
