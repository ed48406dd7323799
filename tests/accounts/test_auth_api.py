"""Registration, API sign-in (with and without a second factor), profile, sign-out, reset."""

import re

import pytest
from django.core import mail
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import ApiToken, SignInEvent, User
from tests.conftest import token_client
from tests.factories.accounts import PASSWORD, ClientFactory

pytestmark = pytest.mark.django_db


def totp_now(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_register_creates_a_client(api):
    response = api.post(
        "/api/v1/auth/register",
        {"email": "New@Example.com", "password": PASSWORD, "first_name": "N", "last_name": "U"},
    )
    assert response.status_code == 201
    assert response.json()["email"] == "new@example.com"
    user = User.objects.get(email="new@example.com")
    assert [g.name for g in user.groups.all()] == ["client"]


def test_register_refuses_a_weak_password_and_a_taken_email(api, client_user):
    weak = api.post(
        "/api/v1/auth/register",
        {"email": "w@example.com", "password": "12345678", "first_name": "W", "last_name": "U"},
    )
    assert weak.status_code == 400
    assert weak.json()["error"]["code"] == "invalid"
    assert "password" in weak.json()["error"]["details"]
    taken = api.post(
        "/api/v1/auth/register",
        {
            "email": client_user.email.upper(),
            "password": PASSWORD,
            "first_name": "T",
            "last_name": "U",
        },
    )
    assert taken.status_code == 400
    assert "email" in taken.json()["error"]["details"]


def test_token_sign_in_me_and_logout(api, client_user):
    response = api.post("/api/v1/auth/token", {"email": client_user.email, "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["otp_verified"] is False
    assert ApiToken.objects.filter(user=client_user).count() == 1
    assert not ApiToken.objects.filter(key_digest=token).exists()  # only the digest is stored

    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api.get("/api/v1/me").json()
    assert me["email"] == client_user.email
    assert me["roles"] == ["client"]
    assert me["kyc_status"] == "not_started"
    assert me["otp_enabled"] is False

    assert api.post("/api/v1/auth/logout").status_code == 204
    again = api.get("/api/v1/me")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "not_authenticated"


def test_bad_credentials_answer_401_and_are_recorded(api, client_user):
    response = api.post("/api/v1/auth/token", {"email": client_user.email, "password": "wrong-one"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    event = SignInEvent.objects.get(email=client_user.email)
    assert not event.succeeded and event.failure_reason == "bad_credentials"
    assert event.ip_address == "203.0.113.7"


def test_client_with_a_device_needs_an_otp_for_a_token(api, client_user):
    client = token_client(client_user)
    enrolled = client.post("/api/v1/auth/totp/enroll")
    assert enrolled.status_code == 201
    assert enrolled.json()["otpauth_uri"].startswith("otpauth://totp/")
    device = TOTPDevice.objects.get(user=client_user)
    assert client.post("/api/v1/auth/totp/confirm", {"token": "000000"}).status_code == 400
    assert client.post("/api/v1/auth/totp/confirm", {"token": totp_now(device)}).json() == {
        "otp_enabled": True
    }

    without = api.post("/api/v1/auth/token", {"email": client_user.email, "password": PASSWORD})
    assert without.status_code == 401
    assert without.json()["error"]["code"] == "otp_required"

    wrong = api.post(
        "/api/v1/auth/token",
        {"email": client_user.email, "password": PASSWORD, "otp_token": "999999"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "otp_required"

    device.refresh_from_db()
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.last_t = -1
    device.save()
    ok = api.post(
        "/api/v1/auth/token",
        {"email": client_user.email, "password": PASSWORD, "otp_token": totp_now(device)},
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["otp_verified"] is True


def test_password_reset_through_the_api_revokes_tokens(api, client_user):
    token_client(client_user)
    assert api.post("/api/v1/auth/password-reset", {"email": client_user.email}).status_code == 202
    assert (
        api.post("/api/v1/auth/password-reset", {"email": "nobody@example.com"}).status_code == 202
    )
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    uid = re.search(r"uid=(\S+)", body).group(1)
    token = re.search(r"token=(\S+)\.", body).group(1)

    bad = api.post(
        "/api/v1/auth/password-reset/confirm",
        {"uid": uid, "token": "nope", "new_password": "another-long-passphrase"},
    )
    assert bad.status_code == 400
    ok = api.post(
        "/api/v1/auth/password-reset/confirm",
        {"uid": uid, "token": token, "new_password": "another-long-passphrase"},
    )
    assert ok.status_code == 200
    assert not ApiToken.objects.filter(user=client_user).exists()
    signed_in = api.post(
        "/api/v1/auth/token",
        {"email": client_user.email, "password": "another-long-passphrase"},
    )
    assert signed_in.status_code == 200


def test_profile_update(as_client):
    response = as_client.patch("/api/v1/me", {"phone": "+1 555 0100", "first_name": "Ann"})
    assert response.status_code == 200
    assert response.json()["phone"] == "+1 555 0100"
    assert response.json()["first_name"] == "Ann"


def test_login_is_throttled_per_email(api, settings):
    user = ClientFactory()
    codes = [
        api.post("/api/v1/auth/token", {"email": user.email, "password": "wrong"}).status_code
        for _ in range(7)
    ]
    assert codes[:5] == [401] * 5
    assert codes[-1] == 429
    last = api.post("/api/v1/auth/token", {"email": user.email, "password": PASSWORD})
    assert last.status_code == 429
    assert last.json()["error"]["code"] == "throttled"
    assert last.json()["error"]["details"]["retry_after"] > 0
    assert "Retry-After" in last
