"""The corporate actions API: the back office declares, approves (four-eyes), previews and
processes; clients read their dividends and the announcements."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.instruments import services
from tests.conftest import token_client
from tests.corporate_actions.conftest import assert_books_clean, days, today
from tests.factories import trading

pytestmark = pytest.mark.django_db

BASE = "/api/v1/backoffice/corporate-actions"


def test_declare_approve_preview_and_process_a_split(as_staff):
    ops, ops2 = as_staff("broker_operations"), as_staff("broker_operations")
    instrument = trading.open_instrument()
    holder = trading.trader()
    trading.shares(holder, instrument, 15, cost="1500")
    body = {
        "kind": "split",
        "symbol": instrument.symbol.lower(),
        "ratio_new": 3,
        "ratio_old": 2,
        "effective_date": str(today()),
        "cash_in_lieu_price": "66.67",
        "description": "Three-for-two stock split",
        "announce": True,
    }
    created = ops.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="split-1")
    assert created.status_code == 201, created.json()
    action = created.json()
    assert (action["status"], action["ratio"], action["cash_in_lieu_price"]) == (
        "announced",
        "3-for-2",
        "66.67",
    )
    assert action["entered_by"] == ops.user.email
    again = ops.post(BASE, body, format="json", HTTP_IDEMPOTENCY_KEY="split-1")
    assert again.status_code == 201 and again.json()["id"] == action["id"]

    preview = ops.get(f"{BASE}/{action['id']}/preview").json()
    assert preview["accounts"] == 1 and preview["problems"] == []
    line = preview["lines"][0]
    assert (line["quantity"], line["new_quantity"], line["fraction"], line["net"]) == (
        "15",
        "22",
        "0.5",
        "33.34",
    )

    refused = ops.post(f"{BASE}/{action['id']}/approve", {"reason": "mine"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    approved = ops2.post(f"{BASE}/{action['id']}/approve", {"reason": "ok"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    processed = ops2.post(f"{BASE}/{action['id']}/process", {}, format="json")
    assert processed.status_code == 200, processed.json()
    assert processed.json()["status"] == "processed"
    assert processed.json()["summary"]["shares_after"] == "22"
    twice = ops2.post(f"{BASE}/{action['id']}/process", {}, format="json")
    assert (
        twice.status_code == 200
        and twice.json()["processed_at"] == (processed.json()["processed_at"])
    )
    rows = ops.get(f"{BASE}/{action['id']}/entitlements").json()
    assert rows["count"] == 1 and rows["results"][0]["new_quantity"] == "22"
    listed = ops.get(BASE, {"status": "processed", "symbol": instrument.symbol}).json()
    assert [a["id"] for a in listed["results"]] == [action["id"]]
    assert_books_clean()


def test_bad_terms_and_states_answer_with_the_envelope(as_staff):
    ops, ops2 = as_staff("broker_operations"), as_staff("broker_operations")
    instrument = trading.open_instrument()
    bad = ops.post(
        BASE,
        {"kind": "reverse_split", "symbol": instrument.symbol, "ratio_new": 2, "ratio_old": 1},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]) >= {"ratio_new"}
    created = ops.post(
        BASE,
        {
            "kind": "cash_dividend",
            "symbol": instrument.symbol,
            "record_date": str(today()),
            "pay_date": str(today() + dt.timedelta(days=5)),
            "amount_per_share": "0.24",
        },
        format="json",
    ).json()
    assert created["status"] == "draft" and created["ex_date"] == str(today())
    edited = ops.patch(
        f"{BASE}/{created['id']}", {"amount_per_share": "0.26", "reason": "Typo"}, format="json"
    )
    assert edited.status_code == 200 and edited.json()["amount_per_share"] == "0.26"
    ops2.post(f"{BASE}/{created['id']}/approve", {}, format="json")
    early = ops2.post(f"{BASE}/{created['id']}/process", {}, format="json")
    assert early.status_code == 409 and early.json()["error"]["code"] == "invalid_state"
    frozen = ops.patch(
        f"{BASE}/{created['id']}", {"amount_per_share": "0.30", "reason": "Late"}, format="json"
    )
    assert frozen.status_code == 409
    cancelled = ops.post(f"{BASE}/{created['id']}/cancel", {"reason": "Withdrawn"}, format="json")
    assert cancelled.json()["status"] == "cancelled"


def test_clients_see_their_dividends_and_nobody_elses(as_staff, client_user, other_client):
    ops, ops2 = as_staff("broker_operations"), as_staff("broker_operations")
    instrument = trading.open_instrument()
    mine = trading.trader(owner=client_user)
    theirs = trading.trader(owner=other_client)
    trading.shares(mine, instrument, 80)
    trading.shares(theirs, instrument, 20)
    action = services.corporate_action_declare(
        actor=ops.user,
        instrument=instrument,
        kind="cash_dividend",
        record_date=today(),
        pay_date=today() + dt.timedelta(days=1),
        amount_per_share="0.4",
        description="Quarterly dividend",
        announce=True,
    )
    api = token_client(client_user)
    announced = api.get("/api/v1/corporate-actions", {"symbol": instrument.symbol}).json()
    assert [a["id"] for a in announced["results"]] == [action.pk]
    assert announced["results"][0]["amount_per_share"] == "0.4"
    assert api.get(BASE).status_code == 403  # the back office is for staff

    action = services.corporate_action_approve(action=action, actor=ops2.user, reason="ok")
    assert services.corporate_actions_process_due(now=days(1)) == [action.reference]

    paid = api.get("/api/v1/dividends", {"account": mine.pk})
    assert paid.status_code == 200
    (row,) = paid.json()["results"]
    assert (row["symbol"], row["shares"], row["gross"], row["withholding"], row["net"]) == (
        instrument.symbol,
        "80",
        "32.00",
        "0.00",
        "32.00",
    )
    assert row["pay_date"] == str(action.pay_date) and row["description"] == "Quarterly dividend"
    assert api.get("/api/v1/dividends").json()["count"] == 1
    assert api.get("/api/v1/dividends", {"account": theirs.pk}).status_code == 404
    lines = api.get(f"/api/v1/accounts/{mine.pk}/transactions").json()["results"]
    assert lines[0]["type"] == "dividend" and lines[0]["amount"] == "32.00"
    assert lines[0]["reference"] == action.reference
    assert_books_clean()


def test_list_endpoints_cost_the_same_queries_for_more_rows(as_staff, client_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ops, ops2 = as_staff("broker_operations"), as_staff("broker_operations")
    account = trading.trader(owner=client_user)
    api = token_client(client_user)

    def pay_one() -> None:
        instrument = trading.open_instrument()
        trading.shares(account, instrument, 10)
        action = services.corporate_action_declare(
            actor=ops.user,
            instrument=instrument,
            kind="cash_dividend",
            record_date=today(),
            pay_date=today() + dt.timedelta(days=1),
            amount_per_share="0.1",
        )
        services.corporate_action_approve(action=action, actor=ops2.user, reason="ok")

    def queries(client, url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    pay_one()
    services.corporate_actions_process_due(now=days(1))
    queries(api, "/api/v1/dividends"), queries(ops, BASE)  # sign-in bookkeeping done once
    one = (queries(api, "/api/v1/dividends"), queries(ops, BASE))
    for _ in range(3):
        pay_one()
    services.corporate_actions_process_due(now=days(1))
    assert api.get("/api/v1/dividends").json()["count"] == 4
    assert (queries(api, "/api/v1/dividends"), queries(ops, BASE)) == one
