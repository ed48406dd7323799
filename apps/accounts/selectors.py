"""Reads of the accounts app."""

from __future__ import annotations

from django.db.models import QuerySet
from django_otp import devices_for_user

from apps.accounts.choices import Role
from apps.accounts.models import TradingAccount, User
from apps.core.errors import not_found


def user_roles(user: User) -> list[str]:
    """Role names of a user: their groups, plus ``superuser`` for Django superusers."""
    roles = sorted(g.name for g in user.groups.all() if g.name in Role.values)
    if user.is_superuser:
        roles.append("superuser")
    return roles


def user_otp_enabled(user: User) -> bool:
    return any(devices_for_user(user, confirmed=True))


def trading_accounts_for(*, user: User) -> QuerySet[TradingAccount]:
    """The trading accounts a client owns."""
    return TradingAccount.objects.filter(owner=user).select_related("owner").order_by("number")


def trading_account_for(*, user: User, pk: int | str) -> TradingAccount:
    """One of the user's own accounts; another's (or a missing) id is ``not_found``."""
    try:
        return trading_accounts_for(user=user).get(pk=int(pk))
    except (TradingAccount.DoesNotExist, ValueError, TypeError) as exc:
        raise not_found("No such account.") from exc


def trading_accounts_backoffice() -> QuerySet[TradingAccount]:
    return TradingAccount.objects.select_related("owner").order_by("number")


def trading_account_backoffice(*, pk: int | str) -> TradingAccount:
    account = trading_accounts_backoffice().filter(pk=pk).first()
    if account is None:
        raise not_found("No such account.")
    return account
