"""A client sees only its own objects: another client's id answers 404."""

import pytest

from tests.conftest import token_client
from tests.factories.accounts import TradingAccountFactory

pytestmark = pytest.mark.django_db


def test_client_cannot_read_another_clients_account(client_user, other_client):
    mine = TradingAccountFactory(owner=client_user)
    theirs = TradingAccountFactory(owner=other_client)
    api = token_client(client_user)
    assert api.get(f"/api/v1/accounts/{mine.pk}").status_code == 200
    response = api.get(f"/api/v1/accounts/{theirs.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    listed = api.get("/api/v1/accounts").json()
    assert [a["number"] for a in listed["results"]] == [mine.number]


def test_open_account_through_the_api(as_client):
    response = as_client.post("/api/v1/accounts", {"type": "cash", "currency": "USD"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["type"] == "cash" and body["currency"] == "USD"
    assert as_client.post("/api/v1/accounts", {"type": "margin"}).status_code == 400
    assert as_client.post("/api/v1/accounts", {"currency": "XXX"}).status_code == 400


def test_list_accounts_query_count(as_client, client_user, django_assert_max_num_queries):
    for _ in range(5):
        TradingAccountFactory(owner=client_user)
    with django_assert_max_num_queries(6):
        response = as_client.get("/api/v1/accounts")
    assert response.json()["count"] == 5
