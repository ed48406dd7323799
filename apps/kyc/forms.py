"""Portal forms of the onboarding wizard. Nothing is required per step (the client saves as
they go); the services check formats on save and completeness on submission."""

from __future__ import annotations

from typing import Any

from django import forms
from django_countries import countries

from apps.kyc.choices import (
    AccreditationBasis,
    DocumentKind,
    EmploymentStatus,
    IncomeRange,
    InvestmentExperience,
    InvestmentObjective,
    RiskTolerance,
    SourceOfFunds,
    TaxIdType,
    Tier,
    TimeHorizon,
    WealthRange,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _choices(choices: Any, blank: str = "Choose…") -> list[tuple[str, str]]:
    return [("", blank), *choices]


def _country_choices() -> list[tuple[str, str]]:
    return [("", "Choose a country…"), *((code, name) for code, name in countries)]


class PersonalForm(forms.Form):
    legal_name = forms.CharField(
        max_length=200,
        required=False,
        help_text="As on your government id, e.g. Jane Quinn Doe.",
    )
    date_of_birth = forms.DateField(required=False, widget=DATE)
    citizenship = forms.ChoiceField(choices=(), required=False, label="Country of citizenship")
    country = forms.ChoiceField(choices=(), required=False, label="Country of residence")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["citizenship"].choices = _country_choices()
        self.fields["country"].choices = _country_choices()


class AddressTaxForm(forms.Form):
    address_line1 = forms.CharField(
        max_length=200, required=False, label="Street address", help_text="No P.O. boxes."
    )
    address_line2 = forms.CharField(max_length=200, required=False, label="Apartment, suite")
    city = forms.CharField(max_length=100, required=False)
    region = forms.CharField(
        max_length=100, required=False, label="State or region", help_text="US: two letters."
    )
    postal_code = forms.CharField(max_length=20, required=False, label="ZIP or postal code")
    tax_id_type = forms.ChoiceField(
        choices=_choices(TaxIdType.choices, "Work it out from the number"),
        required=False,
        label="Tax id type",
    )
    tax_id = forms.CharField(
        max_length=40,
        required=False,
        label="Tax id",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="SSN or ITIN (123-45-6789) for US persons. Leave empty to keep the one on file.",
    )


class EmploymentForm(forms.Form):
    employment_status = forms.ChoiceField(
        choices=_choices(EmploymentStatus.choices), required=False
    )
    employer = forms.CharField(max_length=200, required=False)
    occupation = forms.CharField(max_length=200, required=False)
    finra_affiliated = forms.BooleanField(
        required=False,
        label="I work for a broker-dealer, an exchange or FINRA",
    )
    control_person = forms.BooleanField(
        required=False,
        label="I am a director, officer or 10% shareholder of a listed company",
    )
    control_person_company = forms.CharField(max_length=200, required=False, label="Company")
    annual_income = forms.ChoiceField(choices=_choices(IncomeRange.choices), required=False)
    net_worth = forms.ChoiceField(
        choices=_choices(WealthRange.choices), required=False, help_text="Excluding your home."
    )
    liquid_net_worth = forms.ChoiceField(choices=_choices(WealthRange.choices), required=False)
    source_of_funds = forms.ChoiceField(choices=_choices(SourceOfFunds.choices), required=False)
    source_of_funds_detail = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Source of funds, in your words",
        help_text="Needed for tier 3 and when the source is 'Other'.",
    )


class ProfileForm(forms.Form):
    investment_experience = forms.ChoiceField(
        choices=_choices(InvestmentExperience.choices), required=False
    )
    investment_objective = forms.ChoiceField(
        choices=_choices(InvestmentObjective.choices), required=False
    )
    time_horizon = forms.ChoiceField(choices=_choices(TimeHorizon.choices), required=False)
    risk_tolerance = forms.ChoiceField(choices=_choices(RiskTolerance.choices), required=False)
    requested_tier = forms.TypedChoiceField(
        choices=Tier.choices,
        coerce=int,
        required=False,
        empty_value=None,
        label="Account level",
        help_text="Tier 2 needs an id and a proof of address; tier 3 also a written source of "
        "funds.",
    )


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            (k, label)
            for k, label in DocumentKind.choices
            if k != DocumentKind.ACCREDITATION_EVIDENCE
        ]
    )
    file = forms.FileField(help_text="PDF, JPEG or PNG.")
    expires_on = forms.DateField(
        required=False, widget=DATE, help_text="For an id: the expiry date printed on it."
    )


class AccreditationForm(forms.Form):
    basis = forms.ChoiceField(choices=AccreditationBasis.choices)
    licence_number = forms.CharField(
        max_length=32, required=False, label="CRD number", help_text="For a professional licence."
    )
    evidence = forms.FileField(
        help_text="A letter from your CPA, attorney or broker, tax returns, or statements "
        "(PDF, JPEG or PNG)."
    )
