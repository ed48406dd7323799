"""Portal pages for clients: register, sign in and out, reset, 2FA enrolment, accounts."""

import re

import pytest
from django.core import mail
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.models import TradingAccount, User
from tests.accounts.test_auth_api import totp_now
from tests.factories.accounts import PASSWORD

pytestmark = pytest.mark.django_db


def test_register_sign_out_and_in_again():
    browser = Client()
    response = browser.post(
        "/auth/register/",
        {
            "first_name": "Pat",
            "last_name": "Lee",
            "email": "pat@example.com",
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert browser.get("/accounts/").status_code == 200
    assert browser.post("/auth/sign-out/").status_code == 302
    assert browser.get("/accounts/").status_code == 302
    signed_in = browser.post("/auth/sign-in/", {"email": "pat@example.com", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert browser.get("/accounts/").status_code == 200


def test_register_shows_validator_messages():
    response = Client().post(
        "/auth/register/",
        {
            "first_name": "P",
            "last_name": "L",
            "email": "p@example.com",
            "password": "password",
            "password_again": "password",
        },
    )
    assert response.status_code == 200
    assert b"too common" in response.content or b"too short" in response.content
    assert not User.objects.filter(email="p@example.com").exists()


def test_wrong_password_is_refused_with_a_message(client_user):
    response = Client().post("/auth/sign-in/", {"email": client_user.email, "password": "nope"})
    assert response.status_code == 200
    assert b"Invalid e-mail or password" in response.content


def test_open_account_from_the_portal(client_user):
    browser = Client()
    browser.force_login(client_user)
    response = browser.post("/accounts/", {"currency": "USD"}, follow=True)
    assert b"BRS-" in response.content
    assert TradingAccount.objects.filter(owner=client_user, status="pending").count() == 1


def test_totp_enrolment_from_the_portal(client_user):
    browser = Client()
    browser.force_login(client_user)
    page = browser.post("/security/", {"enroll": "1"}, follow=True)
    assert b"<svg" in page.content
    device = TOTPDevice.objects.get(user=client_user, confirmed=False)
    confirmed = browser.post("/security/", {"token": totp_now(device)}, follow=True)
    assert b"Two-factor sign-in is on" in confirmed.content
    device.refresh_from_db()
    assert device.confirmed


def test_password_reset_from_the_portal(client_user):
    browser = Client()
    browser.post("/auth/password-reset/", {"email": client_user.email})
    link = re.search(r"http://[^/\s]+(/auth/reset/\S+/)", mail.outbox[0].body).group(1)
    form = browser.get(link, follow=True)
    assert b"Choose a new password" in form.content
    done = browser.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"},
    )
    assert done.status_code == 302
    assert Client().login(email=client_user.email, password="a-brand-new-passphrase")
