"""Back-office console for the marketdata app: clients' watchlists and notification choices,
read-only (clients change them in the portal)."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin
from apps.marketdata.models import NotificationPreference, Watchlist, WatchlistItem


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
