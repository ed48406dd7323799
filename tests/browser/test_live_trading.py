"""A client trades from an instrument's live page in a real browser, and sees the fill, the
print, the book and their new position arrive over the WebSocket feed without a reload."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from apps.matching.models import Fill
from apps.positions.models import Position
from tests.browser.conftest import ARTIFACTS
from tests.factories import trading
from tests.factories.accounts import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT = 20_000  # ms: the machine running the suite is shared


def test_a_crossing_buy_fills_live(live_server_url, browser_page):
    from playwright.sync_api import expect

    instrument = trading.open_instrument(
        symbol="LIVE", name="Live Markets Inc.", reference_price=Decimal("100.00")
    )
    seller = trading.trader()
    trading.shares(seller, instrument, 50)
    trading.place(seller, instrument, "sell", 20, "100.00")  # rests: nothing to meet
    buyer = trading.trader("10000.00")
    page = browser_page

    page.goto(f"{live_server_url}/auth/sign-in/?next=/instruments/LIVE/live/")
    page.fill("input[name=email]", buyer.owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/instruments/LIVE/live/$"), timeout=TIMEOUT)

    # The server-rendered page: the seller's offer on the book, nothing held yet.
    ladder = page.locator("#depth")
    expect(ladder).to_contain_text("100.00", timeout=TIMEOUT)
    expect(page.locator("#my-position")).to_contain_text("You hold none.")
    expect(page.locator("[data-live-status]").first).to_have_text("Live", timeout=TIMEOUT)
    page.evaluate("window.bourseNotReloaded = true")

    ticket = page.locator("#order-ticket")
    ticket.locator("input[name=quantity]").fill("10")
    ticket.locator("input[name=limit_price]").fill("100.00")
    ticket.locator("button[value=place]").click()

    # The feed: the print, the book's remaining 10, the position and the fill.
    expect(page.locator("#prints tbody tr").first).to_contain_text("100.00", timeout=TIMEOUT)
    expect(page.locator("#prints tbody tr").first).to_contain_text("10")
    expect(ladder.locator("tbody tr").first).to_have_text(
        re.compile(r"100\.00\s*10$"), timeout=TIMEOUT
    )
    position = page.locator("#my-position [data-field=quantity]")
    expect(position).to_have_text("10", timeout=TIMEOUT)
    expect(page.locator("#my-fills tbody tr")).to_have_count(1, timeout=TIMEOUT)
    expect(page.locator("#ticket-result")).to_contain_text("Order placed")
    expect(page.locator("#market-data [data-field=last]")).to_have_text("100.00")
    # A fresh ticket for the next order.
    expect(page.locator("#order-ticket input[name=quantity]")).to_have_value("", timeout=TIMEOUT)
    assert page.evaluate("window.bourseNotReloaded") is True, "the page was reloaded"
    page.screenshot(path=str(ARTIFACTS / "live-trading.png"), full_page=True)

    # Home: the dashboard has the position at the market and the cash it cost.
    page.goto(f"{live_server_url}/")
    row = page.locator('#positions tr[data-symbol="LIVE"]')
    expect(row.locator("[data-field=quantity]")).to_have_text("10")
    expect(row.locator("[data-field=value]")).to_have_text("1,000.00 USD")
    expect(page.locator("#balances [data-field=market_value]")).to_have_text("1,000.00")
    expect(page.locator("[data-live-status]").first).to_have_text("Live", timeout=TIMEOUT)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # What the page showed is what the books say.
    assert Position.objects.get(account=buyer, instrument=instrument).quantity == 10
    fill = Fill.objects.get(account=buyer)
    assert (fill.price, fill.quantity) == (Decimal("100.00"), Decimal("10"))
