"""Back-office console for settlement.

* Settlement calendar: what settles on which date (a summary per date over the list, a date
  drill-down, filters by status and calendar).
* Fails queue: failed instructions, longest failing first, with retry, buy-in and cancel
  (cancel needs a second staff member).
* Settlement runs: each run's counts, totals and duration, "Run a date" (also resumes a run
  that stopped), and every instruction and good-faith violation, read-only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin, ReasonForm, reason_action
from apps.core.errors import ApplicationError
from apps.instruments.models import TradingCalendar
from apps.ledger.money import cash_text
from apps.settlement import selectors, services
from apps.settlement.models import (
    FailQueue,
    GoodFaithViolation,
    SettlementCalendar,
    SettlementInstruction,
    SettlementRun,
)

RESOLVE = ("settlement.resolve_settlementfail",)
CALENDAR_DAYS_BEFORE = 7
CALENDAR_DAYS_AFTER = 14


class InstructionColumns:
    """Columns shared by the instruction views."""

    @admin.display(description="Instrument", ordering="instrument__symbol")
    def symbol(self, obj: SettlementInstruction) -> str:
        return obj.instrument.symbol

    @admin.display(description="Shares")
    def shares(self, obj: SettlementInstruction) -> str:
        return f"{obj.quantity.normalize():+f}"

    @admin.display(description="Cash")
    def cash(self, obj: SettlementInstruction) -> str:
        return f"{cash_text(obj.cash_amount, obj.currency)} {obj.currency}"


INSTRUCTION_FIELDS = [
    "id",
    "trade_id",
    "fill_id",
    "account",
    "instrument",
    "side",
    "quantity",
    "cash_amount",
    "currency",
    "trade_date",
    "settlement_date",
    "status",
    "status_reason",
    "fail_code",
    "failed_on",
    "days_failing",
    "settled_at",
    "run",
    "cancel_requested_by",
    "cancel_requested_at",
    "cancel_reason",
    "resolved_by",
    "resolved_at",
    "created_at",
]


class _InstructionAdminBase(InstructionColumns, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_select_related = ["account", "instrument"]
    search_fields = ["account__number", "instrument__symbol", "=trade_id", "=id"]
    fields = INSTRUCTION_FIELDS
    readonly_fields = INSTRUCTION_FIELDS
    show_full_result_count = False


@admin.register(SettlementInstruction)
class SettlementInstructionAdmin(_InstructionAdminBase, AuditedAdmin):
    """Every instruction, in any state."""

    list_display = [
        "id",
        "settlement_date",
        "trade_date",
        "account",
        "symbol",
        "side",
        "shares",
        "cash",
        "status",
        "run",
    ]
    list_filter = ["status", "side", "fail_code", "currency", "settlement_date"]
    date_hierarchy = "settlement_date"


class SettlementQueueMixin:
    """A view over a proxy model: visible to whoever may view instructions."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("settlement.view_settlementinstruction")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        return {
            name: entry
            for name, entry in actions.items()
            if request.user.has_perms(getattr(entry[0], "required_permissions", ()))
        }


@admin.register(SettlementCalendar)
class SettlementCalendarAdmin(SettlementQueueMixin, _InstructionAdminBase):
    """What settles on which date. The table above the list sums each date (a week back, two
    weeks ahead, or the period chosen in the date drill-down)."""

    list_display = [
        "settlement_date",
        "symbol",
        "account",
        "side",
        "shares",
        "cash",
        "status",
        "trade_date",
    ]
    list_filter = ["status", "instrument__calendar", "currency", "side"]
    date_hierarchy = "settlement_date"
    ordering = ["settlement_date", "instrument__symbol", "id"]
    change_list_template = "admin/settlement/settlementcalendar/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        start, end = self._window(request)
        days = [
            {
                "day": day,
                "cash": ", ".join(
                    f"{cash_text(amount, currency)} {currency}"
                    for currency, amount in sorted(day.cash.items())
                ),
            }
            for day in selectors.settlement_calendar(start=start, end=end)
        ]
        extra = {"calendar_days": days, "calendar_start": start, "calendar_end": end}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    @staticmethod
    def _window(request: HttpRequest) -> tuple[dt.date, dt.date]:
        params = request.GET
        try:
            year = int(params.get("settlement_date__year", ""))
        except ValueError:
            today = timezone.localdate()
            return (
                today - dt.timedelta(days=CALENDAR_DAYS_BEFORE),
                today + dt.timedelta(days=CALENDAR_DAYS_AFTER),
            )
        month = params.get("settlement_date__month")
        day = params.get("settlement_date__day")
        try:
            if month and day:
                start = end = dt.date(year, int(month), int(day))
            elif month:
                start = dt.date(year, int(month), 1)
                end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            else:
                start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
        except ValueError:
            today = timezone.localdate()
            start = end = today
        return start, end


FAIL_ACTIONS = [
    reason_action(
        description="Retry selected fails",
        service=services.instruction_retry,
        permissions=RESOLVE,
        object_kwarg="instruction",
    ),
    reason_action(
        description="Buy in selected fails",
        service=services.instruction_buy_in,
        permissions=RESOLVE,
        object_kwarg="instruction",
    ),
    reason_action(
        description="Cancel selected fails (four-eyes)",
        service=services.instruction_cancel,
        permissions=RESOLVE,
        object_kwarg="instruction",
    ),
]


@admin.register(FailQueue)
class FailQueueAdmin(SettlementQueueMixin, _InstructionAdminBase):
    """Instructions that could not settle, longest failing first. Retry once the cause is
    gone; buy in shares that will not arrive (the firm delivers them); cancel what will never
    settle (a second staff member confirms)."""

    list_display = [
        "id",
        "failed_on",
        "days_failing",
        "settlement_date",
        "account",
        "symbol",
        "side",
        "shares",
        "cash",
        "fail_code",
        "status_reason",
        "cancel_requested_by",
    ]
    list_filter = ["fail_code", "side", "instrument__calendar"]
    actions = FAIL_ACTIONS

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return selectors.fails_queue()


class RunRequestForm(ReasonForm):
    run_date = forms.DateField(
        label="Settlement date",
        help_text="Everything pending due on or before this date settles (YYYY-MM-DD).",
    )
    calendar = forms.ModelChoiceField(
        queryset=TradingCalendar.objects.order_by("code"),
        required=False,
        empty_label="Every calendar",
        to_field_name="code",
    )
    field_order = ["run_date", "calendar", "reason"]


@admin.register(SettlementRun)
class SettlementRunAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    """Settlement runs: one per date (and calendar). A stopped run is resumed by running its
    date again."""

    list_display = [
        "run_date",
        "calendar",
        "status",
        "trigger",
        "instructions_settled",
        "instructions_failed",
        "groups_netted",
        "entries_posted",
        "cash",
        "duration",
        "attempts",
        "started_at",
    ]
    list_filter = ["status", "trigger", "calendar"]
    list_select_related = ["calendar"]
    date_hierarchy = "run_date"
    search_fields = ["run_date", "error"]
    fields = [
        "run_date",
        "calendar",
        "status",
        "trigger",
        "requested_by",
        "reason",
        "attempts",
        "started_at",
        "finished_at",
        "seconds",
        "chunks_done",
        "accounts_done",
        "last_account_id",
        "instructions_settled",
        "instructions_failed",
        "groups_netted",
        "entries_posted",
        "strays_swept",
        "fails_aged",
        "violations_found",
        "cash_moved",
        "securities_moved",
        "error",
        "instructions",
    ]
    readonly_fields = fields

    @admin.display(description="Cash to settled")
    def cash(self, obj: SettlementRun) -> str:
        return ", ".join(f"{v} {k}" for k, v in obj.cash_moved.items()) or "-"

    @admin.display(description="Seconds", ordering="seconds")
    def duration(self, obj: SettlementRun) -> str:
        return f"{obj.seconds:.1f}"

    @admin.display(description="Instructions settled by this run")
    def instructions(self, obj: SettlementRun) -> str:
        url = (
            reverse("admin:settlement_settlementinstruction_changelist")
            + f"?run__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">{} instruction(s)</a>', url, obj.instructions_settled)

    def get_urls(self) -> list:
        run = path(
            "run/",
            self.admin_site.admin_view(self.run_view),
            name="settlement_settlementrun_run",
        )
        return [run, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        extra = {"can_run": request.user.has_perm("settlement.start_settlementrun")}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def run_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("settlement.start_settlementrun"):
            raise PermissionDenied
        form = RunRequestForm(request.POST or None, initial={"run_date": timezone.localdate()})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                services.settlement_run_request(
                    run_date=data["run_date"],
                    calendar=data["calendar"],
                    actor=request.user,
                    reason=data["reason"],
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Settlement of {data['run_date']} requested; it runs on the settlement "
                    "queue and appears here.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:settlement_settlementrun_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Run settlement for a date",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/settlement/run_request.html", context)


@admin.register(GoodFaithViolation)
class GoodFaithViolationAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    """Regulation T good-faith violations: a purchase paid with unsettled proceeds, sold
    before they settled. Three in twelve months restrict the account for 90 days."""

    list_display = [
        "trade_date",
        "account",
        "instrument",
        "buy_order",
        "sell_order",
        "funds",
        "funds_settle_on",
        "restricted_until",
    ]
    list_filter = ["trade_date", "currency"]
    list_select_related = ["account", "instrument"]
    search_fields = ["account__number", "account__owner__email", "instrument__symbol"]
    date_hierarchy = "trade_date"
    fields = [
        "account",
        "instrument",
        "buy_order",
        "sell_order",
        "trade_date",
        "sold_at",
        "unsettled_funds",
        "currency",
        "funds_settle_on",
        "detected_at",
        "restricted_until",
        "restriction_lifted_at",
    ]
    readonly_fields = fields

    @admin.display(description="Paid from unsettled")
    def funds(self, obj: GoodFaithViolation) -> str:
        return f"{cash_text(obj.unsettled_funds, obj.currency)} {obj.currency}"
