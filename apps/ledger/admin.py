"""Back-office console for the ledger and funding.

* The books, read-only: ledger accounts (with their latest postings), the journal (postings
  inline), postings, and the results of the daily ledger check (with "Run the check now").
* Queues: suspense deposits (assign / return), withdrawals awaiting action (approve / reject /
  complete / fail), adjustments awaiting a second pair of eyes (approve / reject).
* Every action asks for a reason, calls a service, and lands in the object's history.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.accounts.models import TradingAccount
from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin, ReasonForm, reason_action
from apps.core.errors import ApplicationError
from apps.ledger import services
from apps.ledger.choices import OPEN_WITHDRAWAL_STATUSES, AdjustmentStatus, DepositStatus
from apps.ledger.models import (
    Adjustment,
    AdjustmentQueue,
    Deposit,
    DepositQueue,
    JournalEntry,
    LedgerAccount,
    Posting,
    ReconciliationRun,
    SimulatedBankPayout,
    Withdrawal,
    WithdrawalQueue,
)
from apps.ledger.money import cash_amount, cash_text, currency_code

RECENT_POSTINGS = 50
REASON_TEMPLATE = "admin/ledger/reason_action.html"


def ledger_reason_action(**kwargs: Any) -> Any:
    """``apps.core.admin.reason_action``, rendering its reason page with this app's template.

    The shared template loads ``admin_urls`` after the block that uses it, so it can't render;
    this template is the same page with the library loaded first.
    """
    action = reason_action(**kwargs)

    @functools.wraps(action)
    def wrapped(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> Any:
        response = action(modeladmin, request, queryset)
        if isinstance(response, TemplateResponse):
            response.template_name = REASON_TEMPLATE
        return response

    wrapped.short_description = action.short_description
    wrapped.required_permissions = action.required_permissions
    return wrapped


class PermittedActionsMixin:
    """Offer each action only to staff holding its ``required_permissions``."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        return {
            name: entry
            for name, entry in actions.items()
            if request.user.has_perms(getattr(entry[0], "required_permissions", ()))
        }


class QueueAdminMixin(PermittedActionsMixin, ReadOnlyAdminMixin):
    """A work queue over a proxy model: visible to whoever may view the concrete model."""

    concrete_view_permission = ""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(self.concrete_view_permission)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


def _money(obj: Any) -> str:
    return cash_text(obj.amount, obj.currency)


def _entries_link(reference: str) -> str:
    url = reverse("admin:ledger_journalentry_changelist") + f"?reference={reference}"
    return format_html('<a href="{}">journal entries</a>', url)


# --- The books ------------------------------------------------------------------------------


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "holder", "asset", "bucket", "balance", "updated_at"]
    list_filter = ["bucket", "house", "currency"]
    search_fields = ["owner__number", "owner__owner__email", "currency", "instrument__symbol"]
    list_select_related = ["owner", "instrument"]
    show_full_result_count = False
    fields = [
        "id",
        "holder",
        "asset",
        "bucket",
        "balance",
        "created_at",
        "updated_at",
        "recent_postings",
    ]
    readonly_fields = fields

    @admin.display(description="Holder")
    def holder(self, obj: LedgerAccount) -> str:
        return obj.owner.number if obj.owner_id else f"House: {obj.get_house_display()}"

    @admin.display(description="Asset")
    def asset(self, obj: LedgerAccount) -> str:
        return obj.asset

    @admin.display(description=f"Latest {RECENT_POSTINGS} postings")
    def recent_postings(self, obj: LedgerAccount) -> str:
        postings = (
            Posting.objects.filter(ledger_account=obj)
            .select_related("entry")
            .order_by("-created_at", "-id")[:RECENT_POSTINGS]
        )
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">#{}</a> {}</td><td>{}</td>'
            '<td class="num">{}</td><td class="num">{}</td></tr>',
            (
                (
                    p.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    reverse("admin:ledger_journalentry_change", args=[p.entry_id]),
                    p.entry.sequence,
                    p.entry.kind,
                    p.entry.reference,
                    f"{p.amount:f}",
                    f"{p.balance_after:f}",
                )
                for p in postings
            ),
        )
        all_url = (
            reverse("admin:ledger_posting_changelist") + f"?ledger_account__id__exact={obj.pk}"
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>Entry</th><th>Reference</th><th>Amount</th>"
            '<th>Balance after</th></tr></thead><tbody>{}</tbody></table><p><a href="{}">'
            "All postings of this account</a></p>",
            rows,
            all_url,
        )


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ["ledger_account", "amount", "balance_after"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("ledger_account__owner")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(PermittedActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["sequence", "created_at", "kind", "reference", "short_memo", "actor"]
    list_filter = ["kind"]
    search_fields = ["=sequence", "reference", "memo", "idempotency_key", "correlation_id"]
    list_select_related = ["actor"]
    show_full_result_count = False
    inlines = [PostingInline]
    fields = [
        "sequence",
        "kind",
        "created_at",
        "reference",
        "memo",
        "actor",
        "correlation_id",
        "idempotency_key",
        "reverses",
        "reversal",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields
    actions = [
        ledger_reason_action(
            description="Reverse selected entries",
            service=functools.partial(services.journal_reverse, enforce_permission=True),
            permissions=("ledger.reverse_journalentry",),
            object_kwarg="entry",
        )
    ]

    @admin.display(description="Memo")
    def short_memo(self, obj: JournalEntry) -> str:
        return obj.memo if len(obj.memo) <= 60 else obj.memo[:59] + "…"

    @admin.display(description="Reversed by")
    def reversal(self, obj: JournalEntry) -> str:
        reversal = JournalEntry.objects.filter(reverses=obj).first()
        if reversal is None:
            return "-"
        url = reverse("admin:ledger_journalentry_change", args=[reversal.pk])
        return format_html('<a href="{}">#{}</a>', url, reversal.sequence)


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "entry", "ledger_account", "amount", "balance_after"]
    list_filter = ["ledger_account__bucket", "ledger_account__currency"]
    search_fields = ["entry__reference", "=ledger_account__owner__number"]
    list_select_related = ["entry", "ledger_account__owner", "ledger_account__instrument"]
    show_full_result_count = False
    ordering = ["-id"]


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Results of the daily ledger check (and of checks run on demand)."""

    list_display = [
        "started_at",
        "trigger",
        "ok",
        "problem_count",
        "entries_checked",
        "postings_checked",
        "accounts_checked",
        "seconds",
        "requested_by",
    ]
    list_filter = ["ok", "trigger"]
    list_select_related = ["requested_by"]
    fields = [
        "started_at",
        "finished_at",
        "trigger",
        "requested_by",
        "reason",
        "ok",
        "entries_checked",
        "postings_checked",
        "accounts_checked",
        "problem_count",
        "problem_list",
    ]
    readonly_fields = fields

    @admin.display(description="Seconds")
    def seconds(self, obj: ReconciliationRun) -> str:
        return f"{obj.duration:.1f}"

    @admin.display(description="Problems")
    def problem_list(self, obj: ReconciliationRun) -> str:
        if not obj.problems:
            return "None"
        return format_html("<pre>{}</pre>", json.dumps(obj.problems, indent=2))

    def get_urls(self) -> list:
        run = path(
            "run/",
            self.admin_site.admin_view(self.run_view),
            name="ledger_reconciliationrun_run",
        )
        return [run, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        extra = {"can_run": request.user.has_perm("ledger.run_reconciliation")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def run_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("ledger.run_reconciliation"):
            raise PermissionDenied
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            run = services.ledger_verify(
                trigger="staff", actor=request.user, reason=form.cleaned_data["reason"]
            )
            level = messages.SUCCESS if run.ok else messages.ERROR
            self.message_user(request, str(run), level)
            return HttpResponseRedirect(
                reverse("admin:ledger_reconciliationrun_change", args=[run.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Run the ledger check now",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/ledger/reconciliation_run.html", context)


# --- Deposits and the suspense queue --------------------------------------------------------


class AssignDepositForm(ReasonForm):
    account = forms.CharField(
        max_length=20, help_text="The trading account's number (BRS-000123) or id."
    )

    def clean_account(self) -> TradingAccount:
        value = self.cleaned_data["account"].strip()
        lookup = {"pk": int(value)} if value.isdigit() else {"number__iexact": value}
        account = TradingAccount.objects.filter(**lookup).first()
        if account is None:
            raise forms.ValidationError("No such trading account.")
        return account


DEPOSIT_ACTIONS = [
    ledger_reason_action(
        description="Assign to a trading account",
        service=services.deposit_assign,
        permissions=("ledger.assign_deposit",),
        form_class=AssignDepositForm,
        object_kwarg="deposit",
    ),
    ledger_reason_action(
        description="Return to the sender",
        service=services.deposit_return,
        permissions=("ledger.assign_deposit",),
        object_kwarg="deposit",
    ),
]

DEPOSIT_FIELDS = [
    "bank_transaction_id",
    "reference",
    "amount",
    "currency",
    "status",
    "suspense_reason",
    "account",
    "received_at",
    "resolved_at",
    "resolved_by",
    "status_reason",
    "return_reference",
    "entries",
]


class DepositAdminBase(admin.ModelAdmin):
    list_display = [
        "received_at",
        "bank_transaction_id",
        "reference",
        "money",
        "status",
        "suspense_reason",
        "account",
    ]
    list_filter = ["status", "suspense_reason", "currency"]
    search_fields = ["bank_transaction_id", "reference", "account__number"]
    list_select_related = ["account"]
    fields = DEPOSIT_FIELDS
    readonly_fields = DEPOSIT_FIELDS
    actions = DEPOSIT_ACTIONS

    @admin.display(description="Amount")
    def money(self, obj: Deposit) -> str:
        return f"{_money(obj)} {obj.currency}"

    @admin.display(description="Ledger")
    def entries(self, obj: Deposit) -> str:
        return _entries_link(obj.ledger_reference)


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdminMixin, DepositAdminBase, AuditedAdmin):
    """Every deposit the bank reported."""


@admin.register(DepositQueue)
class DepositQueueAdmin(QueueAdminMixin, DepositAdminBase):
    """Deposits held in suspense: assign each to the right account, or return it."""

    concrete_view_permission = "ledger.view_deposit"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(status=DepositStatus.IN_SUSPENSE)


# --- Withdrawals ----------------------------------------------------------------------------


class CompleteWithdrawalForm(ReasonForm):
    bank_reference = forms.CharField(
        max_length=100, required=False, help_text="The bank's reference for the payout."
    )


WITHDRAWAL_ACTIONS = [
    ledger_reason_action(
        description="Approve selected withdrawals",
        service=services.withdrawal_approve,
        permissions=("ledger.approve_withdrawal",),
        object_kwarg="withdrawal",
    ),
    ledger_reason_action(
        description="Reject selected withdrawals",
        service=services.withdrawal_reject,
        permissions=("ledger.reject_withdrawal",),
        object_kwarg="withdrawal",
    ),
    ledger_reason_action(
        description="Mark selected withdrawals paid out",
        service=services.withdrawal_complete,
        permissions=("ledger.complete_withdrawal",),
        form_class=CompleteWithdrawalForm,
        object_kwarg="withdrawal",
    ),
    ledger_reason_action(
        description="Mark selected withdrawals failed",
        service=services.withdrawal_fail,
        permissions=("ledger.complete_withdrawal",),
        object_kwarg="withdrawal",
    ),
]

WITHDRAWAL_FIELDS = [
    "account",
    "amount",
    "currency",
    "destination",
    "status",
    "status_reason",
    "requested_by",
    "requested_at",
    "approvals_required",
    "first_approved_by",
    "first_approved_at",
    "approved_by",
    "approved_at",
    "sent_at",
    "bank_reference",
    "closed_by",
    "closed_at",
    "entries",
]


class WithdrawalAdminBase(admin.ModelAdmin):
    list_display = [
        "id",
        "requested_at",
        "account",
        "money",
        "status",
        "approval_count",
        "bank_reference",
    ]
    list_filter = ["status", "currency", "approvals_required"]
    search_fields = ["=id", "account__number", "account__owner__email", "bank_reference"]
    list_select_related = ["account"]
    fields = WITHDRAWAL_FIELDS
    readonly_fields = WITHDRAWAL_FIELDS
    actions = WITHDRAWAL_ACTIONS

    @admin.display(description="Amount")
    def money(self, obj: Withdrawal) -> str:
        return f"{_money(obj)} {obj.currency}"

    @admin.display(description="Approvals")
    def approval_count(self, obj: Withdrawal) -> str:
        return f"{obj.approvals}/{obj.approvals_required}"

    @admin.display(description="Ledger")
    def entries(self, obj: Withdrawal) -> str:
        return _entries_link(obj.ledger_reference)


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnlyAdminMixin, WithdrawalAdminBase, AuditedAdmin):
    """Every withdrawal, in any status."""


@admin.register(WithdrawalQueue)
class WithdrawalQueueAdmin(QueueAdminMixin, WithdrawalAdminBase):
    """Withdrawals awaiting approval, or to confirm as paid out or failed."""

    concrete_view_permission = "ledger.view_withdrawal"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(status__in=OPEN_WITHDRAWAL_STATUSES)


# --- Adjustments ----------------------------------------------------------------------------


class AdjustmentRequestForm(forms.ModelForm):
    currency = forms.ChoiceField(
        choices=[("", "The account's currency")] + [(c, c) for c in settings.CURRENCIES],
        required=False,
    )

    class Meta:
        model = Adjustment
        fields = ["account", "amount", "currency", "justification"]
        labels = {"justification": "Reason"}
        help_texts = {
            "amount": "Positive credits the client's settled cash; negative debits it.",
            "justification": "Why: recorded in the journal and the audit trail.",
        }

    def clean(self) -> dict:
        data = super().clean()
        account = data.get("account")
        if account is not None and data.get("amount") is not None:
            currency = data.get("currency") or account.currency
            try:
                currency = currency_code(currency)
                data["amount"] = cash_amount(data["amount"], currency, positive=False)
            except ApplicationError as exc:
                raise forms.ValidationError(exc.message) from exc
            if currency != account.currency:
                self.add_error("currency", f"This account holds {account.currency}.")
            data["currency"] = currency
        return data


ADJUSTMENT_ACTIONS = [
    ledger_reason_action(
        description="Approve selected adjustments",
        service=services.adjustment_approve,
        permissions=("ledger.approve_adjustment",),
        object_kwarg="adjustment",
    ),
    ledger_reason_action(
        description="Reject selected adjustments",
        service=services.adjustment_reject,
        permissions=("ledger.approve_adjustment",),
        object_kwarg="adjustment",
    ),
]

ADJUSTMENT_FIELDS = [
    "account",
    "amount",
    "currency",
    "justification",
    "status",
    "requested_by",
    "requested_at",
    "decided_by",
    "decided_at",
    "decision_reason",
    "entries",
]


class AdjustmentAdminBase(admin.ModelAdmin):
    list_display = [
        "id",
        "requested_at",
        "account",
        "money",
        "status",
        "requested_by",
        "justification",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["=id", "account__number", "justification", "requested_by__email"]
    list_select_related = ["account", "requested_by"]
    readonly_fields = ADJUSTMENT_FIELDS
    actions = ADJUSTMENT_ACTIONS

    @admin.display(description="Amount")
    def money(self, obj: Adjustment) -> str:
        return f"{cash_text(obj.amount, obj.currency)} {obj.currency}"

    @admin.display(description="Ledger")
    def entries(self, obj: Adjustment) -> str:
        return _entries_link(obj.ledger_reference) if obj.pk else "-"


@admin.register(Adjustment)
class AdjustmentAdmin(AdjustmentAdminBase, AuditedAdmin):
    """Manual adjustments: request one with "Add"; a different staff member approves it."""

    form = AdjustmentRequestForm
    raw_id_fields = ["account"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return (
            ["account", "amount", "currency", "justification"] if obj is None else ADJUSTMENT_FIELDS
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else ADJUSTMENT_FIELDS

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("ledger.add_adjustment")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Adjustment, form: forms.Form, change: bool
    ) -> None:
        created = services.adjustment_request(
            account=obj.account,
            amount=form.cleaned_data["amount"],
            currency=form.cleaned_data["currency"],
            reason=form.cleaned_data["justification"],
            actor=request.user,
        )
        obj.pk = created.pk
        obj._state.adding = False


@admin.register(AdjustmentQueue)
class AdjustmentQueueAdmin(QueueAdminMixin, AdjustmentAdminBase):
    """Adjustments waiting for a second staff member."""

    concrete_view_permission = "ledger.view_adjustment"
    fields = ADJUSTMENT_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(status=AdjustmentStatus.PENDING_APPROVAL)


@admin.register(SimulatedBankPayout)
class SimulatedBankPayoutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The simulated bank's side of payouts (only with the default bank adapter)."""

    list_display = ["payout_id", "amount", "currency", "outcome", "due_at", "settled_at"]
    list_filter = ["outcome"]
    search_fields = ["payout_id", "bank_reference"]
