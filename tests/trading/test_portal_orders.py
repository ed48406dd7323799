"""The client's order pages: the ticket with its pre-trade preview, placing, open orders with
cancel and replace, the history with fills, an order's page."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from apps.ledger.selectors import cash_balances
from apps.orders.models import FeeSchedule, Order
from tests.factories import trading

pytestmark = pytest.mark.django_db

D = Decimal


def browser_for(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def market(client_user):
    FeeSchedule.objects.create(
        asset_class="equity", bps=D("5"), minimum_per_order=D("1.00"), maximum_per_order=D("50")
    )
    instrument = trading.open_instrument(reference_price=D("100.00"))
    account = trading.trader("5000.00", owner=client_user)
    return instrument, account, browser_for(client_user)


def ticket(instrument, account, **fields):
    data = {
        "account": account.pk,
        "symbol": instrument.symbol,
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "100.00",
        "time_in_force": "gtc",
        "request_key": "k1",
        "action": "place",
    }
    data.update(fields)
    return data


def test_the_ticket_page_is_prefilled_from_the_query(market):
    instrument, account, browser = market
    page = browser.get(f"/orders/new?symbol={instrument.symbol}&account={account.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'name="symbol" value="{instrument.symbol}"' in html
    assert f'<option value="{account.pk}" selected>' in html
    assert "Preview" in html and "Place order" in html
    assert 'action="/orders/place/"' in html
    assert 'href="/orders/"' in html and 'href="/positions"' in html  # the nav


def test_the_preview_shows_cost_fee_and_buying_power_without_placing(market):
    instrument, account, browser = market
    page = browser.post("/orders/place/", ticket(instrument, account, action="preview"))
    assert page.status_code == 200
    preview = page.context["preview"]
    assert preview["ok"] and preview["error"] is None
    assert preview["notional"] == "1,000.00" and preview["fee"] == "1.00"
    assert preview["buying_power"] == "5,000.00" and preview["buying_power_after"] == "3,999.00"
    html = page.content.decode()
    assert "1,000.00" in html and "3,999.00" in html and "All pre-trade checks pass" in html
    assert not Order.objects.exists()


def test_the_preview_names_the_rule_that_would_refuse_the_order(market, settings):
    instrument, account, browser = market
    page = browser.post(
        "/orders/place/", ticket(instrument, account, quantity="60", action="preview")
    )
    html = page.content.decode()
    assert "This order would be refused" in html
    assert "<code>insufficient_funds</code>" in html
    assert page.context["preview"]["buying_power_after"] == "-1,003.00"
    page = browser.post(
        "/orders/place/", ticket(instrument, account, side="sell", action="preview")
    )
    assert "<code>insufficient_position</code>" in page.content.decode()
    settings.ORDER_MAX_NOTIONAL = D("500")
    page = browser.post("/orders/place/", ticket(instrument, account, action="preview"))
    assert "<code>max_order_notional</code>" in page.content.decode()
    assert not Order.objects.exists()


def test_with_htmx_the_ticket_answers_with_itself(market):
    instrument, account, browser = market
    page = browser.post(
        "/orders/place/", ticket(instrument, account, action="preview"), HTTP_HX_REQUEST="true"
    )
    html = page.content.decode()
    assert html.lstrip().startswith('<div id="order-ticket"') and "<html" not in html
    placed = browser.post("/orders/place/", ticket(instrument, account), HTTP_HX_REQUEST="true")
    assert placed.status_code == 204
    assert placed["HX-Redirect"] == f"/orders/{Order.objects.get().pk}/"


def test_placing_from_the_ticket_and_a_double_submit_places_once(market):
    instrument, account, browser = market
    response = browser.post("/orders/place/", ticket(instrument, account))
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == f"/orders/{order.pk}/"
    assert order.limit_price == D("100.00") and order.quantity == 10
    assert order.client_order_id == "portal-k1" and order.placed_by == account.owner
    browser.post("/orders/place/", ticket(instrument, account))
    assert Order.objects.count() == 1
    assert cash_balances(account=account).reserved == D("1001.00")


def test_errors_are_shown_in_the_page(market):
    instrument, account, browser = market
    page = browser.post("/orders/place/", ticket(instrument, account, limit_price="100.001"))
    assert page.status_code == 200
    assert page.context["form"].errors["limit_price"]
    page = browser.post("/orders/place/", ticket(instrument, account, quantity="100"))
    assert b"Not enough buying power" in page.content or b"buying power is" in page.content
    page = browser.post("/orders/place/", ticket(instrument, account, symbol="NOPE"))
    assert b"No instrument NOPE" in page.content
    assert not Order.objects.exists()


def test_open_orders_are_cancelled_and_replaced_from_the_portal(market):
    instrument, account, browser = market
    browser.post("/orders/place/", ticket(instrument, account))
    order = Order.objects.get()
    trading.match(instrument)
    page = browser.get("/orders/").content.decode()
    assert f'id="open-order-{order.pk}"' in page and f"/orders/{order.pk}/cancel/" in page

    response = browser.post(
        f"/orders/{order.pk}/replace/",
        {"quantity": "5", "limit_price": "99.00", "next": "/orders/?symbol=" + instrument.symbol},
    )
    assert response.url == "/orders/?symbol=" + instrument.symbol
    order.refresh_from_db()
    assert order.quantity == 5 and order.limit_price == D("99.00")
    assert cash_balances(account=account).reserved == D("496.00")

    response = browser.post(f"/orders/{order.pk}/replace/", {"quantity": "500"}, follow=True)
    assert b"not changed" in response.content
    order.refresh_from_db()
    assert order.quantity == 5

    browser.post(f"/orders/{order.pk}/cancel/")
    order.refresh_from_db()
    assert order.status == "cancelled" and order.cancel_source == "client"
    assert cash_balances(account=account).reserved == 0
    again = browser.post(f"/orders/{order.pk}/cancel/", follow=True)
    assert b"already cancelled" in again.content


def test_the_history_shows_each_orders_fills(market):
    instrument, account, browser = market
    seller = trading.trader()
    trading.shares(seller, instrument, 10)
    trading.place(seller, instrument, "sell", 4, "100.00")
    trading.match(instrument)
    browser.post("/orders/place/", ticket(instrument, account))
    trading.match(instrument)
    order = Order.objects.get(account=account)
    fill = order.fills.get()
    html = browser.get("/orders/").content.decode()
    assert "4 @ 100.00" in html and "fee 1.00" in html
    assert f"settles {fill.settlement_date:%Y-%m-%d}" in html
    detail = browser.get(f"/orders/{order.pk}/")
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "Partially filled" in page and "4 of 10" in page
    assert fill.executed_at.strftime("%Y-%m-%d %H:%M:%S") in page
    assert "placed" in page and "matching" in page  # the order's history
    filtered = browser.get("/orders/", {"status": "cancelled"})
    assert filtered.context["history"].paginator.count == 0


def test_another_clients_orders_are_not_found(market, other_client):
    instrument, account, browser = market
    browser.post("/orders/place/", ticket(instrument, account))
    order = Order.objects.get()
    stranger = browser_for(other_client)
    assert stranger.get(f"/orders/{order.pk}/").status_code == 404
    assert stranger.post(f"/orders/{order.pk}/cancel/").status_code == 404
    assert stranger.get("/orders/").context["history"].paginator.count == 0
    sneaky = stranger.post("/orders/place/", ticket(instrument, account, request_key="k9"))
    assert sneaky.status_code == 200 and sneaky.context["form"].errors["account"]
    order.refresh_from_db()
    assert order.status == "accepted"


def test_the_live_instrument_page_carries_the_ticket(market):
    instrument, account, browser = market
    page = browser.get(f"/instruments/{instrument.symbol}/live/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="order-ticket"' in html and 'action="/orders/place/"' in html
    key = re.search(r'name="request_key" value="([^"]+)"', html).group(1)
    for _ in range(2):  # a double click
        browser.post("/orders/place/", ticket(instrument, account, request_key=key))
    assert Order.objects.count() == 1
