"""Portal pages for alerts, notifications and movers; retention; the demo data."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.instruments.models import Instrument
from apps.marketdata import services
from apps.marketdata.models import (
    Candle,
    MarketState,
    NotificationPreference,
    PriceAlert,
    QuoteTick,
    TradeTick,
    Watchlist,
)
from tests.factories.marketdata import book, trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client_user):
    client = Client()
    client.force_login(client_user)
    return client


def test_portal_alerts(instrument, browser, client_user):
    assert browser.get("/markets/alerts/").status_code == 200
    response = browser.post(
        "/markets/alerts/", {"symbol": "ACME", "condition": "below", "threshold": "90"}
    )
    assert response.status_code == 302
    alert = PriceAlert.objects.get(user=client_user)
    page = browser.get("/markets/alerts/")
    assert b"Price at or below" in page.content
    assert b'<td class="num">90.00</td>' in page.content  # the instrument's tick, not 9E+1
    refused = browser.post(
        "/markets/alerts/", {"symbol": "ACME", "condition": "percent_move", "threshold": "5"}
    )
    assert b"has no price yet" in refused.content
    browser.post(f"/markets/alerts/{alert.pk}/cancel/")
    alert.refresh_from_db()
    assert alert.status == "cancelled"


def test_portal_notifications_and_preferences(browser, client_user):
    services.notify(user=client_user, event="deposit", subject="Deposit received", body="USD 5.00")
    page = browser.get("/markets/notifications/")
    assert page.status_code == 200
    assert b"Deposit received" in page.content and b"1 unread" in page.content
    browser.post("/markets/notifications/", {"price_alert_in_app": "on", "deposit_email": "on"})
    prefs = {
        p.event: (p.in_app, p.email)
        for p in NotificationPreference.objects.filter(user=client_user)
    }
    assert prefs == {
        "price_alert": (True, False),
        "order_fill": (False, False),
        "deposit": (False, True),
    }
    browser.post("/markets/notifications/read/")
    assert b"unread" not in browser.get("/markets/notifications/").content


def test_portal_movers(browser, instrument):
    services.market_data_apply(instrument=instrument, trades=[trade("10.00")], book=None)
    page = browser.get("/markets/movers/", {"asset_class": "equity"})
    assert page.status_code == 200
    assert b"Most active" in page.content and b"ACME" in page.content


def test_pages_need_a_sign_in(db):
    response = Client().get("/markets/watchlists/")
    assert response.status_code == 302 and "/auth/sign-in/" in response.url


def test_retention_on_plain_postgresql(instrument, settings):
    settings.MARKETDATA_TICK_RETENTION_DAYS = 30
    settings.MARKETDATA_QUOTE_RETENTION_DAYS = 7
    settings.MARKETDATA_MINUTE_CANDLE_RETENTION_DAYS = 10
    now = timezone.now()
    services.market_data_apply(
        instrument=instrument,
        trades=[
            trade("1.00", at=now - timedelta(days=40)),
            trade("2.00", at=now - timedelta(days=1)),
        ],
        book=book([("1.99", "1")], [("2.01", "1")], as_of=now - timedelta(days=8)),
    )
    from apps.marketdata.tasks import ticks_purge

    assert ticks_purge.apply().get() > 0
    assert list(TradeTick.objects.values_list("price", flat=True)) == [2]
    assert not QuoteTick.objects.exists()
    kept = set(Candle.objects.values_list("interval", flat=True).distinct())
    assert kept == {"1m", "5m", "15m", "1h", "1d"}  # recent minute candles, every older day
    assert not Candle.objects.filter(interval="1m", bucket__lt=now - timedelta(days=10)).exists()
    assert Candle.objects.filter(interval="1d", bucket__lt=now - timedelta(days=30)).exists()


def test_demo_data_is_idempotent(db):
    call_command("bootstrap_demo", stdout=io.StringIO())
    counts = (Watchlist.objects.count(), PriceAlert.objects.count(), MarketState.objects.count())
    call_command("bootstrap_demo", stdout=io.StringIO())
    assert counts == (
        Watchlist.objects.count(),
        PriceAlert.objects.count(),
        MarketState.objects.count(),
    )
    alice = User.objects.get(email="alice@example.com")
    watched = [i.instrument.symbol for i in Watchlist.objects.get(user=alice).items.all()]
    assert watched == ["AAPL", "MSFT", "NVDA", "SPY", "XAU-G"]
    assert MarketState.objects.count() == Instrument.objects.count()
    assert NotificationPreference.objects.filter(user=alice).count() == 3
