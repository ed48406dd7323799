"""History rows carry actor, IP, user agent, correlation id and reason; compliance queries them."""

import pytest

from apps.accounts.models import TradingAccount
from tests.factories.accounts import TradingAccountFactory

pytestmark = pytest.mark.django_db


def test_history_row_records_who_where_and_why(as_staff):
    account = TradingAccountFactory(status="active")
    ops = as_staff("broker_operations")
    response = ops.post(
        f"/api/v1/backoffice/accounts/{account.pk}/restrict",
        {"reason": "Unusual funding pattern"},
        HTTP_X_REQUEST_ID="req-audit-0001",
        HTTP_USER_AGENT="ops-console/2.1",
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-audit-0001"
    row = TradingAccount.history.filter(id=account.pk).first()
    assert row.history_user == ops.user
    assert row.ip_address == "203.0.113.8"
    assert row.user_agent == "ops-console/2.1"
    assert row.correlation_id == "req-audit-0001"
    assert row.history_change_reason == "Unusual funding pattern"


def test_a_request_without_an_id_gets_one(api):
    response = api.get("/api/v1/instruments-that-do-not-exist")
    assert len(response["X-Request-ID"]) == 32
    malformed = api.get("/api/v1/me", HTTP_X_REQUEST_ID="bad id with spaces")
    assert malformed["X-Request-ID"] != "bad id with spaces"


def test_compliance_queries_history_by_model_object_actor_and_time(as_staff):
    account = TradingAccountFactory(status="active")
    ops = as_staff("broker_operations")
    ops.post(f"/api/v1/backoffice/accounts/{account.pk}/suspend", {"reason": "Fraud check"})
    compliance = as_staff("compliance")

    by_object = compliance.get(
        "/api/v1/backoffice/history", {"model": "tradingaccount", "object_id": account.pk}
    ).json()
    assert by_object["count"] == 3  # opened, activated, suspended
    newest = by_object["results"][0]
    assert newest["model"] == "accounts.tradingaccount"
    assert newest["object_id"] == str(account.pk)
    assert newest["actor"] == ops.user.email
    assert newest["change_type"] == "changed"
    assert newest["reason"] == "Fraud check"
    assert newest["changes"]["status"] == ["active", "suspended"]
    assert by_object["results"][-1]["change_type"] == "created"

    by_actor = compliance.get("/api/v1/backoffice/history", {"user": ops.user.email}).json()
    assert by_actor["count"] >= 1
    assert {r["actor"] for r in by_actor["results"]} == {ops.user.email}

    later = compliance.get(
        "/api/v1/backoffice/history",
        {"model": "accounts.tradingaccount", "since": "2999-01-01T00:00:00Z"},
    ).json()
    assert later["count"] == 0

    unknown = compliance.get("/api/v1/backoffice/history", {"model": "nonsense"})
    assert unknown.status_code == 400


def test_history_never_shows_secrets(as_staff, client_user):
    compliance = as_staff("compliance")
    rows = compliance.get(
        "/api/v1/backoffice/history", {"model": "accounts.user", "object_id": client_user.pk}
    ).json()["results"]
    assert rows
    for row in rows:
        assert "password" not in row["changes"]


def test_history_is_for_compliance_only(as_staff):
    assert as_staff("support").get("/api/v1/backoffice/history").status_code == 403
