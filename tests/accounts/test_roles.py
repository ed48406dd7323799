"""Roles are groups holding exactly the permissions each app grants them."""

import pytest
from django.contrib.auth.models import Group

from apps.accounts.choices import Role
from apps.accounts.roles import role_grants, sync_role_permissions

pytestmark = pytest.mark.django_db


def test_every_role_exists_and_every_granted_permission_is_defined():
    assert set(Group.objects.values_list("name", flat=True)) >= set(Role.values)
    assert sync_role_permissions() == []


def test_groups_hold_exactly_their_grants():
    grants = role_grants()
    for role in Role:
        group = Group.objects.get(name=role)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert held == grants.get(role.value, set())


def test_support_is_read_only_and_clients_hold_no_staff_permission():
    support = Group.objects.get(name=Role.SUPPORT).permissions.values_list("codename", flat=True)
    assert all(code.startswith("view_") for code in support)
    assert not Group.objects.get(name=Role.CLIENT).permissions.exists()


def test_me_lists_roles(as_staff):
    assert as_staff("compliance").get("/api/v1/me").json()["roles"] == ["compliance"]
    admin = as_staff(None, is_superuser=True)
    assert admin.get("/api/v1/me").json()["roles"] == ["superuser"]
