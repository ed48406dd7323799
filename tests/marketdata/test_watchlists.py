"""Watchlists: several per client, through the API and the portal, each client's own."""

import pytest
from django.test import Client

from apps.marketdata import services
from apps.marketdata.models import Watchlist
from tests.factories.marketdata import InstrumentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed(db):
    return [InstrumentFactory(symbol=s) for s in ("AAA", "BBB", "CCC")]


def test_create_list_and_change_watchlists(listed, as_client, django_assert_max_num_queries):
    created = as_client.post(
        "/api/v1/watchlists", {"name": "Tech", "symbols": ["bbb", "AAA"]}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert [i["symbol"] for i in body["items"]] == ["BBB", "AAA"]
    assert body["items"][0]["quote"]["symbol"] == "BBB"
    as_client.post("/api/v1/watchlists", {"name": "Income"}, format="json")
    pk = body["id"]

    added = as_client.post(f"/api/v1/watchlists/{pk}/items", {"symbol": "CCC"})
    assert [i["symbol"] for i in added.json()["items"]] == ["BBB", "AAA", "CCC"]
    again = as_client.post(f"/api/v1/watchlists/{pk}/items", {"symbol": "CCC"})
    assert len(again.json()["items"]) == 3  # adding twice changes nothing
    assert as_client.delete(f"/api/v1/watchlists/{pk}/items/AAA").status_code == 204
    assert as_client.delete(f"/api/v1/watchlists/{pk}/items/AAA").status_code == 404
    renamed = as_client.patch(f"/api/v1/watchlists/{pk}", {"name": "Technology"})
    assert renamed.json()["name"] == "Technology"

    with django_assert_max_num_queries(6):  # token, count, page, items+instruments, quotes
        listed_ = as_client.get("/api/v1/watchlists").json()
    assert [w["name"] for w in listed_["results"]] == ["Income", "Technology"]
    assert as_client.delete(f"/api/v1/watchlists/{pk}").status_code == 204
    assert as_client.get(f"/api/v1/watchlists/{pk}").status_code == 404


def test_names_unique_per_client_and_symbols_checked(listed, as_client):
    as_client.post("/api/v1/watchlists", {"name": "Main"}, format="json")
    clash = as_client.post("/api/v1/watchlists", {"name": "main"}, format="json")
    assert clash.status_code == 400 and "name" in clash.json()["error"]["details"]
    unknown = as_client.post(
        "/api/v1/watchlists", {"name": "X", "symbols": ["AAA", "ZZZ"]}, format="json"
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["details"]["symbols"] == ["Unknown symbol ZZZ."]
    assert not Watchlist.objects.filter(name="X").exists()


def test_another_clients_watchlist_is_not_found(listed, as_client, other_client):
    theirs = services.watchlist_create(user=other_client, name="Private", instruments=listed[:1])
    for response in (
        as_client.get(f"/api/v1/watchlists/{theirs.pk}"),
        as_client.patch(f"/api/v1/watchlists/{theirs.pk}", {"name": "Mine"}),
        as_client.post(f"/api/v1/watchlists/{theirs.pk}/items", {"symbol": "BBB"}),
        as_client.delete(f"/api/v1/watchlists/{theirs.pk}"),
    ):
        assert response.status_code == 404
    assert as_client.get("/api/v1/watchlists").json()["count"] == 0


def test_limits(listed, client_user, as_client, settings):
    settings.MARKETDATA_MAX_WATCHLISTS = 1
    settings.MARKETDATA_MAX_WATCHLIST_ITEMS = 2
    first = as_client.post(
        "/api/v1/watchlists", {"name": "One", "symbols": ["AAA", "BBB"]}, format="json"
    )
    assert as_client.post("/api/v1/watchlists", {"name": "Two"}, format="json").status_code == 422
    full = as_client.post(f"/api/v1/watchlists/{first.json()['id']}/items", {"symbol": "CCC"})
    assert full.status_code == 422 and full.json()["error"]["code"] == "limit_exceeded"


def test_portal_watchlists(listed, client_user, other_client):
    browser = Client()
    browser.force_login(client_user)
    page = browser.get("/markets/watchlists/")
    assert page.status_code == 200
    created = browser.post("/markets/watchlists/", {"name": "Picks"})
    watchlist = Watchlist.objects.get(user=client_user, name="Picks")
    assert created.url == f"/markets/watchlists/{watchlist.pk}/"
    browser.post(created.url, {"symbol": "aaa", "add": "1"})
    detail = browser.get(created.url)
    assert b'data-symbol="AAA"' in detail.content
    assert b'data-live-quotes="AAA"' in detail.content
    unknown = browser.post(created.url, {"symbol": "ZZZ", "add": "1"})
    assert b"No instrument with symbol" in unknown.content
    browser.post(f"/markets/watchlists/{watchlist.pk}/remove/AAA/")
    assert not watchlist.items.exists()
    theirs = services.watchlist_create(user=other_client, name="Theirs")
    assert browser.get(f"/markets/watchlists/{theirs.pk}/").status_code == 404
    browser.post(f"/markets/watchlists/{watchlist.pk}/delete/")
    assert not Watchlist.objects.filter(pk=watchlist.pk).exists()
