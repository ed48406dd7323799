"""The dashboard and an instrument's live page: what the server renders (complete without
JavaScript), its HTMX parts, and who may see what."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from apps.marketdata import services
from apps.orders.models import Order
from apps.positions.models import Position
from tests.factories import trading
from tests.factories.accounts import ClientFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def section(html: str, element_id: str) -> str:
    """The HTML of the <section id=...> (sections do not nest in these pages)."""
    match = re.search(rf'<section[^>]*id="{element_id}".*?</section>', html, re.S)
    assert match, f"no section {element_id}"
    return match.group(0)


@pytest.fixture
def acme():
    return trading.open_instrument(
        symbol="ACME", name="Acme Corp.", reference_price=Decimal("100.00")
    )


# --- Access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/dashboard/positions/", "/instruments/ACME/live/", "/instruments/ACME/live/chart/"],
)
def test_pages_need_a_signed_in_client(acme, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/sign-in") or "sign" in response["Location"]


def test_unknown_parts_and_symbols_are_not_found(acme):
    client = signed_in(ClientFactory())
    assert client.get("/dashboard/secrets/").status_code == 404
    assert client.get("/instruments/ACME/live/ledger/").status_code == 404
    assert client.get("/instruments/NOPE/live/").status_code == 404


def test_the_home_page_is_the_dashboard():
    client = signed_in(ClientFactory())
    response = client.get("/")
    assert response.status_code == 200
    assert response.templates[0].name == "marketdata/dashboard.html"
    html = response.content.decode()
    assert "You have no trading account yet" in html
    assert "No positions yet" in html and "No open orders." in html


# --- The dashboard --------------------------------------------------------------------------


def test_dashboard_shows_balances_positions_orders_and_watchlist(acme):
    account = trading.trader("25000.00")
    trading.shares(account, acme, 30, cost="2400.00")
    order = trading.place(account, acme, "sell", 10, "105.00")
    services.watchlist_create(user=account.owner, name="Tech", instruments=[acme])

    html = signed_in(account.owner).get("/").content.decode()

    balances = section(html, "balances")
    assert account.number in balances
    assert "25,000.00" in balances  # settled cash, nothing reserved by a sell
    # 30 shares at the reference price 100.00 = 3000.00; total = cash + holdings.
    assert '<td class="num" data-field="market_value">3,000.00</td>' in balances
    assert '<td class="num" data-field="equity">28,000.00</td>' in balances

    positions = section(html, "positions")
    assert 'data-symbol="ACME"' in positions
    assert '<td class="num" data-field="quantity">30</td>' in positions
    assert "3,000.00 USD" in positions
    assert "600.00 (25.00%)" in positions  # 3000 at the market - 2400 cost
    assert "Reference price (no trade yet)" in positions

    orders = section(html, "open-orders")
    assert f'data-order="{order.pk}"' in orders
    assert "105.00" in orders and "Accepted" in orders

    watchlists = section(html, "watchlists")
    assert "Tech" in watchlists and 'data-symbol="ACME"' in watchlists
    # The page follows every symbol it shows, and the client's private streams.
    assert 'data-live-quotes="ACME"' in html
    assert 'data-live-private="orders,account,notifications"' in html
    assert "marketdata/live.js" in html and "htmx" in html


def test_dashboard_shows_only_the_clients_own_things(acme):
    mine, theirs = trading.trader(), trading.trader("777777.00")
    trading.shares(theirs, acme, 40)
    their_order = trading.place(theirs, acme, "sell", 40, "104.55")

    html = signed_in(mine.owner).get("/").content.decode()
    assert theirs.number not in html
    assert f'data-order="{their_order.pk}"' not in html and "104.55" not in html
    assert "777,777.00" not in html
    assert "No positions yet" in html

    part = signed_in(mine.owner).get("/dashboard/orders/").content.decode()
    assert "No open orders." in part


def test_dashboard_parts_render_one_section_for_htmx(acme):
    account = trading.trader()
    trading.shares(account, acme, 5)
    client = signed_in(account.owner)
    for part, element_id, trigger in [
        ("balances", "balances", "balances-changed"),
        ("positions", "positions", "positions-changed"),
        ("orders", "open-orders", "orders-changed"),
        ("fills", "fills", "fills-changed"),
        ("watchlists", "watchlists", "watchlists-changed"),
    ]:
        response = client.get(f"/dashboard/{part}/", HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        html = response.content.decode()
        assert html.lstrip().startswith("<section") and f'id="{element_id}"' in html
        assert f'hx-trigger="{trigger} from:body"' in html
        assert "<html" not in html
    assert 'data-field="quantity">5<' in client.get("/dashboard/positions/").content.decode()


def test_the_dashboard_takes_a_fixed_number_of_queries(acme, django_assert_max_num_queries):
    account = trading.trader()
    for n in range(6):
        other = trading.open_instrument(symbol=f"Q{n}", reference_price=Decimal("10.00"))
        trading.shares(account, other, 3)
        trading.place(account, other, "sell", 1, "11.00")
    client = signed_in(account.owner)
    client.get("/")  # warm the quote cache
    with django_assert_max_num_queries(20):
        assert client.get("/").status_code == 200


# --- An instrument's live page --------------------------------------------------------------


def test_instrument_page_renders_quote_depth_chart_and_the_clients_position(acme):
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, acme, 50)
    trading.place(seller, acme, "sell", 20, "101.00")
    trading.place(seller, acme, "sell", 30, "102.50")
    trading.place(buyer, acme, "buy", 10, "99.00")
    trading.match(acme)

    response = signed_in(seller.owner).get("/instruments/ACME/live/")
    assert response.status_code == 200
    html = response.content.decode()
    # The instrument master's page, with the live market block in place of the day's prices.
    assert "Trading terms" in html and "Market hours" in html
    assert 'data-live-instrument="ACME"' in html
    assert 'id="depth"' in html and 'data-prints-symbol="ACME"' in html
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html
    assert "No trades in this period yet" in html
    position = section(html, "my-position")
    assert '<td class="num" data-field="quantity">50</td>' in position
    orders = section(html, "my-orders")
    assert "101.00" in orders and "102.50" in orders and "99.00" not in orders
    # The orders app's ticket, for this instrument, posting to order intake; each open order
    # can be cancelled from its row, coming back here.
    ticket = section(html, "ticket")
    assert 'action="/orders/place/"' in ticket and 'name="symbol" value="ACME"' in ticket
    assert "data-ticket-stay" in ticket and 'data-ticket-url="/orders/new?symbol=ACME"' in ticket
    resting = Order.objects.filter(account=seller).first()
    assert f'action="/orders/{resting.pk}/cancel/"' in orders
    assert 'name="next" value="/instruments/ACME/live/"' in orders


def test_instrument_page_redirects_to_the_symbol_as_listed(acme):
    response = signed_in(ClientFactory()).get("/instruments/acme/live/")
    assert response.status_code == 302 and response["Location"] == "/instruments/ACME/live/"


def test_chart_part_takes_an_interval(acme):
    client = signed_in(ClientFactory())
    html = client.get("/instruments/ACME/live/chart/?interval=5m").content.decode()
    assert 'data-interval="5m"' in html and 'hx-trigger="chart-changed from:body"' in html
    fallback = client.get("/instruments/ACME/live/chart/?interval=7y").content.decode()
    assert 'data-interval="1m"' in fallback


@pytest.mark.django_db(transaction=True)
def test_after_a_trade_the_pages_value_positions_at_the_last_price():
    """A print moves the valuation from the reference price to the last trade, and the
    instrument page shows the print, the book and the candle."""
    acme = trading.open_instrument(symbol="ACME", reference_price=Decimal("100.00"))
    seller, buyer, other = trading.trader(), trading.trader(), trading.trader()
    trading.shares(seller, acme, 100)
    trading.place(seller, acme, "sell", 10, "100.00")  # matched on commit (tasks run eagerly)
    trading.place(buyer, acme, "buy", 10, "100.00")
    trading.place(seller, acme, "sell", 5, "108.00")
    trading.place(other, acme, "buy", 5, "108.00")  # last trade now 108.00
    trading.place(seller, acme, "sell", 7, "109.00")  # rests

    position = Position.objects.get(account=buyer)
    assert position.quantity == 10
    html = signed_in(buyer.owner).get("/").content.decode()
    positions = section(html, "positions")
    value = Decimal("1080.00")
    assert f"{value:,.2f} USD" in positions
    pnl = value - position.cost_basis.quantize(Decimal("0.01"))
    assert f"{pnl:,.2f}" in positions
    assert 'title="Last trade"' in positions

    fills = section(html, "fills")
    assert "100.00" in fills and "Buy" in fills

    page = signed_in(buyer.owner).get("/instruments/ACME/live/").content.decode()
    prints = re.search(r'<table class="grid" id="prints".*?</table>', page, re.S).group(0)
    assert prints.index("108.00") < prints.index("100.00")  # newest first
    depth = re.search(r'<table class="grid ladder" id="depth".*?</table>', page, re.S).group(0)
    assert "109.00" in depth and ">7<" in depth
    assert 'data-candles="1"' in page
    assert 'data-field="last">108.00<' in page
