"""What each role may do with instruments and calendars."""

import pytest

from apps.accounts.roles import sync_role_permissions
from tests.factories.accounts import StaffFactory

pytestmark = pytest.mark.django_db


def test_every_granted_permission_exists():
    assert [p for p in sync_role_permissions() if p.startswith("instruments.")] == []


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (
            "broker_operations",
            {
                "add_instrument",
                "change_instrument",
                "halt_instrument",
                "delist_instrument",
                "add_calendarclosure",
                "delete_calendarclosure",
                "change_tradingcalendar",
            },
            set(),
        ),
        ("risk", {"view_instrument", "halt_instrument"}, {"add_instrument", "suspend_instrument"}),
        (
            "compliance",
            {"view_instrument", "halt_instrument"},
            {"change_instrument", "add_calendarclosure"},
        ),
        (
            "support",
            {"view_instrument", "view_instrumenthalt", "view_tradingcalendar"},
            {"halt_instrument", "add_instrument"},
        ),
    ],
)
def test_role_grants(role, allowed, refused):
    user = StaffFactory(role=role)
    assert user.has_perms([f"instruments.{p}" for p in allowed])
    assert not any(user.has_perm(f"instruments.{p}") for p in refused)
