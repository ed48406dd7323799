"""The orders API: place (201, 200 on a repeated client_order_id, Idempotency-Key), preview,
list and filter, read with fills, change, cancel, the back office's cancel, and every refusal
as the API.md envelope. A client only ever sees its own orders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.instruments import services as instrument_services
from apps.ledger.choices import Bucket
from apps.ledger.selectors import ledger_integrity
from apps.orders.models import FeeSchedule, Order
from tests.conftest import token_client
from tests.factories import trading
from tests.factories.ledger import cash, funded_account

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def instrument():
    return trading.open_instrument()


@pytest.fixture
def fees():
    return FeeSchedule.objects.create(
        asset_class="equity", bps=D("10"), minimum_per_order=D("1.00")
    )


@pytest.fixture
def buyer():
    return trading.trader("100000.00")


@pytest.fixture
def api(buyer):
    return token_client(buyer.owner)


def _order(account, instrument, **fields):
    body = {
        "account": account.pk,
        "symbol": instrument.symbol,
        "side": "buy",
        "type": "limit",
        "quantity": "10",
        "limit_price": "100.00",
        "time_in_force": "gtc",
    }
    body.update(fields)
    return body


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.json()
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


# --- Placing --------------------------------------------------------------------------------


def test_placing_an_order_holds_cash_and_answers_201(api, buyer, instrument, fees):
    response = api.post("/api/v1/orders", _order(buyer, instrument), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "accepted"
    assert body["symbol"] == instrument.symbol and body["side"] == "buy"
    assert body["quantity"] == "10" and body["filled_quantity"] == "0"
    assert body["limit_price"] == "100.00" and body["average_price"] is None
    assert body["reserved"] == "1001.00"  # 10 x 100 + the 1.00 minimum fee
    assert body["fills"] == []
    assert cash(buyer, Bucket.RESERVED) == D("1001.00")
    assert cash(buyer) == D("98999.00")


def test_the_same_client_order_id_returns_the_first_order_with_200(api, buyer, instrument):
    body = _order(buyer, instrument, client_order_id="my-order-1")
    first = api.post("/api/v1/orders", body, format="json")
    again = api.post("/api/v1/orders", body, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1
    other = api.post("/api/v1/orders", {**body, "quantity": "11"}, format="json")
    error = _error(other, 422, "idempotency_conflict")
    assert error["details"]["order_id"] == first.json()["id"]


def test_an_idempotency_key_replays_the_first_response(api, buyer, instrument):
    body = _order(buyer, instrument)
    first = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert cash(buyer, Bucket.RESERVED) == D("1000.00")
    changed = api.post(
        "/api/v1/orders", {**body, "quantity": "5"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    _error(changed, 422, "idempotency_conflict")
    assert Order.objects.count() == 1


def test_a_refusal_is_replayed_under_its_key_too(instrument):
    poor = trading.trader("50.00")
    api = token_client(poor.owner)
    body = _order(poor, instrument)
    first = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    _error(first, 422, "insufficient_funds")
    again = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert again.status_code == 422 and again.json() == first.json()


def test_insufficient_funds(instrument):
    poor = trading.trader("500.00")
    response = token_client(poor.owner).post(
        "/api/v1/orders", _order(poor, instrument), format="json"
    )
    error = _error(response, 422, "insufficient_funds")
    assert error["details"]["required"] == "1000.00"
    assert D(error["details"]["buying_power"]) == D("500.00")
    assert not Order.objects.exists()
    assert cash(poor) == D("500.00")


def test_insufficient_position(api, buyer, instrument):
    trading.shares(buyer, instrument, 3)
    response = api.post(
        "/api/v1/orders", _order(buyer, instrument, side="sell", quantity="5"), format="json"
    )
    error = _error(response, 422, "insufficient_position")
    assert error["details"] == {"available": "3", "requested": "5"}


def test_kyc_required(instrument):
    unverified = funded_account("10000.00", kyc_tier=None)
    response = token_client(unverified.owner).post(
        "/api/v1/orders", _order(unverified, instrument), format="json"
    )
    _error(response, 422, "kyc_required")


def test_limit_exceeded(api, buyer, instrument, settings):
    settings.ORDER_MAX_NOTIONAL = D("500")
    response = api.post("/api/v1/orders", _order(buyer, instrument), format="json")
    error = _error(response, 422, "limit_exceeded")
    assert error["details"]["rule"] == "max_order_notional"


def test_a_tier_limit_is_limit_exceeded_too(instrument):
    small = funded_account("100000.00", kyc_tier=1)
    response = token_client(small.owner).post(
        "/api/v1/orders", _order(small, instrument, quantity="900"), format="json"
    )
    error = _error(response, 422, "limit_exceeded")
    assert error["details"]["kind"] == "trading"


def test_instrument_not_tradable_while_halted(api, buyer, instrument):
    instrument_services.instrument_halt(
        instrument=instrument, actor=None, reason="News pending", enforce_permission=False
    )
    response = api.post("/api/v1/orders", _order(buyer, instrument), format="json")
    error = _error(response, 422, "instrument_not_tradable")
    assert error["details"]["instrument_status"] == "halted"


def test_malformed_orders_are_invalid_with_the_fields_named(api, buyer, instrument):
    off_tick = api.post(
        "/api/v1/orders", _order(buyer, instrument, limit_price="100.005"), format="json"
    )
    assert "limit_price" in _error(off_tick, 400, "invalid")["details"]
    missing = api.post("/api/v1/orders", {"account": buyer.pk}, format="json")
    details = _error(missing, 400, "invalid")["details"]
    assert {"symbol", "side", "type", "quantity"} <= set(details)
    no_limit = api.post(
        "/api/v1/orders", _order(buyer, instrument, limit_price=None), format="json"
    )
    assert "limit_price" in _error(no_limit, 400, "invalid")["details"]
    unknown = api.post("/api/v1/orders", _order(buyer, instrument, symbol="NOPE"), format="json")
    _error(unknown, 404, "not_found")


def test_another_clients_account_is_not_found(api, instrument):
    other = trading.trader()
    response = api.post("/api/v1/orders", _order(other, instrument), format="json")
    _error(response, 404, "not_found")
    assert not Order.objects.exists()


def test_a_sell_may_name_its_own_open_lots_only(api, buyer, instrument):
    trading.shares(buyer, instrument, 5)
    stranger = trading.trader()
    trading.shares(stranger, instrument, 5)
    from apps.positions.models import TaxLot

    mine = TaxLot.objects.get(position__account=buyer).pk
    theirs = TaxLot.objects.get(position__account=stranger).pk
    refused = api.post(
        "/api/v1/orders",
        _order(buyer, instrument, side="sell", quantity="5", lot_ids=[theirs]),
        format="json",
    )
    assert "lot_ids" in _error(refused, 400, "invalid")["details"]
    placed = api.post(
        "/api/v1/orders",
        _order(buyer, instrument, side="sell", quantity="5", lot_ids=[mine]),
        format="json",
    )
    assert placed.status_code == 201, placed.json()
    assert placed.json()["lot_ids"] == [mine]
    assert placed.json()["reserved"] == "5"


# --- Preview --------------------------------------------------------------------------------


def test_preview_shows_cost_fee_and_buying_power_after(api, buyer, instrument, fees):
    response = api.post("/api/v1/orders/preview", _order(buyer, instrument), format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["accepted"] is True and body["error"] is None
    assert body["price"] == "100.00" and body["notional"] == "1000.00"
    assert body["fee"] == "1.00" and body["estimated_cost"] == "1001.00"
    assert body["buying_power"] == "100000.00" and body["buying_power_after"] == "98999.00"
    assert body["estimated_proceeds"] is None
    assert not Order.objects.exists()  # nothing placed, nothing held
    assert cash(buyer, Bucket.RESERVED) == 0


def test_preview_names_the_rule_that_would_refuse(api, buyer, instrument):
    response = api.post(
        "/api/v1/orders/preview", _order(buyer, instrument, quantity="2000"), format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] is False
    assert body["error"]["code"] == "insufficient_funds"
    assert "buying power" in body["error"]["message"]
    assert body["buying_power_after"] == "-100000.00"
    sell = api.post("/api/v1/orders/preview", _order(buyer, instrument, side="sell"), format="json")
    assert sell.json()["error"]["code"] == "insufficient_position"
    assert sell.json()["available_quantity"] == "0"


def test_preview_of_a_market_sell_estimates_proceeds(api, buyer, instrument, fees):
    trading.shares(buyer, instrument, 10)
    response = api.post(
        "/api/v1/orders/preview",
        _order(
            buyer, instrument, side="sell", type="market", limit_price=None, time_in_force="ioc"
        ),
        format="json",
    )
    body = response.json()
    assert body["accepted"] is True
    assert body["price"] == "100.00"  # no bid: the reference price
    assert body["estimated_proceeds"] == "999.00" and body["estimated_cost"] is None
    assert body["hold"] == "10"


# --- Reading --------------------------------------------------------------------------------


def test_an_order_with_its_fills(api, buyer, instrument, fees):
    seller = trading.trader("0")
    trading.shares(seller, instrument, 30)
    trading.place(seller, instrument, "sell", 4, "99.00")
    trading.place(seller, instrument, "sell", 6, "100.00")
    trading.match(instrument)
    placed = api.post("/api/v1/orders", _order(buyer, instrument), format="json").json()
    trading.match(instrument)
    response = api.get(f"/api/v1/orders/{placed['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "filled" and body["filled_quantity"] == "10"
    assert body["average_price"] == "99.60"
    assert body["fees"] == "1.00" and body["reserved"] == "0.00"
    assert [(f["price"], f["quantity"], f["fee"], f["liquidity"]) for f in body["fills"]] == [
        ("99.00", "4", "1.00", "taker"),
        ("100.00", "6", "0.00", "taker"),
    ]
    fill = body["fills"][0]
    assert fill["executed_at"] and fill["settlement_date"] and fill["trade_id"]
    assert cash(buyer) == D("100000.00") - D("997.00")
    assert ledger_integrity().ok


def test_listing_filters_by_status_symbol_and_account(api, buyer, instrument):
    other_instrument = trading.open_instrument()
    second = funded_account("5000.00", owner=buyer.owner)
    a = trading.place(buyer, instrument, "buy", 1, "90.00")
    b = trading.place(buyer, other_instrument, "buy", 1, "90.00")
    c = trading.place(second, instrument, "buy", 1, "90.00")
    from apps.orders.services import order_cancel

    order_cancel(order=a, actor=buyer.owner)
    trading.place(trading.trader(), instrument, "buy", 1, "90.00")  # someone else's

    def ids(query: str) -> list[int]:
        response = api.get(f"/api/v1/orders{query}")
        assert response.status_code == 200, response.json()
        assert set(response.json()) == {"count", "next", "previous", "results"}
        return [o["id"] for o in response.json()["results"]]

    assert ids("") == [c.pk, b.pk, a.pk]
    assert ids("?status=open") == [c.pk, b.pk]
    assert ids("?status=cancelled") == [a.pk]
    assert ids(f"?symbol={instrument.symbol.lower()}") == [c.pk, a.pk]
    assert ids(f"?account={second.pk}") == [c.pk]
    _error(api.get("/api/v1/orders?status=bogus"), 400, "invalid")
    _error(api.get(f"/api/v1/orders?account={trading.trader().pk}"), 404, "not_found")


def test_the_list_costs_the_same_queries_for_many_orders(api, buyer, instrument):
    trading.place(buyer, instrument, "buy", 1, "90.00")
    api.get("/api/v1/orders")  # the token's first use of the minute is recorded once
    with CaptureQueriesContext(connection) as few:
        assert api.get("/api/v1/orders").status_code == 200
    for _ in range(6):
        trading.place(buyer, instrument, "buy", 1, "90.00")
    with CaptureQueriesContext(connection) as many:
        assert len(api.get("/api/v1/orders").json()["results"]) == 7
    assert len(many) == len(few)


def test_another_clients_order_is_not_found(api, instrument):
    stranger = trading.trader()
    theirs = trading.place(stranger, instrument, "buy", 1, "90.00")
    _error(api.get(f"/api/v1/orders/{theirs.pk}"), 404, "not_found")
    _error(api.delete(f"/api/v1/orders/{theirs.pk}"), 404, "not_found")
    _error(
        api.patch(f"/api/v1/orders/{theirs.pk}", {"quantity": "2"}, format="json"),
        404,
        "not_found",
    )
    theirs.refresh_from_db()
    assert theirs.status == "accepted" and theirs.quantity == 1


# --- Cancel and replace ---------------------------------------------------------------------


def test_cancel_releases_the_hold_and_a_final_order_is_invalid_state(api, buyer, instrument):
    order = trading.place(buyer, instrument, "buy", 10, "100.00")
    trading.match(instrument)
    response = api.delete(f"/api/v1/orders/{order.pk}")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_source"] == "client"
    assert cash(buyer, Bucket.RESERVED) == 0 and cash(buyer) == D("100000.00")
    again = api.delete(f"/api/v1/orders/{order.pk}")
    error = _error(again, 409, "invalid_state")
    assert error["details"]["status"] == "cancelled"


def test_replace_changes_quantity_and_price(api, buyer, instrument):
    order = trading.place(buyer, instrument, "buy", 10, "100.00")
    trading.match(instrument)
    response = api.patch(
        f"/api/v1/orders/{order.pk}", {"quantity": "20", "limit_price": "95.00"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["quantity"] == "20" and body["limit_price"] == "95.00"
    assert body["reserved"] == "1900.00"
    assert cash(buyer, Bucket.RESERVED) == D("1900.00")
    _error(api.patch(f"/api/v1/orders/{order.pk}", {}, format="json"), 400, "invalid")
    too_much = api.patch(f"/api/v1/orders/{order.pk}", {"quantity": "5000"}, format="json")
    _error(too_much, 422, "insufficient_funds")
    api.delete(f"/api/v1/orders/{order.pk}")
    final = api.patch(f"/api/v1/orders/{order.pk}", {"quantity": "5"}, format="json")
    _error(final, 409, "invalid_state")


# --- Back office ----------------------------------------------------------------------------


def _desk(as_staff, *perms: str):
    staff = as_staff(None)
    for perm in perms:
        app_label, codename = perm.split(".")
        staff.user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return staff


def test_staff_cancel_needs_the_permission_and_a_reason(as_staff, buyer, instrument):
    order = trading.place(buyer, instrument, "buy", 10, "100.00")
    url = f"/api/v1/backoffice/orders/{order.pk}/cancel"
    plain = _desk(as_staff)
    _error(plain.post(url, {"reason": "Erroneous"}, format="json"), 403, "permission_denied")
    desk = _desk(as_staff, "orders.cancel_any_order")
    _error(desk.post(url, {}, format="json"), 400, "invalid")
    done = desk.post(url, {"reason": "Client called the desk"}, format="json")
    assert done.status_code == 200, done.json()
    body = done.json()
    assert body["status"] == "cancelled" and body["cancel_source"] == "staff"
    assert body["status_reason"] == "Client called the desk"
    assert body["owner"] == buyer.owner.email
    order.refresh_from_db()
    assert order.history.first().history_user == desk.user
    _error(desk.post(url, {"reason": "again"}, format="json"), 409, "invalid_state")
    _error(
        desk.post("/api/v1/backoffice/orders/999999/cancel", {"reason": "x"}, format="json"),
        404,
        "not_found",
    )
    assert cash(buyer, Bucket.RESERVED) == 0


def test_clients_cannot_use_the_back_office(api, buyer, instrument):
    order = trading.place(buyer, instrument, "buy", 10, "100.00")
    response = api.post(
        f"/api/v1/backoffice/orders/{order.pk}/cancel", {"reason": "mine"}, format="json"
    )
    assert response.status_code == 403
    assert api.get("/api/v1/backoffice/orders").status_code == 403


def test_the_blotter_lists_every_clients_orders(as_staff, buyer, instrument):
    mine = trading.place(buyer, instrument, "buy", 1, "90.00")
    theirs = trading.place(trading.trader(), instrument, "buy", 1, "91.00")
    desk = _desk(as_staff, "orders.view_order")
    body = desk.get("/api/v1/backoffice/orders?status=open").json()
    assert [o["id"] for o in body["results"]] == [theirs.pk, mine.pk]
