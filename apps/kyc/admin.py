"""Compliance console: the KYC review queue, documents, screening, accreditation, access log.

The application page shows the client's data (tax id masked unless the role may see it),
documents previewed inline through a permission-checked view that records every access, each
screening's hits beside the list entry they matched, the full decision history, and buttons
for the decisions; every decision asks for a reason and goes through apps.kyc.services.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django_fsm import can_proceed

from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin, ReasonForm, reason_action
from apps.core.errors import ApplicationError
from apps.kyc import selectors, services
from apps.kyc.choices import (
    OPEN_STATUSES,
    DocumentAccessChannel,
    RiskRating,
    Tier,
)
from apps.kyc.files import document_response
from apps.kyc.models import (
    AccreditedInvestorStatus,
    DocumentAccess,
    KycApplication,
    KycDocument,
    SanctionsEntry,
    SanctionsList,
    ScreeningHit,
    ScreeningResult,
)

DOCUMENT_PERMISSION = "kyc.view_kycdocument"


class ApproveForm(ReasonForm):
    tier = forms.TypedChoiceField(choices=Tier.choices, coerce=int, initial=Tier.BASIC)
    risk_rating = forms.ChoiceField(
        choices=[("", "Keep the screening's rating"), *RiskRating.choices], required=False
    )


class RequestInformationForm(ReasonForm):
    question = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Shown to the client in the portal and the API.",
    )


class AccreditationVerifyForm(ReasonForm):
    expires_on = forms.DateField(
        required=False,
        help_text="Leave empty for the default validity (KYC_ACCREDITATION_VALIDITY_DAYS).",
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def _decision(
    description: str, service: Any, permission: str, transition: str, **kwargs: Any
) -> Any:
    action = reason_action(
        description=description,
        service=service,
        permissions=(permission,),
        object_kwarg="application",
        **kwargs,
    )
    action.transition = transition  # the page offers only what the state allows
    return action


DECISIONS = [
    _decision(
        "Take for review",
        services.kyc_review_start,
        "kyc.review_kycapplication",
        "start_review",
    ),
    _decision(
        "Approve",
        services.kyc_approve,
        "kyc.approve_kycapplication",
        "approve",
        form_class=ApproveForm,
    ),
    _decision(
        "Request information",
        services.kyc_request_information,
        "kyc.review_kycapplication",
        "request_information",
        form_class=RequestInformationForm,
    ),
    _decision("Reject", services.kyc_reject, "kyc.reject_kycapplication", "reject"),
    _decision(
        "Open a periodic review",
        services.kyc_review_open,
        "kyc.review_kycapplication",
        "mark_review_due",
    ),
]


class QueueFilter(admin.SimpleListFilter):
    """The review queue by default; every application on request."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("open", "Review queue (submitted, under review, review due)"),
            ("all", "All applications"),
        ]

    def value(self) -> str:
        return super().value() or "open"

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "open" and "status__exact" not in request.GET:
            return queryset.filter(status__in=OPEN_STATUSES)
        return queryset

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


def _document_url(document: KycDocument) -> str:
    return reverse("admin:kyc_kycdocument_file", args=[document.pk])


def document_preview(document: KycDocument) -> SafeString:
    url = _document_url(document)
    if document.is_image:
        viewer = format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" '
            'style="max-width:420px;max-height:300px;border:1px solid #ccc"></a>',
            url,
            url,
            document.get_kind_display(),
        )
    else:
        viewer = format_html(
            '<iframe src="{}" title="{}" style="width:520px;height:360px;border:1px solid #ccc">'
            '</iframe><br><a href="{}" target="_blank" rel="noopener">Open in a new tab</a>',
            url,
            document.get_kind_display(),
            url,
        )
    expiry = ""
    if document.expires_on:
        expired = document.expires_on <= timezone.localdate()
        expiry = format_html(
            " · expires {}{}", document.expires_on, " (EXPIRED)" if expired else ""
        )
    return format_html(
        '<div style="margin-bottom:1em"><strong>{}</strong> · {} · {} bytes · uploaded {}{}'
        "<br>{}</div>",
        document.get_kind_display(),
        document.original_name,
        document.size,
        timezone.localtime(document.uploaded_at).strftime("%Y-%m-%d %H:%M"),
        expiry,
        viewer,
    )


@admin.register(KycApplication)
class KycApplicationAdmin(AuditedAdmin):
    change_form_template = "admin/kyc/kycapplication/change_form.html"
    list_display = [
        "id",
        "client",
        "legal_name",
        "status",
        "risk",
        "requested_tier",
        "tier",
        "submitted_at",
        "age",
        "screening",
    ]
    list_display_links = ["id", "client"]
    list_filter = [QueueFilter, "status", "risk_rating", "requested_tier", "tier"]
    search_fields = ["user__email", "legal_name", "user__last_name"]
    list_select_related = ["user", "latest_screening"]
    actions = DECISIONS
    fieldsets = [
        ("Status", {"fields": ["status", "requested_tier", "tier", "risk_rating", "decision"]}),
        (
            "Identity",
            {
                "fields": [
                    "user",
                    "legal_name",
                    "date_of_birth",
                    "citizenship",
                    "country",
                    "address",
                    "tax_id",
                ]
            },
        ),
        (
            "Employment and finances",
            {
                "fields": [
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
                ]
            },
        ),
        (
            "Investment profile",
            {
                "fields": [
                    "investment_experience",
                    "investment_objective",
                    "time_horizon",
                    "risk_tolerance",
                ]
            },
        ),
        ("Documents", {"fields": ["documents_panel"]}),
        ("Screening", {"fields": ["screening_panel"]}),
        ("Decisions and history", {"fields": ["history_panel"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("user", "latest_screening", "reviewer", "decided_by")
            .annotate(risk_order=selectors.RISK_ORDER)
            .order_by("risk_order", "submitted_at", "pk")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        """Full tax id and document previews only for the roles that may see them."""
        swaps = {
            "tax_id": "tax_id_full" if request.user.has_perm("kyc.view_tax_id") else "tax_id",
            "documents_panel": (
                "documents_panel"
                if request.user.has_perm(DOCUMENT_PERMISSION)
                else "documents_on_file"
            ),
            "screening_panel": (
                "screening_panel"
                if request.user.has_perm("kyc.view_screeningresult")
                else "screening"
            ),
        }
        return [
            (name, {**options, "fields": [swaps.get(f, f) for f in options["fields"]]})
            for name, options in self.fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f for _, options in self.get_fieldsets(request, obj) for f in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # clients apply; compliance decides

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decisions are actions with reasons, never edits

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="client", ordering="user__email")
    def client(self, obj: KycApplication) -> str:
        return obj.user.email

    @admin.display(description="risk", ordering="risk_order")
    def risk(self, obj: KycApplication) -> str:
        return obj.get_risk_rating_display() or "-"

    @admin.display(description="waiting", ordering="submitted_at")
    def age(self, obj: KycApplication) -> str:
        if not obj.submitted_at or obj.status not in OPEN_STATUSES:
            return "-"
        days = (timezone.now() - obj.submitted_at).days
        return f"{days} day{'s' if days != 1 else ''}"

    @admin.display(description="screening")
    def screening(self, obj: KycApplication) -> str:
        result = obj.latest_screening
        if result is None:
            return "-"
        return f"{result.get_outcome_display()} ({result.max_score})"

    @admin.display(description="address")
    def address(self, obj: KycApplication) -> str:
        parts = [
            obj.address_line1,
            obj.address_line2,
            obj.city,
            obj.region,
            obj.postal_code,
            str(obj.country or ""),
        ]
        return ", ".join(p for p in parts if p)

    @admin.display(description="tax id")
    def tax_id(self, obj: KycApplication) -> str:
        return obj.tax_id_masked or "-"

    @admin.display(description="tax id")
    def tax_id_full(self, obj: KycApplication) -> str:
        if not obj.tax_id_encrypted:
            return "-"
        return f"{selectors.kyc_tax_id(user=obj.user)} ({obj.get_tax_id_type_display()})"

    @admin.display(description="last decision")
    def decision(self, obj: KycApplication) -> SafeString:
        return format_html(
            "{} by {} on {}<br>{}{}",
            obj.get_status_display(),
            obj.decided_by.email if obj.decided_by else "the system",
            timezone.localtime(obj.decided_at).strftime("%Y-%m-%d %H:%M")
            if obj.decided_at
            else "-",
            obj.status_reason or "",
            format_html("<br><em>Asked the client:</em> {}", obj.information_request)
            if obj.information_request
            else "",
        )

    @admin.display(description="documents")
    def documents_panel(self, obj: KycApplication) -> SafeString:
        documents = list(obj.documents.all())
        if not documents:
            return mark_safe("<em>No documents uploaded.</em>")
        return format_html_join("", "{}", ((document_preview(d),) for d in documents))

    @admin.display(description="documents")
    def documents_on_file(self, obj: KycApplication) -> str:
        kinds = [d.get_kind_display() for d in obj.documents.all()]
        return f"On file: {', '.join(kinds)}" if kinds else "No documents uploaded."

    @admin.display(description="screening results")
    def screening_panel(self, obj: KycApplication) -> SafeString:
        results = list(obj.screenings.prefetch_related("hits"))
        if not results:
            return mark_safe("<em>Not screened yet.</em>")
        return format_html_join("", "{}", ((screening_table(obj, r),) for r in results))

    @admin.display(description="history")
    def history_panel(self, obj: KycApplication) -> SafeString:
        rows = obj.history.select_related("history_user").order_by("-history_date")[:100]
        return format_html(
            "<table><thead><tr><th>When</th><th>Who</th><th>Status</th><th>Tier</th>"
            "<th>Reason</th><th>IP</th><th>Request</th></tr></thead><tbody>{}</tbody></table>"
            '<p><a href="{}">Full history with field changes</a></p>',
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                "<td><code>{}</code></td></tr>",
                (
                    (
                        timezone.localtime(r.history_date).strftime("%Y-%m-%d %H:%M:%S"),
                        r.history_user.email if r.history_user else "system",
                        r.status,
                        r.tier or "",
                        r.history_change_reason or "",
                        r.ip_address or "",
                        r.correlation_id,
                    )
                    for r in rows
                ),
            ),
            reverse("admin:kyc_kycapplication_history", args=[obj.pk]),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        application = self.get_object(request, object_id)
        decisions = []
        if application is not None:
            for name, (func, _, description) in self.get_actions(request).items():
                transition = getattr(func, "transition", None)
                if transition and can_proceed(getattr(application, transition)):
                    decisions.append((name, description))
        extra_context = {
            **(extra_context or {}),
            "decision_actions": decisions,
            "changelist_url": reverse("admin:kyc_kycapplication_changelist"),
        }
        return super().change_view(request, object_id, form_url, extra_context)


def screening_table(application: KycApplication, result: ScreeningResult) -> SafeString:
    """One screening: the client beside every list entry their name matched."""
    hits = list(result.hits.all())
    client = format_html(
        "<strong>{}</strong><br>born {}<br>citizen of {}, living in {}",
        result.screened_name,
        result.screened_date_of_birth or "-",
        application.citizenship or "-",
        application.country or "-",
    )
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td><strong>{}</strong> ({} {})<br>matched as <em>{}</em><br>{}<br>"
        "DOB: {}<br><small>{}</small></td><td>{}</td><td>{}</td></tr>",
        (
            (
                client,
                h.list_name,
                h.get_source_display(),
                h.list_key,
                h.matched_name,
                " · ".join(x for x in (h.entry_type, h.programs) if x),
                h.birth_date_text or "not listed",
                h.details,
                h.name_score,
                {True: "matches", False: "differs", None: "none listed"}[h.dob_match],
            )
            for h in hits
        ),
    )
    if not hits:
        rows = format_html(
            '<tr><td>{}</td><td colspan="3">No list entry matched.</td></tr>', client
        )
    return format_html(
        '<div style="margin-bottom:1.5em"><p><strong>Submission {}</strong> screened {} against '
        "{}: <strong>{}</strong> (risk {}, threshold {}).<br>{}</p>"
        "<table><thead><tr><th>Client</th><th>List entry</th><th>Name score</th>"
        "<th>Date of birth</th></tr></thead><tbody>{}</tbody></table></div>",
        result.submission,
        timezone.localtime(result.screened_at).strftime("%Y-%m-%d %H:%M"),
        result.sanctions_list or "no sanctions list",
        result.get_outcome_display(),
        result.get_risk_rating_display(),
        result.threshold,
        result.summary,
        rows,
    )


class KycDocumentForm(forms.ModelForm):
    change_reason = forms.CharField(
        min_length=3, help_text="Why this change? Recorded in the audit trail."
    )

    class Meta:
        model = KycDocument
        fields = ["expires_on"]
        widgets = {"expires_on": forms.DateInput(attrs={"type": "date"})}


@admin.register(KycDocument)
class KycDocumentAdmin(AuditedAdmin):
    """Client documents (compliance). Staff record an id's expiry here; files never change."""

    form = KycDocumentForm
    list_display = [
        "id",
        "owner",
        "kind",
        "original_name",
        "content_type",
        "expires_on",
        "uploaded_at",
    ]
    list_filter = ["kind", "content_type"]
    search_fields = ["application__user__email", "original_name", "sha256"]
    list_select_related = ["application__user"]
    readonly_fields = [
        "application",
        "kind",
        "preview",
        "original_name",
        "content_type",
        "size",
        "sha256",
        "uploaded_by",
        "uploaded_at",
    ]

    def get_urls(self) -> list:
        return [
            path(
                "<int:pk>/file/",
                self.admin_site.admin_view(xframe_options_sameorigin(self.file_view)),
                name="kyc_kycdocument_file",
            ),
            *super().get_urls(),
        ]

    def file_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The file, for staff with kyc.view_kycdocument; the access is recorded."""
        if not request.user.has_perm(DOCUMENT_PERMISSION):
            raise PermissionDenied("Your role may not open client documents.")
        try:
            document = selectors.kyc_document_backoffice(pk=pk)
            handle = services.kyc_document_open(
                document=document, actor=request.user, channel=DocumentAccessChannel.ADMIN
            )
        except ApplicationError as exc:
            raise Http404(exc.message) from exc
        return document_response(handle, document)

    @admin.display(description="client", ordering="application__user__email")
    def owner(self, obj: KycDocument) -> str:
        return obj.application.user.email

    @admin.display(description="preview")
    def preview(self, obj: KycDocument) -> SafeString:
        return document_preview(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # clients upload through the portal or the API

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # records are kept

    def save_model(self, request: HttpRequest, obj: KycDocument, form: Any, change: bool) -> None:
        try:
            services.kyc_document_expiry_set(
                document=obj,
                actor=request.user,
                expires_on=form.cleaned_data["expires_on"],
                reason=form.cleaned_data["change_reason"],
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, level="error")


@admin.register(DocumentAccess)
class DocumentAccessAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who opened which client document, when, from where and in which request."""

    list_display = ["accessed_at", "accessed_by", "client", "document", "channel", "ip_address"]
    list_filter = ["channel", "document__kind"]
    search_fields = [
        "accessed_by__email",
        "document__application__user__email",
        "correlation_id",
        "ip_address",
    ]
    list_select_related = ["accessed_by", "document__application__user"]
    date_hierarchy = "accessed_at"

    @admin.display(description="client", ordering="document__application__user__email")
    def client(self, obj: DocumentAccess) -> str:
        return obj.document.application.user.email


class ScreeningHitInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ScreeningHit
    extra = 0
    fields = [
        "source",
        "list_key",
        "list_name",
        "matched_name",
        "programs",
        "birth_date_text",
        "name_score",
        "dob_match",
    ]
    readonly_fields = fields


@admin.register(ScreeningResult)
class ScreeningResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["screened_at", "application", "outcome", "max_score", "risk_rating"]
    list_filter = ["outcome", "risk_rating", "sanctions_match", "pep_match"]
    search_fields = ["screened_name", "application__user__email"]
    list_select_related = ["application__user"]
    inlines = [ScreeningHitInline]


@admin.register(SanctionsList)
class SanctionsListAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Loaded lists (python manage.py load_sanctions FILE); the newest one is in use."""

    list_display = ["loaded_at", "source_name", "entry_count", "individual_count", "loaded_by"]


@admin.register(SanctionsEntry)
class SanctionsEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["ent_num", "name", "sdn_type", "programs", "birth_date_text"]
    list_filter = ["sdn_type"]
    search_fields = ["name", "remarks", "=ent_num"]


@admin.register(AccreditedInvestorStatus)
class AccreditedInvestorStatusAdmin(AuditedAdmin):
    list_display = ["id", "user", "basis", "status", "requested_at", "verified_by", "expires_on"]
    list_filter = ["status", "basis"]
    search_fields = ["user__email", "licence_number"]
    list_select_related = ["user", "verified_by"]
    readonly_fields = [
        "user",
        "basis",
        "evidence_link",
        "licence_number",
        "status",
        "requested_at",
        "verified_at",
        "verified_by",
        "expires_on",
        "status_reason",
    ]
    fields = readonly_fields
    actions = [
        reason_action(
            description="Verify accredited status",
            service=services.accreditation_verify,
            permissions=("kyc.verify_accreditedinvestorstatus",),
            form_class=AccreditationVerifyForm,
            object_kwarg="accreditation",
        ),
        reason_action(
            description="Reject accredited status",
            service=services.accreditation_reject,
            permissions=("kyc.verify_accreditedinvestorstatus",),
            object_kwarg="accreditation",
        ),
        reason_action(
            description="Revoke accredited status",
            service=services.accreditation_revoke,
            permissions=("kyc.verify_accreditedinvestorstatus",),
            object_kwarg="accreditation",
        ),
    ]

    @admin.display(description="evidence")
    def evidence_link(self, obj: AccreditedInvestorStatus) -> SafeString:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{} ({})</a>',
            _document_url(obj.evidence),
            obj.evidence.original_name,
            obj.evidence.content_type,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
