"""The client's funding page: balances, instructions, withdrawal with OTP, history, cancel."""

from decimal import Decimal

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from apps.ledger import references
from apps.ledger.models import Withdrawal
from tests.factories.accounts import TradingAccountFactory
from tests.factories.ledger import cash, deposit, funded_account

pytestmark = pytest.mark.django_db


def browser_for(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def withdraw(browser, account, amount, **extra):
    page = browser.get(f"/funding/{account.pk}/")
    key = page.context["form"]["request_key"].value()
    return browser.post(f"/funding/{account.pk}/", {"amount": amount, "request_key": key, **extra})


def test_the_funding_page_shows_balances_instructions_and_history(client_user):
    account = funded_account("1000.00", owner=client_user)
    deposit(account, "23.45")
    browser = browser_for(client_user)
    assert browser.get("/funding/").url == f"/funding/{account.pk}/"
    page = browser.get(f"/funding/{account.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("Settled", "Unsettled", "Reserved", "Buying power", "Withdrawable", "1023.45"):
        assert text in html
    assert references.display(references.reference_for(account.number)) in html
    assert "23.45" in html and "1000.00" in html  # lines and running balances
    assert 'href="/funding/"' in html  # the nav link


def test_withdrawing_from_the_portal_and_cancelling(client_user):
    account = funded_account("500.00", owner=client_user)
    browser = browser_for(client_user)
    response = withdraw(browser, account, "120.00")
    assert response.status_code == 302
    assert cash(account) == Decimal("380")
    withdrawal = Withdrawal.objects.get()
    page = browser.get(f"/funding/{account.pk}/").content.decode()
    assert "120.00" in page and "Cancel" in page
    browser.post(f"/funding/withdrawals/{withdrawal.pk}/cancel/")
    withdrawal.refresh_from_db()
    assert withdrawal.status == "cancelled" and cash(account) == Decimal("500")


def test_a_double_submitted_form_withdraws_once(client_user):
    account = funded_account("500.00", owner=client_user)
    browser = browser_for(client_user)
    page = browser.get(f"/funding/{account.pk}/")
    key = page.context["form"]["request_key"].value()
    for _ in range(2):
        browser.post(f"/funding/{account.pk}/", {"amount": "10.00", "request_key": key})
    assert Withdrawal.objects.count() == 1


def test_errors_are_shown_on_the_form(client_user):
    account = funded_account("50.00", owner=client_user)
    response = withdraw(browser_for(client_user), account, "60.00")
    assert response.status_code == 200
    assert b"Not enough USD" in response.content
    assert not Withdrawal.objects.exists()


def test_clients_with_a_device_give_a_one_time_password(client_user):
    account = funded_account("100.00", owner=client_user)
    device = StaticDevice.objects.create(user=client_user, name="Backup codes")
    StaticToken.objects.create(device=device, token="24682468")
    browser = browser_for(client_user)
    assert b"One-time password" in browser.get(f"/funding/{account.pk}/").content
    refused = withdraw(browser, account, "10.00")
    assert refused.status_code == 200 and b"one-time password is required" in refused.content
    accepted = withdraw(browser, account, "10.00", otp_token="24682468")
    assert accepted.status_code == 302
    assert cash(account) == Decimal("90")


def test_another_clients_funding_page_is_not_found(client_user, other_client):
    theirs = TradingAccountFactory(owner=other_client)
    browser = browser_for(client_user)
    assert browser.get(f"/funding/{theirs.pk}/").status_code == 404


def test_a_pending_account_shows_instructions_but_no_withdrawal_form(client_user):
    account = TradingAccountFactory(owner=client_user)
    page = browser_for(client_user).get(f"/funding/{account.pk}/").content.decode()
    assert "Withdrawals open once your account is active" in page
    assert "RF" in page


def test_signed_out_visitors_are_sent_to_sign_in():
    response = Client().get("/funding/")
    assert response.status_code == 302 and "sign-in" in response.url
