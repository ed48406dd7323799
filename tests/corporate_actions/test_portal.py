"""The client portal: the dividends page and corporate actions on an instrument's page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from apps.instruments import services
from tests.corporate_actions.conftest import days, today
from tests.factories import trading

pytestmark = pytest.mark.django_db


def test_dividends_page_and_instrument_page(client_user, other_client, ops, ops2):
    instrument = trading.open_instrument()
    mine, theirs = trading.trader(owner=client_user), trading.trader(owner=other_client)
    trading.shares(mine, instrument, 1000)
    trading.shares(theirs, instrument, 5)
    paid = services.corporate_action_declare(
        actor=ops,
        instrument=instrument,
        kind="cash_dividend",
        record_date=today(),
        pay_date=today() + dt.timedelta(days=1),
        amount_per_share="1.255",
        description="Special dividend",
    )
    services.corporate_action_approve(action=paid, actor=ops2, reason="Checked")
    services.corporate_actions_process_due(now=days(1))
    services.corporate_action_declare(
        actor=ops,
        instrument=instrument,
        kind="split",
        ratio_new=4,
        ratio_old=1,
        effective_date=today() + dt.timedelta(days=30),
        announce=True,
    )
    browser = Client()
    browser.force_login(client_user)

    page = browser.get("/dividends/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "1,255.00" in html and "Special dividend" in html
    assert "4-for-1" in html  # announced on what the client holds
    assert browser.get(f"/dividends/?account={mine.pk}").status_code == 200
    assert browser.get(f"/dividends/?account={theirs.pk}").status_code == 404

    detail = browser.get(f"/instruments/{instrument.symbol}/").content.decode()
    assert 'id="corporate-actions"' in detail
    assert "Special dividend" in detail and "4-for-1" in detail
