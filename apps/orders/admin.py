"""Back-office console for orders: the order blotter and the fee schedules.

* The blotter: every order, filtered by instrument, account, status, side, type and date,
  searched by account number, client order id or symbol; an order's page shows its fills
  and its history. Staff cancel an open order with a reason (``orders.cancel_any_order``),
  through apps.orders.services.order_cancel.
* Fee schedules: what each asset class pays per order, edited with a reason that lands in
  the schedule's history.
"""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin, reason_action
from apps.core.audit import stamp
from apps.orders import services
from apps.orders.choices import OPEN_ORDER_STATUSES
from apps.orders.models import FeeSchedule, Order

ORDER_FIELDS = [
    "id",
    "account",
    "instrument",
    "side",
    "type",
    "quantity",
    "limit_price",
    "stop_price",
    "time_in_force",
    "expire_at",
    "expires_at",
    "status",
    "cancel_source",
    "status_reason",
    "reject_reason",
    "filled_quantity",
    "average_price",
    "notional_filled",
    "fees",
    "hold_total",
    "reserved",
    "hold_from_unsettled",
    "notional_estimate",
    "protection_price",
    "lot_ids",
    "client_order_id",
    "sequence",
    "needs_match",
    "book_priority",
    "placed_by",
    "created_at",
    "updated_at",
    "done_at",
    "fill_table",
    "ledger_entries",
]


class OpenFilter(admin.SimpleListFilter):
    title = "open or done"
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Open"), ("no", "Done")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(status__in=OPEN_ORDER_STATUSES)
        if self.value() == "no":
            return queryset.exclude(status__in=OPEN_ORDER_STATUSES)
        return queryset


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    """The order blotter. Orders change only through their services: nothing here edits them."""

    list_display = [
        "id",
        "created_at",
        "account",
        "symbol",
        "side",
        "type",
        "quantity",
        "limit_price",
        "filled_quantity",
        "average_price",
        "status",
        "client_order_id",
    ]
    list_filter = [
        OpenFilter,
        "status",
        ("instrument", admin.RelatedOnlyFieldListFilter),
        ("account", admin.RelatedOnlyFieldListFilter),
        "side",
        "type",
        "time_in_force",
        ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=id", "account__number", "client_order_id", "=instrument__symbol"]
    list_select_related = ["account", "instrument"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ORDER_FIELDS
    readonly_fields = ORDER_FIELDS
    actions = [
        reason_action(
            description="Cancel selected orders",
            service=functools.partial(services.order_cancel, staff=True),
            permissions=("orders.cancel_any_order",),
            object_kwarg="order",
        )
    ]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("orders.view_order") or request.user.has_perm(
            "orders.view_order_blotter"
        )

    @admin.display(description="Symbol", ordering="instrument__symbol")
    def symbol(self, obj: Order) -> str:
        return obj.instrument.symbol

    @admin.display(description="Fills")
    def fill_table(self, obj: Order) -> str:
        fills = obj.fills.select_related("trade").order_by("executed_at", "id")
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td><a href="{}">{}</a> {}</td><td>{}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>',
            (
                (
                    f.executed_at.strftime("%Y-%m-%d %H:%M:%S"),
                    reverse("admin:matching_trade_change", args=[f.trade_id]),
                    f.trade_id,
                    f.trade.get_status_display(),
                    f.get_liquidity_display(),
                    f"{f.quantity.normalize():f}",
                    f"{f.price.normalize():f}",
                    f"{f.fee:.2f}",
                    f.settlement_date.isoformat(),
                )
                for f in fills
            ),
        )
        if not rows:
            return "None"
        return format_html(
            "<table><thead><tr><th>Executed</th><th>Trade</th><th>Liquidity</th>"
            "<th>Quantity</th><th>Price</th><th>Fee</th><th>Settles</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="Ledger")
    def ledger_entries(self, obj: Order) -> str:
        url = reverse("admin:ledger_journalentry_changelist") + f"?reference=ORD-{obj.pk}"
        return format_html('<a href="{}">hold and release entries</a>', url)


class FeeScheduleForm(forms.ModelForm):
    change_reason = forms.CharField(
        label="Reason",
        min_length=3,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why the fees change: recorded in the schedule's history with your name.",
    )

    class Meta:
        model = FeeSchedule
        fields = [
            "asset_class",
            "bps",
            "per_share",
            "minimum_per_order",
            "maximum_per_order",
            "active",
        ]

    def clean(self) -> dict:
        data = super().clean()
        low, high = data.get("minimum_per_order"), data.get("maximum_per_order")
        if low is not None and high is not None and high < low:
            self.add_error("maximum_per_order", "The maximum is below the minimum.")
        return data


@admin.register(FeeSchedule)
class FeeScheduleAdmin(AuditedAdmin):
    """Fees per asset class. A change applies to fills from then on (fills keep the fee they
    were charged)."""

    form = FeeScheduleForm
    list_display = [
        "asset_class",
        "bps",
        "per_share",
        "minimum_per_order",
        "maximum_per_order",
        "active",
        "updated_at",
    ]
    list_filter = ["active"]
    search_fields = ["asset_class"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: FeeSchedule, form: forms.Form, change: bool
    ) -> None:
        stamp(obj, actor=request.user, reason=form.cleaned_data["change_reason"])
        obj.save()
