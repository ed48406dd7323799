"""Portal pages: the instrument list with search and filters, and an instrument's page with
its halt, terms, market hours and the prices block."""

import pytest
from django.test import Client

from apps.instruments import services
from tests.factories.instruments import InstrumentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client_user) -> Client:
    client = Client()
    client.force_login(client_user)
    return client


@pytest.fixture
def listed(db):
    InstrumentFactory(symbol="AAPL", name="Apple Inc.")
    InstrumentFactory(symbol="SPY", name="SPDR S&P 500 ETF Trust", asset_class="etf")
    InstrumentFactory(
        symbol="NWRB",
        name="Northwind Robotics, Inc.",
        asset_class="private",
        isin="",
        accredited_only=True,
        settlement_cycle=2,
    )


def test_the_list_needs_a_sign_in():
    response = Client().get("/instruments/")
    assert response.status_code == 302
    assert "/auth/sign-in/" in response["Location"]


def test_list_search_and_filters(browser, listed):
    page = browser.get("/instruments/")
    assert page.status_code == 200
    for symbol in (b"AAPL", b"SPY", b"NWRB"):
        assert symbol in page.content
    assert b"Accredited" in page.content
    searched = browser.get("/instruments/", {"q": "apple"})
    assert b"AAPL" in searched.content and b"SPY</strong>" not in searched.content
    etfs = browser.get("/instruments/", {"asset_class": "etf"})
    assert b"SPY" in etfs.content and b"AAPL</strong>" not in etfs.content
    nothing = browser.get("/instruments/", {"q": "zzz"})
    assert b"No instrument matches" in nothing.content
    ignored = browser.get("/instruments/", {"asset_class": "crypto", "page": "99"})
    assert ignored.status_code == 200


def test_detail_page(browser, listed):
    page = browser.get("/instruments/AAPL/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Apple Inc." in html
    assert 'id="market-data"' in html  # the prices block, later the live quote and chart
    assert "100.00" in html  # reference price on the tick grid
    assert "90.00 \u2013 110.00" in html  # the price band, en dash between
    assert "T+1" in html
    assert "New York Stock Exchange" in html
    assert "Trading halted" not in html


def test_detail_page_shows_the_halt(browser, listed, superuser):
    from apps.instruments.selectors import instrument_get

    services.instrument_halt(
        instrument=instrument_get(symbol="AAPL"),
        actor=superuser,
        reason="News pending: product recall",
        kind="news_pending",
    )
    html = browser.get("/instruments/aapl/").content.decode()
    assert "Trading halted" in html
    assert "News pending: product recall" in html
    assert "Market halted" in html


def test_private_share_page_says_who_may_trade(browser, listed):
    html = browser.get("/instruments/NWRB/").content.decode()
    assert "Accredited investors only" in html
    assert "T+2" in html


def test_unknown_instrument_is_404(browser):
    assert browser.get("/instruments/NOPE/").status_code == 404
