"""The trading back office: the order blotter (filters, search, an order's fills and history),
the staff cancel, fee schedules with a reason, trades with bust and correction requests
approved by a second person, the matching queue, and the status command."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from apps.matching.models import Trade, TradeCorrection
from apps.orders.models import FeeSchedule, Order
from tests.factories import trading
from tests.factories.accounts import PASSWORD, StaffFactory, next_static_token

pytestmark = pytest.mark.django_db

D = Decimal


def admin_login(staff) -> Client:
    """A browser signed in to the admin with password and a backup code."""
    browser = Client()
    response = browser.post(
        "/admin/login/?next=/admin/",
        {
            "username": staff.email,
            "password": PASSWORD,
            "otp_device": staff.staticdevice_set.get().persistent_id,
            "otp_token": next_static_token(staff),
        },
    )
    assert response.status_code == 302, response.content[:500]
    return browser


def staff_with(*perms: str):
    staff = StaffFactory()
    for perm in perms:
        app_label, codename = perm.split(".")
        staff.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return staff


@pytest.fixture
def book():
    """Two instruments, two clients: a trade on the first, an open bid on each."""
    first = trading.open_instrument(reference_price=D("100.00"))
    second = trading.open_instrument(reference_price=D("20.00"))
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, first, 50)
    ask = trading.place(seller, first, "sell", 10, "100.00", client_order_id="ask-1")
    trading.match(first)
    bid = trading.place(buyer, first, "buy", 15, "100.00", client_order_id="bid-1")
    trading.match(first)
    waiting = trading.place(buyer, second, "buy", 5, "20.00", client_order_id="bid-2")
    return first, second, seller, buyer, ask, bid, waiting


def results(page) -> list[int]:
    return sorted(o.pk for o in page.context["cl"].result_list)


def test_the_blotter_filters_and_searches(book):
    _, second, seller, buyer, ask, bid, waiting = book
    browser = admin_login(StaffFactory(is_superuser=True))
    url = "/admin/orders/order/"
    assert results(browser.get(url)) == sorted([ask.pk, bid.pk, waiting.pk])
    assert results(browser.get(url, {"instrument__id__exact": second.pk})) == [waiting.pk]
    assert results(browser.get(url, {"account__id__exact": seller.pk})) == [ask.pk]
    assert results(browser.get(url, {"status__exact": "filled"})) == [ask.pk]
    assert results(browser.get(url, {"open": "yes"})) == sorted([bid.pk, waiting.pk])
    assert results(browser.get(url, {"created_at__gte": "2000-01-01 00:00:00+00:00"})) == sorted(
        [ask.pk, bid.pk, waiting.pk]
    )
    assert results(browser.get(url, {"created_at__gte": "2999-01-01 00:00:00+00:00"})) == []
    assert results(browser.get(url, {"q": buyer.number})) == sorted([bid.pk, waiting.pk])
    assert results(browser.get(url, {"q": "ask-1"})) == [ask.pk]
    assert results(browser.get(url, {"q": second.symbol.lower()})) == [waiting.pk]


def test_an_orders_page_shows_its_fills_and_history(book):
    *_, bid, _ = book
    browser = admin_login(StaffFactory(is_superuser=True))
    page = browser.get(f"/admin/orders/order/{bid.pk}/change/")
    assert page.status_code == 200
    trade = Trade.objects.get()
    html = page.content.decode()
    assert f"/admin/matching/trade/{trade.pk}/change/" in html and "Maker" not in html
    assert f"?reference=ORD-{bid.pk}" in html
    history = browser.get(f"/admin/orders/order/{bid.pk}/history/")
    assert history.status_code == 200
    assert b"placed" in history.content and b"matching" in history.content


def test_staff_cancel_an_order_with_a_reason(book):
    *_, waiting = book
    desk = staff_with("orders.view_order", "orders.cancel_any_order")
    browser = admin_login(desk)
    url = "/admin/orders/order/"
    action = {"action": "action_cancel_selected_orders", "_selected_action": [waiting.pk]}
    page = browser.post(url, action)
    assert page.status_code == 200 and b"Recorded in the audit trail" in page.content
    done = browser.post(url, {**action, "apply": "1", "reason": "Client called the desk"})
    assert done.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == "cancelled" and waiting.cancel_source == "staff"
    assert waiting.history.first().history_change_reason == "Client called the desk"
    assert waiting.history.first().history_user == desk


def test_the_cancel_action_is_only_offered_to_the_desk(book):
    viewer = admin_login(staff_with("orders.view_order_blotter"))
    page = viewer.get("/admin/orders/order/")
    assert page.status_code == 200
    assert b"action_cancel_selected_orders" not in page.content
    assert admin_login(StaffFactory()).get("/admin/orders/order/").status_code == 403


def test_fee_schedules_change_with_a_reason_in_their_history():
    schedule = FeeSchedule.objects.create(asset_class="equity", bps=D("1"))
    staff = staff_with("orders.view_feeschedule", "orders.change_feeschedule")
    browser = admin_login(staff)
    url = f"/admin/orders/feeschedule/{schedule.pk}/change/"
    form = {
        "asset_class": "equity",
        "bps": "0.5",
        "per_share": "0",
        "minimum_per_order": "1.00",
        "maximum_per_order": "50.00",
        "active": "on",
    }
    refused = browser.post(url, form)
    assert refused.status_code == 200 and refused.context["adminform"].form.errors["change_reason"]
    low = browser.post(url, {**form, "maximum_per_order": "0.50", "change_reason": "New tariff"})
    assert low.context["adminform"].form.errors["maximum_per_order"]
    assert browser.post(url, {**form, "change_reason": "New tariff"}).status_code == 302
    schedule.refresh_from_db()
    assert schedule.bps == D("0.5") and schedule.maximum_per_order == D("50")
    record = schedule.history.first()
    assert record.history_change_reason == "New tariff" and record.history_user == staff


def test_a_bust_is_requested_and_approved_by_two_people_in_the_admin(book):
    trade = Trade.objects.get()
    asker = staff_with(
        "matching.view_trade", "matching.view_tradecorrection", "matching.bust_trade"
    )
    approver = staff_with(
        "matching.view_trade", "matching.view_tradecorrection", "matching.bust_trade"
    )
    one, two = admin_login(asker), admin_login(approver)
    requested = one.post(
        "/admin/matching/trade/",
        {
            "action": "action_request_bust",
            "_selected_action": [trade.pk],
            "apply": "1",
            "reason": "Printed off the market",
        },
    )
    assert requested.status_code == 302
    request = TradeCorrection.objects.get()
    assert request.kind == "bust" and request.requested_by == asker
    approve = {
        "action": "action_approve_selected_requests",
        "_selected_action": [request.pk],
        "apply": "1",
        "reason": "Checked",
    }
    refused = one.post("/admin/matching/tradecorrection/", approve, follow=True)
    assert b"a different staff member must approve it" in refused.content
    request.refresh_from_db()
    assert request.status == "pending_approval"
    two.post("/admin/matching/tradecorrection/", approve)
    request.refresh_from_db()
    trade.refresh_from_db()
    assert request.status == "applied" and request.decided_by == approver
    assert trade.status == "busted"
    page = two.get(f"/admin/matching/trade/{trade.pk}/change/").content.decode()
    assert "Busted" in page and f"/admin/matching/tradecorrection/{request.pk}/change/" in page
    assert two.get(f"/admin/matching/tradecorrection/{request.pk}/history/").status_code == 200


def test_a_price_correction_from_the_admin(book):
    trade = Trade.objects.get()
    perms = ("matching.view_trade", "matching.view_tradecorrection", "matching.bust_trade")
    one, two = admin_login(staff_with(*perms)), admin_login(staff_with(*perms))
    action = {"action": "action_request_price_correction", "_selected_action": [trade.pk]}
    form = one.post("/admin/matching/trade/", action)
    assert b'name="price"' in form.content
    one.post("/admin/matching/trade/", {**action, "apply": "1", "reason": "Off", "price": "99.50"})
    request = TradeCorrection.objects.get()
    assert request.kind == "correction" and request.price == D("99.50")
    two.post(
        "/admin/matching/tradecorrection/",
        {
            "action": "action_approve_selected_requests",
            "_selected_action": [request.pk],
            "apply": "1",
            "reason": "Agreed with both clients",
        },
    )
    request.refresh_from_db()
    assert request.status == "applied" and request.replacement.price == D("99.50")


def test_the_desk_roles_bust_with_four_eyes(book):
    trade = Trade.objects.get()
    ops, risk = StaffFactory(role="broker_operations"), StaffFactory(role="risk")
    one, two = admin_login(ops), admin_login(risk)
    one.post(
        "/admin/matching/trade/",
        {
            "action": "action_request_bust",
            "_selected_action": [trade.pk],
            "apply": "1",
            "reason": "Printed off the market",
        },
    )
    request = TradeCorrection.objects.get()
    queue = two.get("/admin/matching/tradecorrection/")
    assert queue.status_code == 200 and b"action_approve_selected_requests" in queue.content
    two.post(
        "/admin/matching/tradecorrection/",
        {
            "action": "action_approve_selected_requests",
            "_selected_action": [request.pk],
            "apply": "1",
            "reason": "Checked",
        },
    )
    request.refresh_from_db()
    assert request.status == "applied" and request.decided_by == risk
    support = admin_login(StaffFactory(role="support"))
    assert support.get("/admin/matching/tradecorrection/").status_code == 403


def test_the_bust_actions_are_only_offered_with_the_permission(book):
    viewer = admin_login(staff_with("matching.view_trade"))
    page = viewer.get("/admin/matching/trade/")
    assert page.status_code == 200 and b"action_request_bust" not in page.content
    assert viewer.get("/admin/matching/fill/").status_code == 403


def test_the_matching_queue_shows_orders_waiting_per_instrument(book):
    _, second, *_ = book
    browser = admin_login(StaffFactory(is_superuser=True))
    page = browser.get("/admin/matching/bookhealth/")
    assert page.status_code == 200
    (row,) = page.context["rows"]
    assert row["symbol"] == second.symbol and row["waiting"] == 1
    assert b"1</strong> order waiting" in page.content
    books = browser.get("/admin/matching/bookstate/")
    assert books.status_code == 200 and books.context["cl"].result_count >= 1
    assert admin_login(StaffFactory()).get("/admin/matching/bookhealth/").status_code == 403


def test_the_status_command_prints_each_book(book):
    first, second, *_ = book
    out = io.StringIO()
    call_command("matching_status", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == [
        "symbol",
        "version",
        "open",
        "waiting",
        "oldest_s",
        "last_price",
        "last_trade",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert rows[first.symbol][2:4] == ["1", "0"] and rows[first.symbol][5] == "100"
    assert rows[second.symbol][2:4] == ["1", "1"] and rows[second.symbol][5] == "-"
    assert lines[-1] == "2 instrument(s); 1 order(s) waiting for matching."
    assert Order.objects.filter(needs_match=True).count() == 1
