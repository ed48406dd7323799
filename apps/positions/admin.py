"""Back-office console for positions.

* Positions and tax lots, read-only (lots inline; each lot with the sales that relieved it).
* Securities transfers in: "Add" records one through the service (applied at once up to the
  four-eyes value); approve / reject actions for the ones waiting for a second staff member.
* Reconciliation breaks found by the nightly check, with a "resolve" action asking how.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin, reason_action
from apps.core.errors import ApplicationError
from apps.positions import services
from apps.positions.models import (
    LotRelief,
    Position,
    ReconciliationBreak,
    SecuritiesTransfer,
    TaxLot,
)


def _journal_link(reference: str) -> str:
    url = reverse("admin:ledger_journalentry_changelist") + f"?reference={reference}"
    return format_html('<a href="{}">journal entries</a>', url)


# --- Positions and lots ---------------------------------------------------------------------


class TaxLotInline(admin.TabularInline):
    model = TaxLot
    fields = [
        "acquired_on",
        "source",
        "source_reference",
        "original_quantity",
        "quantity",
        "cost",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "open tax lots"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(quantity__gt=0)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Position)
class PositionAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    list_display = [
        "account",
        "instrument",
        "quantity",
        "settled_quantity",
        "average_cost",
        "cost_basis",
        "realized_pnl",
        "updated_at",
    ]
    list_filter = ["instrument__asset_class"]
    search_fields = ["account__number", "account__owner__email", "instrument__symbol"]
    list_select_related = ["account", "instrument"]
    show_full_result_count = False
    fields = [
        "account",
        "instrument",
        "quantity",
        "settled_quantity",
        "cost_basis",
        "average_cost",
        "realized_pnl",
        "realized_short_term",
        "realized_long_term",
        "opened_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [TaxLotInline]


class LotReliefInline(admin.TabularInline):
    model = LotRelief
    fk_name = "lot"
    fields = ["sold_on", "quantity", "cost", "proceeds", "gain", "term", "fill_id", "reference"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "sales from this lot"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TaxLot)
class TaxLotAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "position",
        "acquired_on",
        "source",
        "original_quantity",
        "quantity",
        "cost",
    ]
    list_filter = ["source"]
    search_fields = [
        "=id",
        "position__account__number",
        "position__instrument__symbol",
        "source_reference",
    ]
    list_select_related = ["position__account", "position__instrument"]
    show_full_result_count = False
    fields = [
        "position",
        "acquired_on",
        "source",
        "source_reference",
        "original_quantity",
        "quantity",
        "cost",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [LotReliefInline]


# --- Securities transfers in ----------------------------------------------------------------


class SecuritiesTransferForm(forms.ModelForm):
    """Records the transfer through the service when the form is checked, so a refusal (lot
    step, closed account...) shows on the form; the admin's transaction covers both."""

    actor: Any = None
    created: SecuritiesTransfer | None = None

    class Meta:
        model = SecuritiesTransfer
        fields = [
            "account",
            "instrument",
            "quantity",
            "cost_basis",
            "acquired_on",
            "external_reference",
            "reason",
        ]
        help_texts = {
            "reason": "Why the shares arrive (delivering broker, ACATS transfer...): recorded "
            "in the journal and the audit trail.",
        }

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        try:
            self.created = services.securities_transfer_request(
                account=data["account"],
                instrument=data["instrument"],
                quantity=data["quantity"],
                cost_basis=data["cost_basis"],
                acquired_on=data["acquired_on"],
                reason=data["reason"],
                external_reference=data.get("external_reference", ""),
                actor=self.actor,
            )
        except ApplicationError as exc:
            raise forms.ValidationError(
                [exc.message, *(f"{k}: {' '.join(v)}" for k, v in exc.details.items())]
            ) from exc
        return data

    def _post_clean(self) -> None:
        # The service built and validated the row; the model's own full_clean would trip on
        # the fields only the service fills (cost, requested_by).
        pass


TRANSFER_FIELDS = [
    "id",
    "status",
    "account",
    "instrument",
    "quantity",
    "cost_basis",
    "cost",
    "acquired_on",
    "external_reference",
    "reason",
    "requested_by",
    "requested_at",
    "decided_by",
    "decided_at",
    "decision_reason",
    "lot",
    "entries",
]


@admin.register(SecuritiesTransfer)
class SecuritiesTransferAdmin(AuditedAdmin):
    """Shares arriving free of payment. Worth more than the four-eyes value, a transfer waits
    here for a different staff member to approve it."""

    form = SecuritiesTransferForm
    list_display = [
        "id",
        "requested_at",
        "status",
        "account",
        "instrument",
        "quantity",
        "cost",
        "acquired_on",
        "requested_by",
    ]
    list_filter = ["status"]
    search_fields = [
        "=id",
        "account__number",
        "account__owner__email",
        "instrument__symbol",
        "external_reference",
        "reason",
    ]
    list_select_related = ["account", "instrument", "requested_by"]
    raw_id_fields = ["account", "instrument"]
    actions = [
        reason_action(
            description="Approve selected transfers",
            service=services.securities_transfer_approve,
            permissions=("positions.approve_securitiestransfer",),
            object_kwarg="transfer",
        ),
        reason_action(
            description="Reject selected transfers",
            service=services.securities_transfer_reject,
            permissions=("positions.approve_securitiestransfer",),
            object_kwarg="transfer",
        ),
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(SecuritiesTransferForm.Meta.fields) if obj is None else TRANSFER_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else TRANSFER_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("positions.add_securitiestransfer")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Ledger")
    def entries(self, obj: SecuritiesTransfer) -> str:
        return _journal_link(obj.ledger_reference) if obj.journal_entry_id else "-"

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            form.actor = request.user
        return form

    def save_form(self, request: HttpRequest, form: forms.Form, change: bool) -> Any:
        return form.created if not change else form.instance

    def save_model(
        self, request: HttpRequest, obj: SecuritiesTransfer, form: forms.Form, change: bool
    ) -> None:
        """Recorded by the form's check (the service); nothing more to save."""

    def save_related(self, request: HttpRequest, form: forms.Form, formsets, change: bool) -> None:
        """No related objects to save."""


# --- Reconciliation breaks ------------------------------------------------------------------


def _resolve(*, item: ReconciliationBreak, actor: Any, reason: str) -> ReconciliationBreak:
    return services.reconciliation_break_resolve(item=item, actor=actor, resolution=reason)


class OpenBreakFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(ReconciliationBreak)
class ReconciliationBreakAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    """Differences between positions and the ledger's securities found by the nightly check
    (``manage.py reconcile_positions`` runs it now). Resolve one once the books agree again."""

    list_display = [
        "run_at",
        "account",
        "instrument",
        "position_quantity",
        "ledger_quantity",
        "position_settled",
        "ledger_settled",
        "resolved_at",
    ]
    list_filter = [OpenBreakFilter, "run_at"]
    search_fields = ["account__number", "account__owner__email", "instrument__symbol"]
    list_select_related = ["account", "instrument"]
    fields = [
        "run_at",
        "account",
        "instrument",
        "position_quantity",
        "ledger_quantity",
        "position_settled",
        "ledger_settled",
        "resolved_at",
        "resolution",
    ]
    readonly_fields = fields
    actions = [
        reason_action(
            description="Resolve selected breaks",
            service=_resolve,
            permissions=("positions.resolve_reconciliationbreak",),
            object_kwarg="item",
        ),
    ]
