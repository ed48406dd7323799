"""Back-office console for the marketdata app, read-only (clients change their own in the
portal; the pipeline keeps market state): watchlists, notification choices, price alerts, the
notifications sent, and each instrument's market state."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin
from apps.marketdata.models import (
    MarketState,
    Notification,
    NotificationPreference,
    PriceAlert,
    Watchlist,
    WatchlistItem,
)


class WatchlistItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WatchlistItem
    fields = ["instrument", "position", "added_at"]
    readonly_fields = fields
    extra = 0


@admin.register(Watchlist)
class WatchlistAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    list_display = ["name", "user", "created_at", "updated_at"]
    search_fields = ["name", "user__email"]
    list_select_related = ["user"]
    inlines = [WatchlistItemInline]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    list_display = ["user", "event", "in_app", "email", "updated_at"]
    list_filter = ["event", "in_app", "email"]
    search_fields = ["user__email"]
    list_select_related = ["user"]


@admin.register(PriceAlert)
class PriceAlertAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    list_display = ["user", "instrument", "condition", "threshold", "status", "triggered_at"]
    list_filter = ["status", "condition"]
    search_fields = ["user__email", "instrument__symbol"]
    list_select_related = ["user", "instrument"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "event", "subject", "in_app", "email", "emailed_at"]
    list_filter = ["event", "in_app", "email"]
    search_fields = ["user__email", "subject", "key"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


@admin.register(MarketState)
class MarketStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "instrument",
        "trading_day",
        "last",
        "change_percent",
        "bid",
        "ask",
        "volume",
        "book_at",
    ]
    search_fields = ["instrument__symbol"]
    list_select_related = ["instrument"]
