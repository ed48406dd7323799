"""Back-office console: the instrument master, halts, trading calendars and their closures,
and corporate actions (entry, four-eyes review, entitlement preview, processing).

Every save and action goes through apps.instruments.services and asks for a reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin, ReasonForm, reason_action
from apps.core.errors import ApplicationError
from apps.instruments import selectors, services
from apps.instruments.choices import DEFAULT_SETTLEMENT_CYCLE, ClosureKind, HaltKind
from apps.instruments.models import (
    CalendarClosure,
    CorporateAction,
    CorporateActionEntitlement,
    Instrument,
    InstrumentHalt,
    TradingCalendar,
)


def _form_errors(form: forms.Form, exc: ApplicationError) -> None:
    """Show a service's ``invalid`` details on the form's fields."""
    if not exc.details:
        form.add_error(None, exc.message)
    for field, errors in exc.details.items():
        target = field if field in form.fields else None
        for error in errors if isinstance(errors, list) else [errors]:
            form.add_error(target, error if target else f"{field}: {error}")


class ChangeReasonMixin(forms.ModelForm):
    change_reason = forms.CharField(
        required=False,
        min_length=3,
        max_length=1000,
        help_text="Why this change? Recorded in the audit trail with your name.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk and not cleaned.get("change_reason"):
            self.add_error("change_reason", "Say why you change it.")
        return cleaned


# --- Instruments ----------------------------------------------------------------------------


class InstrumentAdminForm(ChangeReasonMixin):
    class Meta:
        model = Instrument
        fields = [
            "symbol",
            "name",
            "asset_class",
            "currency",
            "isin",
            "cusip",
            "tick_size",
            "lot_size",
            "min_quantity",
            "price_band_pct",
            "reference_price",
            "previous_close",
            "settlement_cycle",
            "calendar",
            "accredited_only",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for field in ("symbol", "asset_class", "currency"):
                self.fields[field].disabled = True
        else:
            self.fields["settlement_cycle"].required = False
            self.fields[
                "settlement_cycle"
            ].help_text = "Business days to settlement; empty for the asset class's default."

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        instance = self.instance
        if instance.settlement_cycle is None:
            instance.settlement_cycle = DEFAULT_SETTLEMENT_CYCLE.get(instance.asset_class, 2)
        try:
            services.instrument_validate(instance)
        except ApplicationError as exc:
            _form_errors(self, exc)


class HaltForm(ReasonForm):
    kind = forms.ChoiceField(choices=HaltKind.choices, initial=HaltKind.OTHER)
    resume_at = forms.DateTimeField(
        required=False, help_text="Planned resumption (UTC); trading resumes by itself then."
    )


class InstrumentHaltInline(admin.TabularInline):
    model = InstrumentHalt
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "kind",
        "halt_reason",
        "started_at",
        "started_by",
        "resume_at",
        "ended_at",
        "ended_by",
        "end_reason",
    ]
    ordering = ["-started_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("started_by", "ended_by")


@admin.register(Instrument)
class InstrumentAdmin(AuditedAdmin):
    form = InstrumentAdminForm
    list_display = [
        "symbol",
        "name",
        "asset_class",
        "currency",
        "status",
        "market_state",
        "reference_price",
        "settlement",
        "calendar",
        "accredited_only",
    ]
    list_filter = ["status", "asset_class", "currency", "calendar", "accredited_only"]
    search_fields = ["symbol", "name", "isin", "cusip"]
    list_select_related = ["calendar"]
    readonly_fields = [
        "status",
        "status_reason",
        "status_changed_at",
        "market_state",
        "price_band_display",
        "reference_price_at",
        "created_at",
        "updated_at",
    ]
    inlines = [InstrumentHaltInline]
    fieldsets = [
        (None, {"fields": ["symbol", "name", "asset_class", "currency", "isin", "cusip"]}),
        (
            "Trading terms",
            {
                "fields": [
                    "tick_size",
                    "lot_size",
                    "min_quantity",
                    "price_band_pct",
                    "reference_price",
                    "previous_close",
                    "price_band_display",
                    "reference_price_at",
                    "settlement_cycle",
                    "calendar",
                    "accredited_only",
                ]
            },
        ),
        (
            "Status",
            {"fields": ["status", "status_reason", "status_changed_at", "market_state"]},
        ),
        ("Audit", {"fields": ["change_reason", "created_at", "updated_at"]}),
    ]
    actions = [
        reason_action(
            description="Halt trading in selected instruments",
            service=services.instrument_halt,
            permissions=("instruments.halt_instrument",),
            form_class=HaltForm,
            object_kwarg="instrument",
        ),
        reason_action(
            description="Resume trading in selected instruments",
            service=services.instrument_resume,
            permissions=("instruments.halt_instrument",),
            object_kwarg="instrument",
        ),
        reason_action(
            description="Suspend selected instruments",
            service=services.instrument_suspend,
            permissions=("instruments.suspend_instrument",),
            object_kwarg="instrument",
        ),
        reason_action(
            description="Reinstate selected instruments",
            service=services.instrument_reinstate,
            permissions=("instruments.suspend_instrument",),
            object_kwarg="instrument",
        ),
        reason_action(
            description="Delist selected instruments",
            service=services.instrument_delist,
            permissions=("instruments.delist_instrument",),
            object_kwarg="instrument",
        ),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        if obj is None:  # a new listing: no status yet, no change reason
            return [fs for fs in self.fieldsets if fs[0] not in {"Status", "Audit"}]
        return self.fieldsets

    @admin.display(description="Market now")
    def market_state(self, obj: Instrument) -> str:
        return selectors.market_state(instrument=obj) if obj.pk else "-"

    @admin.display(description="Settles")
    def settlement(self, obj: Instrument) -> str:
        return f"T+{obj.settlement_cycle}"

    @admin.display(description="Price band today")
    def price_band_display(self, obj: Instrument) -> str:
        band = obj.price_band() if obj.pk else None
        return f"{band[0]} - {band[1]}" if band else "-"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # instruments are delisted, never deleted

    def save_model(
        self, request: HttpRequest, obj: Instrument, form: forms.Form, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            fields = {f: data[f] for f in form.changed_data if f in services.EDITABLE_FIELDS}
            saved = services.instrument_update(
                instrument=obj, actor=request.user, reason=data["change_reason"], **fields
            )
        else:
            fields = {f: data[f] for f in InstrumentAdminForm.Meta.fields}
            saved = services.instrument_create(
                actor=request.user, reason="Listed in the back office", **fields
            )
        obj.pk = obj.id = saved.pk


@admin.register(InstrumentHalt)
class InstrumentHaltAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    list_display = [
        "instrument",
        "kind",
        "halt_reason",
        "started_at",
        "started_by",
        "resume_at",
        "ended_at",
        "ended_by",
    ]
    list_filter = ["kind", ("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["instrument__symbol", "halt_reason", "end_reason"]
    list_select_related = ["instrument", "started_by", "ended_by"]
    date_hierarchy = "started_at"


# --- Calendars ------------------------------------------------------------------------------


class TradingCalendarAdminForm(ChangeReasonMixin):
    class Meta:
        model = TradingCalendar
        fields = [
            "code",
            "name",
            "timezone",
            "trading_days",
            "round_the_clock",
            "pre_open_time",
            "open_time",
            "close_time",
            "early_close_time",
            "holiday_source",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["code"].disabled = True

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        try:
            services.calendar_validate(self.instance)
        except ApplicationError as exc:
            _form_errors(self, exc)


class CalendarClosureInline(admin.TabularInline):
    model = CalendarClosure
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "date",
        "kind",
        "open_time",
        "close_time",
        "description",
        "created_by",
    ]
    ordering = ["-date"]
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TradingCalendar)
class TradingCalendarAdmin(AuditedAdmin):
    form = TradingCalendarAdminForm
    list_display = [
        "code",
        "name",
        "timezone",
        "hours",
        "trading_days_display",
        "holiday_source",
        "instrument_count",
    ]
    search_fields = ["code", "name"]
    readonly_fields = ["upcoming_sessions", "special_days_ahead", "created_at", "updated_at"]
    inlines = [CalendarClosureInline]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [*TradingCalendarAdminForm.Meta.fields]
        if obj is not None:
            fields += ["change_reason", "upcoming_sessions", "special_days_ahead", "updated_at"]
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_instruments=Count("instruments"))

    @admin.display(description="Instruments", ordering="_instruments")
    def instrument_count(self, obj: TradingCalendar) -> int:
        return getattr(obj, "_instruments", 0)

    @admin.display(description="Hours")
    def hours(self, obj: TradingCalendar) -> str:
        if obj.round_the_clock:
            return "all day"
        pre = f" (pre-open {obj.pre_open_time:%H:%M})" if obj.pre_open_time else ""
        return f"{obj.open_time:%H:%M}-{obj.close_time:%H:%M}{pre}"

    @admin.display(description="Next sessions (exchange time)")
    def upcoming_sessions(self, obj: TradingCalendar) -> str:
        zone = selectors.schedule_for(obj).zone
        rows = [
            (
                f"{s.date:%a %Y-%m-%d}",
                f"{s.open_at.astimezone(zone):%H:%M}",
                f"{s.close_at.astimezone(zone):%H:%M %Z}",
                s.note,
            )
            for s in selectors.upcoming_sessions(calendar=obj, count=7)
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    @admin.display(description="Holidays and special days, next 12 months")
    def special_days_ahead(self, obj: TradingCalendar) -> str:
        start = selectors.trade_date(calendar=obj, at=timezone.now())
        days = selectors.special_days(calendar=obj, start=start, end=start + dt.timedelta(days=365))
        rows = [
            (
                f"{day:%a %Y-%m-%d}",
                ClosureKind(closure.kind).label,
                closure.close_time.strftime("%H:%M") if closure.close_time else "",
                closure.reason,
                "staff" if closure.staff else obj.holiday_source,
            )
            for day, closure in days
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
            ),
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # instruments point at calendars; change one instead

    def save_model(
        self, request: HttpRequest, obj: TradingCalendar, form: forms.Form, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            fields = {f: data[f] for f in form.changed_data if f in services.CALENDAR_FIELDS}
            saved = services.calendar_update(
                calendar=obj, actor=request.user, reason=data["change_reason"], **fields
            )
        else:
            fields = {f: data[f] for f in services.CALENDAR_FIELDS if f not in {"name", "timezone"}}
            saved = services.calendar_create(
                actor=request.user,
                code=data["code"],
                name=data["name"],
                timezone=data["timezone"],
                **fields,
            )
        obj.pk = obj.id = saved.pk


class CalendarClosureAdminForm(ChangeReasonMixin):
    class Meta:
        model = CalendarClosure
        fields = ["calendar", "date", "kind", "open_time", "close_time", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["calendar"].disabled = True
            self.fields["date"].disabled = True

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors or not self.instance.calendar_id:
            return
        try:
            services.calendar_closure_validate(self.instance, self.instance.calendar)
        except ApplicationError as exc:
            _form_errors(self, exc)


@admin.register(CalendarClosure)
class CalendarClosureAdmin(AuditedAdmin):
    """Closures staff add: a day closed, closing early or opening late. Removing one asks for
    a reason (the action below); the date then follows the holiday calendar again."""

    form = CalendarClosureAdminForm
    list_display = [
        "calendar",
        "date",
        "kind",
        "open_time",
        "close_time",
        "description",
        "created_by",
    ]
    list_filter = ["calendar", "kind"]
    search_fields = ["description", "calendar__code"]
    list_select_related = ["calendar", "created_by"]
    date_hierarchy = "date"
    actions = [
        reason_action(
            description="Remove selected closures",
            service=services.calendar_closure_remove,
            permissions=("instruments.delete_calendarclosure",),
            object_kwarg="closure",
        )
    ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [*CalendarClosureAdminForm.Meta.fields]
        return [*fields, "change_reason"] if obj is not None else fields

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # removal asks for a reason
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: CalendarClosure, form: forms.Form, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            fields = {
                f: data[f]
                for f in form.changed_data
                if f in {"kind", "open_time", "close_time", "description"}
            }
            saved = services.calendar_closure_update(
                closure=obj, actor=request.user, reason=data["change_reason"], **fields
            )
        else:
            saved = services.calendar_closure_add(
                calendar=data["calendar"],
                actor=request.user,
                date=data["date"],
                kind=data["kind"],
                open_time=data.get("open_time"),
                close_time=data.get("close_time"),
                reason=data["description"],
            )
        obj.pk = obj.id = saved.pk


# --- Corporate actions ----------------------------------------------------------------------

CORPORATE_ACTION_TERMS = [
    "description",
    "effective_date",
    "ex_date",
    "record_date",
    "pay_date",
    "amount_per_share",
    "currency",
    "ratio_new",
    "ratio_old",
    "cash_in_lieu_price",
    "new_tick_size",
    "new_symbol",
    "new_name",
]


class CorporateActionAdminForm(ChangeReasonMixin):
    class Meta:
        model = CorporateAction
        fields = ["instrument", "kind", *CORPORATE_ACTION_TERMS]
        help_texts = {
            "effective_date": "Splits and symbol changes: the first day on the new terms. "
            "Dividends: leave empty, it is the pay date.",
            "ex_date": "Leave empty: it follows from the record date and the settlement cycle.",
            "currency": "Leave empty for the instrument's currency.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("effective_date", "currency", "ex_date"):
            if name in self.fields:
                self.fields[name].required = False
        if self.instance.pk:
            for name in ("instrument", "kind"):
                if name in self.fields:
                    self.fields[name].disabled = True

    def clean(self) -> dict[str, Any]:
        """Fill what follows from the terms before the model's own checks run: a dividend's
        pay date is its effective date, its ex-date follows from the record date (unless
        given), its currency is the instrument's (unless given)."""
        data = super().clean()
        instrument = data.get("instrument") or getattr(self.instance, "instrument", None)
        if data.get("kind") == "cash_dividend" and instrument is not None:
            if data.get("pay_date"):
                data["effective_date"] = data["pay_date"]
            data["currency"] = data.get("currency") or instrument.currency
            record = data.get("record_date")
            ex_given = data.get("ex_date") and "ex_date" in self.changed_data
            if record and not ex_given:
                data["ex_date"] = selectors.ex_date_for(instrument=instrument, record_date=record)
        return data

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors or not self.instance.instrument_id:
            return
        try:
            services.corporate_action_validate(self.instance)
        except ApplicationError as exc:
            _form_errors(self, exc)


class CorporateActionEntitlementInline(admin.TabularInline):
    model = CorporateActionEntitlement
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "account",
        "quantity",
        "new_quantity",
        "fraction",
        "gross",
        "withholding",
        "net",
        "currency",
        "journal_entry_id",
    ]
    ordering = ["account__number"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("account")


@admin.register(CorporateAction)
class CorporateActionAdmin(AuditedAdmin):
    """Corporate actions: enter one with "Add"; a different staff member approves it (the
    action below); processing pays or splits on the date (the scheduler does it then, or
    staff with "Process"). The entitlement preview shows what processing would do now."""

    form = CorporateActionAdminForm
    list_display = [
        "reference",
        "instrument",
        "kind",
        "status",
        "effective_date",
        "terms_display",
        "entered_by",
        "approved_by",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["instrument__symbol", "old_symbol", "new_symbol", "description", "=id"]
    list_select_related = ["instrument", "entered_by", "approved_by"]
    date_hierarchy = "effective_date"
    raw_id_fields = ["instrument"]
    inlines = [CorporateActionEntitlementInline]
    WORKFLOW = [
        "status",
        "preview_link",
        "entered_by",
        "entered_at",
        "last_edited_by",
        "announced_at",
        "approved_by",
        "approved_at",
        "processed_by",
        "processed_at",
        "cancelled_by",
        "cancelled_at",
        "status_reason",
        "summary_display",
    ]
    actions = [
        reason_action(
            description="Announce selected corporate actions to clients",
            service=services.corporate_action_announce,
            permissions=("instruments.change_corporateaction",),
            object_kwarg="action",
        ),
        reason_action(
            description="Approve selected corporate actions (four-eyes)",
            service=services.corporate_action_approve,
            permissions=("instruments.approve_corporateaction",),
            object_kwarg="action",
        ),
        reason_action(
            description="Process selected corporate actions now",
            service=services.corporate_action_process,
            permissions=("instruments.process_corporateaction",),
            object_kwarg="action",
        ),
        reason_action(
            description="Cancel selected corporate actions",
            service=services.corporate_action_cancel,
            permissions=("instruments.change_corporateaction",),
            object_kwarg="action",
        ),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        terms = ["instrument", "kind", *CORPORATE_ACTION_TERMS]
        if obj is None:
            return [(None, {"fields": terms})]
        editable = obj.status in ("draft", "announced")
        return [
            (None, {"fields": terms + (["change_reason"] if editable else [])}),
            ("Review and processing", {"fields": self.WORKFLOW}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        if obj.status in ("draft", "announced"):
            return list(self.WORKFLOW)
        return ["instrument", "kind", *CORPORATE_ACTION_TERMS, *self.WORKFLOW]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("instruments.add_corporateaction")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cancelled, never deleted

    @admin.display(description="Terms")
    def terms_display(self, obj: CorporateAction) -> str:
        return obj.terms_display

    @admin.display(description="Entitlements")
    def preview_link(self, obj: CorporateAction) -> str:
        url = reverse("admin:instruments_corporateaction_preview", args=[obj.pk])
        label = "what was paid" if obj.status == "processed" else "preview what processing does"
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="Outcome")
    def summary_display(self, obj: CorporateAction) -> str:
        if not obj.summary:
            return "-"
        return format_html_join(
            "", "<div>{}: {}</div>", ((k.replace("_", " "), v) for k, v in obj.summary.items())
        )

    def get_urls(self) -> list:
        preview = path(
            "<int:pk>/preview/",
            self.admin_site.admin_view(self.preview_view),
            name="instruments_corporateaction_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        action = self.get_object(request, str(pk))
        if action is None or not self.has_view_permission(request, action):
            raise PermissionDenied
        processed = action.status == "processed"
        context = {
            **self.admin_site.each_context(request),
            "title": f"{action}: {'entitlements' if processed else 'entitlement preview'}",
            "opts": self.model._meta,
            "action": action,
            "processed": processed,
            "preview": None if processed else selectors.corporate_action_preview(action=action),
            "entitlements": (
                action.entitlements.select_related("account").order_by("account__number")
                if processed
                else []
            ),
        }
        return TemplateResponse(request, "admin/instruments/corporate_action_preview.html", context)

    def save_model(
        self, request: HttpRequest, obj: CorporateAction, form: forms.Form, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            fields = {f: data[f] for f in form.changed_data if f in CORPORATE_ACTION_TERMS}
            saved = services.corporate_action_update(
                action=obj, actor=request.user, reason=data["change_reason"], **fields
            )
        else:
            terms = {f: data.get(f) for f in CORPORATE_ACTION_TERMS}
            if data["kind"] == "cash_dividend":
                terms["effective_date"] = None
            saved = services.corporate_action_declare(
                actor=request.user,
                instrument=data["instrument"],
                kind=data["kind"],
                **{k: v for k, v in terms.items() if v not in (None, "")},
            )
        obj.pk = obj.id = saved.pk
        obj._state.adding = False
