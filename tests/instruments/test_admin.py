"""The back-office console: listing and editing instruments through the services, halt and
resume actions with a reason, calendar closures added and removed with a reason."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from apps.instruments.models import CalendarClosure, Instrument, InstrumentHalt
from tests.factories.accounts import StaffFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = user.staticdevice_set.get().persistent_id
    session.save()
    return client


@pytest.fixture
def ops_user(db):
    return StaffFactory(role="broker_operations")


@pytest.fixture
def browser(ops_user) -> Client:
    return signed_in(ops_user)


ADD = {
    "symbol": "MSFT",
    "name": "Microsoft Corporation",
    "asset_class": "equity",
    "currency": "USD",
    "isin": "US5949181045",
    "cusip": "",
    "tick_size": "0.01",
    "lot_size": "1",
    "min_quantity": "1",
    "price_band_pct": "10",
    "reference_price": "508.68",
    "previous_close": "",
    "settlement_cycle": "",
    "halts-TOTAL_FORMS": "0",
    "halts-INITIAL_FORMS": "0",
}


def test_list_an_instrument_in_the_admin(browser, ops_user, nyse):
    response = browser.post(
        reverse("admin:instruments_instrument_add"), {**ADD, "calendar": nyse.pk}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    msft = Instrument.objects.get(symbol="MSFT")
    assert (msft.cusip, msft.settlement_cycle) == ("594918104", 1)
    record = msft.history.first()
    assert (record.history_user, record.history_change_reason) == (
        ops_user,
        "Listed in the back office",
    )


def test_bad_check_digit_shows_on_the_form(browser, nyse):
    response = browser.post(
        reverse("admin:instruments_instrument_add"),
        {**ADD, "isin": "US5949181046", "calendar": nyse.pk},
    )
    assert response.status_code == 200
    assert "check digit is wrong" in str(response.context["adminform"].form.errors["isin"])
    assert not Instrument.objects.filter(symbol="MSFT").exists()


def test_edit_needs_a_reason_and_keeps_the_symbol(browser, stock, nyse):
    url = reverse("admin:instruments_instrument_change", args=[stock.pk])
    form = {
        **ADD,
        "symbol": "OTHER",
        "isin": stock.isin,
        "name": "Acme Corporation (new name)",
        "reference_price": "100.00",
        "settlement_cycle": "2",
        "calendar": nyse.pk,
    }
    refused = browser.post(url, form)
    assert refused.status_code == 200
    assert "change_reason" in refused.context["adminform"].form.errors
    done = browser.post(url, {**form, "change_reason": "Corporate name change"})
    assert done.status_code == 302
    stock.refresh_from_db()
    assert (stock.symbol, stock.name, stock.settlement_cycle) == (
        "ACME",
        "Acme Corporation (new name)",
        2,
    )
    assert stock.history.first().history_change_reason == "Corporate name change"


def test_halt_and_resume_actions_ask_for_a_reason(browser, ops_user, stock):
    url = reverse("admin:instruments_instrument_changelist")
    halted = browser.post(
        url,
        {
            "action": "action_halt_trading_in_selected_instruments",
            "_selected_action": [stock.pk],
            "apply": "1",
            "reason": "Regulatory halt: SEC inquiry",
            "kind": "regulatory",
        },
    )
    assert halted.status_code == 302
    stock.refresh_from_db()
    assert stock.status == "halted"
    halt = InstrumentHalt.objects.get(instrument=stock)
    assert (halt.kind, halt.started_by, halt.halt_reason) == (
        "regulatory",
        ops_user,
        "Regulatory halt: SEC inquiry",
    )
    page = browser.get(reverse("admin:instruments_instrument_change", args=[stock.pk]))
    assert b"Regulatory halt: SEC inquiry" in page.content

    browser.post(
        url,
        {
            "action": "action_resume_trading_in_selected_instruments",
            "_selected_action": [stock.pk],
            "apply": "1",
            "reason": "Inquiry closed",
        },
    )
    stock.refresh_from_db()
    assert stock.status == "listed"


def test_support_sees_no_actions_and_cannot_edit(stock):
    support = signed_in(StaffFactory(role="support"))
    changelist = support.get(reverse("admin:instruments_instrument_changelist"))
    assert changelist.status_code == 200
    assert b"action_halt" not in changelist.content
    refused = support.post(
        reverse("admin:instruments_instrument_changelist"),
        {
            "action": "action_halt_trading_in_selected_instruments",
            "_selected_action": [stock.pk],
            "apply": "1",
            "reason": "Not mine",
        },
    )
    assert refused.status_code in {200, 302}
    stock.refresh_from_db()
    assert stock.status == "listed"


def test_add_and_remove_a_closure(browser, nyse):
    nyse_version = nyse.rules_version
    added = browser.post(
        reverse("admin:instruments_calendarclosure_add"),
        {
            "calendar": nyse.pk,
            "date": "2030-03-12",
            "kind": "early_close",
            "close_time": "14:00",
            "description": "Exchange systems upgrade",
        },
    )
    assert added.status_code == 302
    closure = CalendarClosure.objects.get(calendar=nyse, date=dt.date(2030, 3, 12))
    nyse.refresh_from_db()
    assert nyse.rules_version != nyse_version

    browser.post(
        reverse("admin:instruments_calendarclosure_changelist"),
        {
            "action": "action_remove_selected_closures",
            "_selected_action": [closure.pk],
            "apply": "1",
            "reason": "Upgrade postponed",
        },
    )
    assert not CalendarClosure.objects.filter(pk=closure.pk).exists()


def test_a_closure_outside_the_session_is_refused_on_the_form(browser, nyse):
    response = browser.post(
        reverse("admin:instruments_calendarclosure_add"),
        {
            "calendar": nyse.pk,
            "date": "2030-03-12",
            "kind": "early_close",
            "close_time": "18:00",
            "description": "Too late",
        },
    )
    assert response.status_code == 200
    assert "close_time" in response.context["adminform"].form.errors


def test_calendar_pages_show_sessions_and_holidays(browser, nyse):
    page = browser.get(reverse("admin:instruments_tradingcalendar_change", args=[nyse.pk]))
    assert page.status_code == 200
    assert b"Next sessions" in page.content
    assert b"Thanksgiving" in page.content or b"Christmas" in page.content
