"""Roles: Django groups whose permissions decide what staff see and do.

Each app declares what it grants to each role in its own ``roles.py`` as ``GRANTS`` (role ->
permission names "app_label.codename"); :func:`sync_role_permissions` makes the groups hold
exactly those permissions. It runs after every ``migrate``, so a permission granted in code is
in the database once migrations are done. ``python manage.py roles_report`` prints the table.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import import_module
from typing import Any

from django.apps import apps

from apps.accounts.choices import Role

GRANTS: dict[str, list[str]] = {
    Role.BROKER_OPERATIONS: [
        "accounts.view_user",
        "accounts.change_user",
        "accounts.view_tradingaccount",
        "accounts.change_tradingaccount",
        "accounts.activate_tradingaccount",
        "accounts.restrict_tradingaccount",
        "accounts.suspend_tradingaccount",
        "accounts.close_tradingaccount",
        "accounts.view_signinevent",
    ],
    Role.COMPLIANCE: [
        "accounts.view_user",
        "accounts.view_tradingaccount",
        "accounts.restrict_tradingaccount",
        "accounts.suspend_tradingaccount",
        "accounts.view_signinevent",
        "accounts.view_apitoken",
    ],
    Role.RISK: [
        "accounts.view_user",
        "accounts.view_tradingaccount",
        "accounts.restrict_tradingaccount",
        "accounts.suspend_tradingaccount",
    ],
    Role.SUPPORT: [
        "accounts.view_user",
        "accounts.view_tradingaccount",
        "accounts.view_signinevent",
    ],
}


def role_grants() -> dict[str, set[str]]:
    """Role -> permission names, gathered from every Bourse app's ``roles.GRANTS``."""
    grants: dict[str, set[str]] = defaultdict(set)
    for app_config in apps.get_app_configs():
        if not app_config.name.startswith("apps."):
            continue
        module_name = f"{app_config.name}.roles"
        try:
            module = import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        for role, perms in getattr(module, "GRANTS", {}).items():
            grants[str(role)].update(perms)
    return grants


def sync_role_permissions() -> list[str]:
    """Make every role's group hold exactly its granted permissions.

    Returns the granted permission names that don't exist (yet) in the database.
    """
    from django.contrib.auth.models import Group, Permission

    grants = role_grants()
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    missing = []
    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.value)
        wanted = grants.get(role.value, set())
        missing.extend(sorted(p for p in wanted if p not in existing))
        group.permissions.set([existing[p] for p in wanted if p in existing])
    return missing


def sync_role_permissions_receiver(sender: Any, **kwargs: Any) -> None:
    sync_role_permissions()
