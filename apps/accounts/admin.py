"""Back-office console: users and roles, trading accounts, sign-in log, API tokens."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.http import HttpRequest

from apps.accounts import services
from apps.accounts.models import ApiToken, SignInEvent, TradingAccount, User
from apps.core.admin import AuditedAdmin, ReadOnlyAdminMixin, reason_action
from apps.core.audit import stamp


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(AuditedAdmin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "first_name", "last_name", "phone"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["first_name", "last_name", "phone"]}),
        (
            "Roles",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "first_name", "last_name", "password1", "password2"],
            },
        ),
    ]

    def save_model(self, request: HttpRequest, obj: User, form: forms.Form, change: bool) -> None:
        stamp(obj, actor=request.user, reason="Edited in the back office")
        super().save_model(request, obj, form, change)


class TradingAccountForm(forms.ModelForm):
    change_reason = forms.CharField(
        required=True, min_length=3, help_text="Why this change? Recorded in the audit trail."
    )

    class Meta:
        model = TradingAccount
        fields = [
            "lot_relief_method",
            "tax_non_resident",
            "daily_withdrawal_limit",
            "per_withdrawal_limit",
        ]


@admin.register(TradingAccount)
class TradingAccountAdmin(AuditedAdmin):
    form = TradingAccountForm
    list_display = ["number", "owner", "type", "currency", "status", "opened_at"]
    list_filter = ["status", "type", "currency", "tax_non_resident"]
    search_fields = ["number", "owner__email", "owner__last_name"]
    list_select_related = ["owner"]
    readonly_fields = [
        "number",
        "owner",
        "type",
        "currency",
        "status",
        "status_reason",
        "status_changed_at",
        "restricted_until",
        "opened_at",
        "closed_at",
    ]
    actions = [
        reason_action(
            description="Activate selected accounts",
            service=services.trading_account_activate,
            permissions=("accounts.activate_tradingaccount",),
            object_kwarg="account",
        ),
        reason_action(
            description="Restrict selected accounts",
            service=services.trading_account_restrict,
            permissions=("accounts.restrict_tradingaccount",),
            object_kwarg="account",
        ),
        reason_action(
            description="Suspend selected accounts",
            service=services.trading_account_suspend,
            permissions=("accounts.suspend_tradingaccount",),
            object_kwarg="account",
        ),
        reason_action(
            description="Close selected accounts",
            service=services.trading_account_close,
            permissions=("accounts.close_tradingaccount",),
            object_kwarg="account",
        ),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # clients open accounts; the number sequence belongs to the service

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # accounts are closed, never deleted

    def save_model(
        self, request: HttpRequest, obj: TradingAccount, form: forms.Form, change: bool
    ) -> None:
        services.trading_account_settings_update(
            account=obj,
            actor=request.user,
            reason=form.cleaned_data["change_reason"],
            **{field: form.cleaned_data[field] for field in TradingAccountForm.Meta.fields},
        )


@admin.register(SignInEvent)
class SignInEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "email", "method", "succeeded", "failure_reason", "ip_address"]
    list_filter = ["method", "succeeded", "failure_reason"]
    search_fields = ["email", "ip_address", "correlation_id"]
    date_hierarchy = "created_at"


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, AuditedAdmin):
    list_display = [
        "prefix",
        "user",
        "otp_verified",
        "created_at",
        "last_used_at",
        "expires_at",
        "ip_address",
    ]
    list_filter = ["otp_verified"]
    search_fields = ["user__email", "prefix"]
    list_select_related = ["user"]
    actions = [
        reason_action(
            description="Revoke selected tokens",
            service=services.api_token_revoke,
            permissions=("accounts.delete_apitoken",),
            object_kwarg="token",
        )
    ]
