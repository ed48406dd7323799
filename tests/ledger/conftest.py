"""Fixtures of the ledger tests: a webhook secret, staff of each role, admin sessions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from apps.accounts.choices import Role
from tests.factories.accounts import PASSWORD, StaffFactory, next_static_token

WEBHOOK_SECRET = "test-webhook-secret-0123456789"


@pytest.fixture(autouse=True)
def _bank_settings(settings) -> None:
    settings.BANK_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.BANK_WEBHOOK_SECRET_FALLBACKS = []
    settings.BANK_ADAPTER = "apps.ledger.bank.SimulatedBank"
    settings.BANK_SIMULATED_FAILURE_RATE = 0.0


@pytest.fixture
def ops(db):
    """A broker-operations staff member (approves withdrawals and adjustments)."""
    return StaffFactory(role=Role.BROKER_OPERATIONS)


@pytest.fixture
def ops2(db):
    """A second, different broker-operations staff member (four-eyes)."""
    return StaffFactory(role=Role.BROKER_OPERATIONS)


def admin_login(staff) -> Client:
    """A browser signed in to the admin with password and a backup code."""
    browser = Client()
    device = staff.staticdevice_set.get()
    response = browser.post(
        "/admin/login/?next=/admin/",
        {
            "username": staff.email,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": next_static_token(staff),
        },
    )
    assert response.status_code == 302, response.content[:500]
    return browser


@pytest.fixture
def admin_browser() -> Callable[..., Client]:
    return admin_login
