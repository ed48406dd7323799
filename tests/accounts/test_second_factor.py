"""The second factor: staff in the admin and the API, clients with a device in the portal."""

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken

from apps.accounts.models import ApiToken
from tests.conftest import token_client
from tests.factories.accounts import PASSWORD, next_static_token

pytestmark = pytest.mark.django_db


def test_admin_refuses_staff_without_a_verified_second_factor(staff_factory):
    staff = staff_factory("broker_operations")
    browser = Client()
    browser.force_login(staff)  # password only: no OTP verification in this session
    response = browser.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_login_with_password_and_backup_code(staff_factory):
    staff = staff_factory("broker_operations")
    browser = Client()
    login_page = browser.get("/admin/login/")
    assert b"otp_token" in login_page.content
    device = staff.staticdevice_set.get()
    code = next_static_token(staff)
    wrong = browser.post(
        "/admin/login/?next=/admin/",
        {
            "username": staff.email,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": "000",
        },
    )
    assert wrong.status_code == 200  # the form again, with an error
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # django-otp locks the device briefly
    device.throttle_reset()  # as if the lockout had passed
    ok = browser.post(
        "/admin/login/?next=/admin/",
        {
            "username": staff.email,
            "password": PASSWORD,
            "otp_device": device.persistent_id,
            "otp_token": code,
        },
    )
    assert ok.status_code == 302
    assert browser.get("/admin/").status_code == 200
    assert not StaticToken.objects.filter(device=device, token=code).exists()  # used up


def test_staff_token_needs_an_otp(api, staff_factory):
    staff = staff_factory("compliance")
    response = api.post("/api/v1/auth/token", {"email": staff.email, "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "otp_required"
    ok = api.post(
        "/api/v1/auth/token",
        {"email": staff.email, "password": PASSWORD, "otp_token": next_static_token(staff)},
    )
    assert ok.status_code == 200
    assert ok.json()["otp_verified"] is True


def test_staff_without_any_device_cannot_get_a_token(api, db):
    from apps.accounts.models import User

    staff = User.objects.create_user("bare@bourse.test", PASSWORD, is_staff=True)
    response = api.post("/api/v1/auth/token", {"email": staff.email, "password": PASSWORD})
    assert response.status_code == 401
    assert "addstatictoken" in response.json()["error"]["message"]


def test_staff_endpoints_refuse_a_token_issued_without_otp(client_user):
    """A client promoted to staff keeps their old token; it must not open staff endpoints."""
    client = token_client(client_user)
    client_user.is_staff = True
    client_user.is_superuser = True
    client_user.save()
    response = client.get("/api/v1/backoffice/accounts")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "otp_required"
    assert ApiToken.objects.get(user=client_user).otp_verified is False


def test_staff_session_without_otp_is_refused_by_staff_endpoints(staff_factory):
    staff = staff_factory("compliance")
    browser = Client()
    browser.force_login(staff)
    response = browser.get("/api/v1/backoffice/history")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "otp_required"


def test_portal_sign_in_asks_clients_with_a_device_for_a_code(client_user):
    from django_otp.plugins.otp_static.models import StaticDevice

    device = StaticDevice.objects.create(user=client_user, name="Backup codes")
    StaticToken.objects.create(device=device, token="55667788")
    browser = Client()
    first = browser.post("/auth/sign-in/", {"email": client_user.email, "password": PASSWORD})
    assert first.status_code == 302
    assert "/auth/sign-in/otp/" in first["Location"]
    assert browser.get("/accounts/").status_code == 302  # not signed in yet
    wrong = browser.post("/auth/sign-in/otp/", {"otp_token": "11112222"})
    assert wrong.status_code == 200
    assert b"wrong or expired" in wrong.content
    device.refresh_from_db()
    device.throttle_reset()  # as if the lockout after a failure had passed
    ok = browser.post("/auth/sign-in/otp/", {"otp_token": "55667788"})
    assert ok.status_code == 302
    page = browser.get("/accounts/")
    assert page.status_code == 200
    assert page.wsgi_request.user.is_verified()
