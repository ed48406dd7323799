"""KYC fixtures: the sample sanctions list is loaded for every test of the app."""

import pytest
from django.conf import settings

from apps.kyc import services


@pytest.fixture(autouse=True)
def sanctions_list(db):
    services._sanctions_matchers.clear()
    return services.sanctions_list_load(
        data=settings.KYC_SANCTIONS_SAMPLE_FILE.read_bytes(), source_name="sdn_sample.csv"
    )


@pytest.fixture
def compliance(staff_factory):
    return staff_factory("compliance")


@pytest.fixture
def admin_browser():
    """admin_browser(staff) -> a Django test client signed in to the admin with a backup code."""
    from django.test import Client

    from tests.factories.accounts import PASSWORD, next_static_token

    def sign_in(staff):
        browser = Client(REMOTE_ADDR="198.51.100.20", HTTP_USER_AGENT="pytest-admin/1.0")
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

    return sign_in
