"""The client's positions and P&L page: quantities, cost, market value at the last trade (or
the reference price), unrealized and realized P&L, and each position's lots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import trading

pytestmark = pytest.mark.django_db

D = Decimal


def browser_for(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_positions_are_valued_at_the_last_trade_with_their_lots(client_user):
    instrument = trading.open_instrument(reference_price=D("50.00"))
    account = trading.trader("1000.00", owner=client_user)
    long_ago = timezone.localdate() - dt.timedelta(days=800)
    trading.shares(account, instrument, 30, cost="600.00", acquired_on=long_ago)
    trading.shares(account, instrument, 20, cost="900.00")
    buyer = trading.trader()
    trading.place(account, instrument, "sell", 10, "52.00")
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", 10, "52.00")
    trading.match(instrument)

    page = browser_for(client_user).get("/positions")
    assert page.status_code == 200
    (row,) = page.context["rows"]
    valuation = row["valuation"]
    assert valuation.mark.price == D("52.00") and valuation.mark.source == "last"
    assert valuation.position.quantity == 40
    assert valuation.market_value == D("2080.00")
    # FIFO: 10 of the 30 bought long ago at 20.00 each -> a long-term gain of 320.00
    assert valuation.position.realized_long_term == D("320.00")
    assert valuation.unrealized_pnl == D("2080.00") - D("1300.00")
    terms = sorted(item["term"] for item in row["lots"])
    assert terms == ["long", "short"]
    html = page.content.decode()
    for text in ("Average cost", "Unrealized", "Realized (long)", "320.00", "2,080.00", "tax lots"):
        assert text in html, text


def test_an_untraded_instrument_is_marked_at_its_reference_price(client_user):
    instrument = trading.open_instrument(reference_price=D("12.50"))
    account = trading.trader("100.00", owner=client_user)
    trading.shares(account, instrument, 8, cost="80.00")
    page = browser_for(client_user).get(f"/positions/?account={account.pk}")
    (row,) = page.context["rows"]
    assert row["valuation"].mark.source == "reference"
    assert row["valuation"].market_value == D("100.00")
    assert "ref</small>" in page.content.decode()


def test_without_an_account_the_page_says_so(client_user):
    page = browser_for(client_user).get("/positions")
    assert page.status_code == 200 and b"no trading account" in page.content
