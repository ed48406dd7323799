"""Back-office console for matching: trades and fills (read-only), busts and price
corrections with four-eyes, and the matching queue's health.

* Trades: a trade's page shows its fills, settlement instructions, ledger entries and any
  bust or correction; "Request bust" and "Request price correction" (``matching.bust_trade``)
  ask for a reason and wait for a different staff member.
* Trade corrections: the requests; "Approve" applies one (apps.matching.services), "Reject"
  refuses it (its requester may withdraw it so).
* Matching queue: per instrument, orders waiting for the pipeline and the oldest one's age
  (apps.orders.selectors.open_orders_waiting), with each book's version and last price.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin, ReasonForm, reason_action
from apps.matching import services
from apps.matching.models import BookHealth, BookState, Fill, Trade, TradeCorrection
from apps.orders.choices import OPEN_ORDER_STATUSES
from apps.orders.selectors import open_orders_waiting

BUST = ("matching.bust_trade",)


class CorrectionForm(ReasonForm):
    price = forms.DecimalField(
        max_digits=24,
        decimal_places=8,
        min_value=Decimal("0.00000001"),
        help_text="The price the trade should have printed at (on the instrument's tick).",
    )


def _link(name: str, pk: Any, text: Any) -> str:
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{name}_change", args=[pk]), text)


class FillInline(admin.TabularInline):
    model = Fill
    fields = [
        "side",
        "order",
        "account",
        "liquidity",
        "quantity",
        "price",
        "notional",
        "fee",
        "settlement_date",
    ]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    """Executions. Busts and corrections go through a request a second person approves."""

    list_display = [
        "id",
        "executed_at",
        "symbol",
        "quantity",
        "price",
        "notional",
        "aggressor_side",
        "buy_order",
        "sell_order",
        "status",
        "settlement_date",
    ]
    list_filter = [
        "status",
        ("instrument", admin.RelatedOnlyFieldListFilter),
        "trade_date",
        "aggressor_side",
    ]
    search_fields = [
        "=id",
        "=instrument__symbol",
        "buy_order__account__number",
        "sell_order__account__number",
    ]
    list_select_related = ["instrument"]
    date_hierarchy = "executed_at"
    show_full_result_count = False
    inlines = [FillInline]
    fields = [
        "id",
        "instrument",
        "status",
        "status_reason",
        "price",
        "quantity",
        "notional",
        "aggressor_side",
        "buy_order",
        "sell_order",
        "trade_date",
        "settlement_date",
        "executed_at",
        "batch",
        "match_sequence",
        "replaces",
        "ledger_entry",
        "settlement",
        "corrections_table",
    ]
    readonly_fields = fields
    actions = [
        reason_action(
            description="Request bust",
            service=services.trade_bust_request,
            permissions=BUST,
            object_kwarg="trade",
        ),
        reason_action(
            description="Request price correction",
            service=services.trade_correction_request,
            permissions=BUST,
            form_class=CorrectionForm,
            object_kwarg="trade",
        ),
    ]

    @admin.display(description="Symbol", ordering="instrument__symbol")
    def symbol(self, obj: Trade) -> str:
        return obj.instrument.symbol

    @admin.display(description="Ledger entry")
    def ledger_entry(self, obj: Trade) -> str:
        if obj.journal_entry_id is None:
            return "-"
        return _link("ledger_journalentry", obj.journal_entry_id, f"#{obj.journal_entry_id}")

    @admin.display(description="Settlement instructions")
    def settlement(self, obj: Trade) -> str:
        from apps.settlement.models import SettlementInstruction

        rows = SettlementInstruction.objects.filter(trade_id=obj.pk).select_related("account")
        return (
            format_html_join(
                ", ",
                "{} {} {} ({})",
                (
                    (
                        i.account.number,
                        i.side,
                        f"{i.quantity.normalize():f}",
                        i.get_status_display(),
                    )
                    for i in rows
                ),
            )
            or "-"
        )

    @admin.display(description="Busts and corrections")
    def corrections_table(self, obj: Trade) -> str:
        rows = obj.corrections.select_related("requested_by", "decided_by")
        return (
            format_html_join(
                "<br>",
                "{}: {} by {}{}",
                (
                    (
                        _link("matching_tradecorrection", c.pk, str(c)),
                        c.get_status_display(),
                        c.requested_by,
                        f", decided by {c.decided_by}" if c.decided_by_id else "",
                    )
                    for c in rows
                ),
            )
            or "-"
        )


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "executed_at",
        "account",
        "symbol",
        "side",
        "liquidity",
        "quantity",
        "price",
        "fee",
        "trade",
        "settlement_date",
    ]
    list_filter = [
        "side",
        "liquidity",
        "trade_date",
        ("instrument", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["=id", "account__number", "=instrument__symbol", "=order__id", "=trade__id"]
    list_select_related = ["account", "instrument", "trade"]
    show_full_result_count = False

    @admin.display(description="Symbol", ordering="instrument__symbol")
    def symbol(self, obj: Fill) -> str:
        return obj.instrument.symbol


CORRECTION_FIELDS = [
    "trade",
    "kind",
    "price",
    "reason",
    "status",
    "requested_by",
    "requested_at",
    "decided_by",
    "decided_at",
    "decision_reason",
    "reversal_entry",
    "replacement",
]


@admin.register(TradeCorrection)
class TradeCorrectionAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    """Bust and correction requests; a different staff member approves."""

    list_display = [
        "id",
        "requested_at",
        "trade",
        "kind",
        "price",
        "status",
        "requested_by",
        "decided_by",
        "reason",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["=id", "=trade__id", "=trade__instrument__symbol", "reason"]
    list_select_related = ["trade", "requested_by", "decided_by"]
    fields = CORRECTION_FIELDS
    readonly_fields = CORRECTION_FIELDS
    actions = [
        reason_action(
            description="Approve selected requests",
            service=services.trade_correction_approve,
            permissions=BUST,
            object_kwarg="correction",
        ),
        reason_action(
            description="Reject selected requests",
            service=services.trade_correction_reject,
            permissions=BUST,
            object_kwarg="correction",
        ),
    ]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may bust trades sees the requests waiting for them.
        return super().has_view_permission(request, obj) or request.user.has_perm(BUST[0])

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or request.user.has_perm(BUST[0])

    @admin.display(description="Reversal")
    def reversal_entry(self, obj: TradeCorrection) -> str:
        if obj.reversal_entry_id is None:
            return "-"
        return _link("ledger_journalentry", obj.reversal_entry_id, f"#{obj.reversal_entry_id}")


@admin.register(BookState)
class BookStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Each instrument's book: version, last trade, open and waiting orders."""

    list_display = [
        "instrument",
        "version",
        "open_orders",
        "waiting_orders",
        "last_price",
        "last_quantity",
        "last_trade_at",
        "batches",
    ]
    search_fields = ["=instrument__symbol"]
    list_select_related = ["instrument"]
    ordering = ["instrument__symbol"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        is_open = Q(instrument__orders__status__in=OPEN_ORDER_STATUSES)
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_count=Count("instrument__orders", filter=is_open),
                waiting_count=Count(
                    "instrument__orders", filter=is_open & Q(instrument__orders__needs_match=True)
                ),
            )
        )

    @admin.display(description="Open orders", ordering="open_count")
    def open_orders(self, obj: BookState) -> int:
        return obj.open_count

    @admin.display(description="Waiting for matching", ordering="waiting_count")
    def waiting_orders(self, obj: BookState) -> int:
        return obj.waiting_count


@admin.register(BookHealth)
class BookHealthAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The matching queue: instruments with orders the pipeline hasn't taken yet. A queue
    that stays long or old means a matching worker is down or stuck."""

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        rows = open_orders_waiting()
        states = {
            s.instrument_id: s
            for s in BookState.objects.filter(instrument_id__in=[r["instrument_id"] for r in rows])
        }
        for row in rows:
            state = states.get(row["instrument_id"])
            row["version"] = state.version if state else 0
            row["last_price"] = state.last_price if state else None
            row["last_trade_at"] = state.last_trade_at if state else None
        context = {
            **self.admin_site.each_context(request),
            "title": "Matching queue",
            "opts": self.model._meta,
            "rows": rows,
            "waiting": sum(r["waiting"] for r in rows),
            "books_url": reverse("admin:matching_bookstate_changelist"),
            "blotter_url": reverse("admin:orders_order_changelist"),
        }
        return TemplateResponse(request, "orders/admin/matching_queue.html", context)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("matching.view_bookstate")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)
