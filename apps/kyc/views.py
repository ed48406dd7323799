"""Client portal pages of the kyc app: the verification status and the onboarding wizard
(personal details, address and tax, employment and finances, experience and objectives,
documents, review and submit), saving each step as the client goes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.errors import ApplicationError, ErrorCode
from apps.kyc import selectors, services
from apps.kyc.choices import EDITABLE_STATUSES, DocumentAccessChannel, DocumentKind, KycStatus
from apps.kyc.files import document_response
from apps.kyc.forms import (
    AccreditationForm,
    AddressTaxForm,
    DocumentForm,
    EmploymentForm,
    PersonalForm,
    ProfileForm,
)
from apps.kyc.models import KycApplication


@dataclass(frozen=True)
class Step:
    slug: str
    title: str
    form_class: type[forms.Form] | None
    fields: tuple[str, ...]  # what kyc_application_missing may name for this step


STEPS = [
    Step(
        "personal",
        "Personal details",
        PersonalForm,
        ("legal_name", "date_of_birth", "citizenship", "country"),
    ),
    Step(
        "address",
        "Address and tax",
        AddressTaxForm,
        ("address_line1", "city", "region", "postal_code", "tax_id"),
    ),
    Step(
        "employment",
        "Employment and finances",
        EmploymentForm,
        (
            "employment_status",
            "employer",
            "occupation",
            "control_person_company",
            "annual_income",
            "net_worth",
            "liquid_net_worth",
            "source_of_funds",
            "source_of_funds_detail",
        ),
    ),
    Step(
        "profile",
        "Experience and objectives",
        ProfileForm,
        ("investment_experience", "investment_objective", "time_horizon", "risk_tolerance"),
    ),
    Step("documents", "Documents", DocumentForm, ("government_id", "proof_of_address")),
    Step("review", "Review and submit", None, ()),
]
STEP_BY_SLUG = {s.slug: s for s in STEPS}


def _steps_context(application: KycApplication | None, current: str) -> list[dict[str, Any]]:
    missing = selectors.kyc_application_missing(application) if application else {}
    return [
        {
            "slug": s.slug,
            "title": s.title,
            "number": i,
            "current": s.slug == current,
            "done": application is not None
            and s.form_class is not None
            and not any(f in missing for f in s.fields),
        }
        for i, s in enumerate(STEPS, 1)
    ]


def _apply_errors(form: forms.Form, exc: ApplicationError) -> None:
    for field, errors in exc.details.items():
        target = field if field in form.fields else None
        for error in errors if isinstance(errors, list) else [errors]:
            form.add_error(target, f"{field.replace('_', ' ')}: {error}" if not target else error)
    if not exc.details:
        form.add_error(None, exc.message)


def _initial(application: KycApplication | None, form_class: type[forms.Form]) -> dict:
    if application is None:
        return {}
    return {
        name: str(value) if name in ("citizenship", "country") else value
        for name in form_class.base_fields
        if name != "tax_id" and (value := getattr(application, name, None)) is not None
    }


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """Where the client stands: status, what compliance asked, limits, accredited status."""
    application = selectors.kyc_application_for(user=request.user)
    context = {
        "application": application,
        "status": application.status if application else "not_started",
        "editable": application is None or application.status in EDITABLE_STATUSES,
        "missing": selectors.kyc_application_missing(application) if application else {},
        "limits": selectors.kyc_limits(user=request.user),
        "accredited": selectors.kyc_is_accredited(user=request.user),
        "accreditation": selectors.accreditation_current(user=request.user),
        "accreditation_form": AccreditationForm(),
        "steps": _steps_context(application, ""),
        "first_step": STEPS[0].slug,
    }
    return render(request, "kyc/overview.html", context)


@login_required
def step(request: HttpRequest, slug: str) -> HttpResponse:
    current = STEP_BY_SLUG.get(slug)
    if current is None:
        raise Http404
    application = selectors.kyc_application_for(user=request.user)
    if application is not None and application.status not in EDITABLE_STATUSES:
        messages.info(request, "Your application is with compliance; you can't change it now.")
        return redirect("kyc:overview")
    if current.slug == "documents":
        return _documents_step(request, application, current)
    if current.slug == "review":
        return _review_step(request, application, current)

    form = current.form_class(
        request.POST or None, initial=_initial(application, current.form_class)
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if "tax_id" in data and not data["tax_id"]:
            data.pop("tax_id")  # empty keeps the one on file
            data.pop("tax_id_type", None)
        try:
            services.kyc_application_update(user=request.user, actor=request.user, **data)
        except ApplicationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            if "continue" in request.POST:
                following = STEPS[STEPS.index(current) + 1]
                return redirect("kyc:step", slug=following.slug)
            return redirect("kyc:step", slug=current.slug)
    context = {
        "step": current,
        "steps": _steps_context(application, current.slug),
        "form": form,
        "application": application,
    }
    return render(request, "kyc/step.html", context)


def _documents_step(
    request: HttpRequest, application: KycApplication | None, current: Step
) -> HttpResponse:
    form = DocumentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            document = services.kyc_document_upload(
                user=request.user,
                actor=request.user,
                kind=form.cleaned_data["kind"],
                file=form.cleaned_data["file"],
                expires_on=form.cleaned_data.get("expires_on"),
            )
        except ApplicationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"{document.get_kind_display()} uploaded.")
            return redirect("kyc:step", slug=current.slug)
    documents = selectors.kyc_documents_for(user=request.user).exclude(
        kind=DocumentKind.ACCREDITATION_EVIDENCE
    )
    context = {
        "step": current,
        "steps": _steps_context(application, current.slug),
        "form": form,
        "documents": documents,
        "application": application,
    }
    return render(request, "kyc/documents.html", context)


def _review_step(
    request: HttpRequest, application: KycApplication | None, current: Step
) -> HttpResponse:
    if request.method == "POST":
        try:
            services.kyc_submit(user=request.user, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Thank you. Your application is submitted for review.")
            return redirect("kyc:overview")
    missing = selectors.kyc_application_missing(application) if application else {"": ""}
    sections = []
    if application is not None:
        for s in STEPS:
            if s.form_class is None or s.slug == "documents":
                continue
            rows = []
            for name, field in s.form_class.base_fields.items():
                if name == "tax_id":
                    value = application.tax_id_masked
                elif hasattr(application, f"get_{name}_display"):
                    value = getattr(application, f"get_{name}_display")()
                else:
                    value = getattr(application, name, "")
                if isinstance(value, bool):
                    value = "Yes" if value else "No"
                rows.append((field.label or name.replace("_", " ").capitalize(), value))
            sections.append({"step": s, "rows": rows})
    context = {
        "step": current,
        "steps": _steps_context(application, current.slug),
        "application": application,
        "sections": sections,
        "documents": selectors.kyc_documents_for(user=request.user),
        "missing": missing,
        "missing_by_step": {
            s.slug: [f.replace("_", " ") for f in s.fields if f in missing] for s in STEPS
        },
    }
    return render(request, "kyc/review.html", context)


@login_required
def document_file(request: HttpRequest, pk: int) -> HttpResponse:
    """One of the client's own documents (anyone else's: 404). The access is recorded."""
    try:
        document = selectors.kyc_document_for_owner(user=request.user, pk=pk)
        handle = services.kyc_document_open(
            document=document, actor=request.user, channel=DocumentAccessChannel.PORTAL
        )
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    return document_response(handle, document)


@login_required
@require_POST
def accreditation(request: HttpRequest) -> HttpResponse:
    """Upload evidence and ask to be verified as an accredited investor."""
    form = AccreditationForm(request.POST, request.FILES)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect("kyc:overview")
    try:
        application = selectors.kyc_application_for(user=request.user)
        if application is None or application.status not in (
            KycStatus.APPROVED,
            KycStatus.REVIEW_DUE,
        ):
            raise ApplicationError(ErrorCode.KYC_REQUIRED, "Complete verification first.")
        evidence = services.kyc_document_upload(
            user=request.user,
            actor=request.user,
            kind=DocumentKind.ACCREDITATION_EVIDENCE,
            file=form.cleaned_data["evidence"],
        )
        services.accreditation_request(
            user=request.user,
            actor=request.user,
            basis=form.cleaned_data["basis"],
            evidence=evidence,
            licence_number=form.cleaned_data["licence_number"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Thank you; compliance will check your evidence.")
    return redirect(reverse("kyc:overview") + "#accreditation")
