"""Back-office building blocks every app's admin uses.

* :class:`AuditedAdmin`: SimpleHistoryAdmin showing who, from where and why on each change.
* :func:`reason_action`: an admin action that asks the staff member for a reason on an
  intermediate page, then calls a service once per selected object.
* :class:`ReadOnlyAdminMixin`: for records nobody edits by hand (ledger, trades, history).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from apps.core.errors import ApplicationError
from apps.core.models import IdempotencyRecord, OutboxMessage


class AuditedAdmin(SimpleHistoryAdmin):
    """History with field diffs, IP, correlation id and reason; actions filtered by permission."""

    history_list_display = ["history_change_reason", "ip_address", "correlation_id"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        return {
            name: entry
            for name, entry in actions.items()
            if request.user.has_perms(getattr(entry[0], "required_permissions", ()))
        }


class ReadOnlyAdminMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=3,
        max_length=1000,
        help_text="Recorded in the audit trail with your name.",
    )


def reason_action(
    *,
    description: str,
    service: Callable[..., Any],
    permissions: tuple[str, ...] = (),
    form_class: type[ReasonForm] = ReasonForm,
    object_kwarg: str = "obj",
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], HttpResponse | None]:
    """An admin action calling ``service(<object_kwarg>=obj, actor=user, reason=...)``.

    Extra fields of ``form_class`` are passed to the service too. ``permissions`` are Django
    permission names ("app.codename") the staff member must hold: :class:`AuditedAdmin` hides
    the action from everyone else, and the service checks again. Errors raised by the service
    are shown per object.
    """

    def action(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            extra = dict(form.cleaned_data)
            reason = extra.pop("reason")
            done, failed = 0, 0
            for obj in queryset:
                try:
                    service(**{object_kwarg: obj}, actor=request.user, reason=reason, **extra)
                    done += 1
                except ApplicationError as exc:
                    failed += 1
                    modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            if done:
                modeladmin.message_user(request, f"{description}: {done} done.", messages.SUCCESS)
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "form": form,
            "objects": queryset,
            "opts": modeladmin.model._meta,
            "action_name": action.__name__,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/core/reason_action.html", context)

    action.__name__ = "action_" + "".join(c if c.isalnum() else "_" for c in description.lower())
    action.short_description = description
    action.required_permissions = permissions
    return action


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tasks waiting to be sent; rows that stay here with attempts > 0 need a look."""

    list_display = ["created_at", "task_name", "queue", "attempts", "last_attempt_at"]
    list_filter = ["task_name", "queue"]
    search_fields = ["task_name", "correlation_id"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "user", "scope", "key", "state", "response_status"]
    list_filter = ["state"]
    search_fields = ["key", "scope", "user__email", "correlation_id"]
    list_select_related = ["user"]
