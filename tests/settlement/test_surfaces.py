"""Where people see settlement: the client's API and portal page, and the back office's
calendar, fails queue (with its actions), runs and good-faith violations."""

from decimal import Decimal

import pytest
from django.test import Client

from apps.settlement.models import GoodFaithViolation, SettlementInstruction, SettlementRun
from tests.factories import trading
from tests.factories.accounts import PASSWORD, StaffFactory, next_static_token
from tests.settlement.conftest import assert_books_clean, balance, due_date, run, trade

pytestmark = pytest.mark.django_db


def admin_login(staff) -> Client:
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
    assert response.status_code == 302
    return browser


@pytest.fixture
def traded(market, client_user):
    """The client sold 10 (settled) and bought 5 (pending)."""
    mine = trading.trader(owner=client_user)
    other = trading.trader()
    trading.shares(mine, market, 10)
    trade(market, mine, other, 10, "100.00")
    run(due_date(mine))
    trading.shares(other, market, 5)
    trade(market, other, mine, 5, "100.00")
    return mine, other


def test_the_api_lists_the_clients_instructions(
    as_client, traded, market, django_assert_max_num_queries
):
    mine, _other = traded
    with django_assert_max_num_queries(6):
        body = as_client.get("/api/v1/settlements").json()
    assert body["count"] == 2 and body["next"] is None
    latest = body["results"][0]
    assert set(latest) >= {
        "id",
        "trade_id",
        "account",
        "symbol",
        "side",
        "quantity",
        "cash_amount",
        "currency",
        "trade_date",
        "settlement_date",
        "status",
        "settled_at",
        "days_failing",
    }
    by_side = {row["side"]: row for row in body["results"]}
    assert by_side["sell"]["status"] == "settled" and by_side["sell"]["cash_amount"] == "1000.00"
    assert by_side["sell"]["quantity"] == "-10"
    assert by_side["buy"]["status"] == "pending" and by_side["buy"]["cash_amount"] == "-500.00"
    assert by_side["buy"]["symbol"] == market.symbol and by_side["buy"]["account"] == mine.pk

    pending = as_client.get(f"/api/v1/settlements?account={mine.pk}&status=pending").json()
    assert [row["side"] for row in pending["results"]] == ["buy"]
    paged = as_client.get("/api/v1/settlements?page_size=1").json()
    assert paged["count"] == 2


def test_another_clients_account_is_not_found(as_client, traded):
    _, other = traded
    response = as_client.get(f"/api/v1/settlements?account={other.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert as_client.get("/api/v1/settlements?status=nope").status_code == 400
    assert Client().get("/api/v1/settlements").status_code == 401


def test_the_query_count_does_not_grow_with_the_rows(
    as_client, client_user, market, django_assert_max_num_queries
):
    mine, other = trading.trader(owner=client_user), trading.trader()
    trading.shares(mine, market, 50)
    for _ in range(5):
        trade(market, mine, other, 10, "100.00")
    with django_assert_max_num_queries(6):
        assert as_client.get("/api/v1/settlements").json()["count"] == 5


def test_the_balances_show_unsettled_cash(as_client, client_user, market):
    mine, other = trading.trader("0", owner=client_user), trading.trader()
    trading.shares(mine, market, 10)
    trade(market, mine, other, 10, "100.00")
    body = as_client.get(f"/api/v1/accounts/{mine.pk}/balances").json()
    assert (body["cash_unsettled"], body["withdrawable"]) == ("1000.00", "0.00")
    run(due_date(mine))
    body = as_client.get(f"/api/v1/accounts/{mine.pk}/balances").json()
    assert (body["cash_unsettled"], body["withdrawable"]) == ("0.00", "1000.00")


def test_the_portal_page_lists_pending_and_settled(client_user, other_client, traded):
    mine, other = traded
    browser = Client()
    browser.force_login(client_user)
    assert browser.get("/settlements/").url == f"/settlements/{mine.pk}/"
    page = browser.get(f"/settlements/{mine.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "To settle" in html and "Settled" in html
    assert "-500.00" in html and "1000.00" in html
    assert [line["row"].side for line in page.context["outstanding"]] == ["buy"]
    assert [line["row"].side for line in page.context["finished_lines"]] == ["sell"]
    assert browser.get(f"/settlements/{other.pk}/").status_code == 404
    stranger = Client()
    stranger.force_login(other_client)
    assert stranger.get(f"/settlements/{mine.pk}/").status_code == 404


def _failed(market):
    from apps.ledger.choices import Bucket, HouseAccount
    from apps.ledger.services import journal_post, ledger_account_get

    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, market, 10)
    trade(market, seller, buyer, 10, "100.00")
    journal_post(
        kind="custody_break",
        postings=[
            (ledger_account_get(owner=buyer, instrument=market, bucket=Bucket.UNSETTLED), -10),
            (
                ledger_account_get(
                    house=HouseAccount.SUSPENSE, instrument=market, bucket="settled"
                ),
                10,
            ),
        ],
        memo="Delivery short",
    )
    run(due_date(buyer))
    return buyer, SettlementInstruction.objects.get(account=buyer)


def test_the_back_office_pages_render(market, django_capture_on_commit_callbacks):
    _buyer, fail = _failed(market)
    x = trading.open_instrument(settlement_cycle=1)
    client, dealer = trading.trader("0"), trading.trader()
    trading.shares(client, x, 10)
    trading.shares(dealer, market, 10)
    trade(x, client, dealer, 10, "100.00")
    trade(market, dealer, client, 5, "100.00")
    with django_capture_on_commit_callbacks(execute=True):
        trade(market, client, dealer, 5, "100.00")
    violation = GoodFaithViolation.objects.get()
    browser = admin_login(StaffFactory(role="broker_operations"))
    for page in ("settlementinstruction", "settlementcalendar", "failqueue", "settlementrun"):
        assert browser.get(f"/admin/settlement/{page}/").status_code == 200, page
    assert browser.get("/admin/settlement/goodfaithviolation/").status_code == 200
    calendar = browser.get("/admin/settlement/settlementcalendar/")
    days = calendar.context["calendar_days"]
    assert any(d["day"].date == fail.settlement_date and d["day"].failed == 1 for d in days)
    on = fail.settlement_date
    drill = browser.get(
        "/admin/settlement/settlementcalendar/",
        {
            "settlement_date__year": on.year,
            "settlement_date__month": on.month,
            "settlement_date__day": on.day,
        },
    )
    assert drill.status_code == 200
    assert [d["day"].date for d in drill.context["calendar_days"]] == [on]
    queue = browser.get("/admin/settlement/failqueue/")
    assert list(queue.context["cl"].result_list) == [fail]
    for page, pk in (
        ("failqueue", fail.pk),
        ("settlementinstruction", fail.pk),
        ("settlementrun", SettlementRun.objects.first().pk),
        ("goodfaithviolation", violation.pk),
    ):
        assert browser.get(f"/admin/settlement/{page}/{pk}/change/").status_code == 200, page
        assert browser.get(f"/admin/settlement/{page}/{pk}/history/").status_code == 200, page
    assert browser.get("/admin/settlement/settlementrun/run/").status_code == 200


def test_staff_work_the_fails_queue_from_the_admin(market):
    from apps.ledger.choices import Bucket, HouseAccount
    from apps.ledger.services import journal_post, ledger_account_get

    buyer, fail = _failed(market)
    first = admin_login(StaffFactory(role="broker_operations"))
    second = admin_login(StaffFactory(role="broker_operations"))
    url = "/admin/settlement/failqueue/"
    ask = {"action": "action_retry_selected_fails", "_selected_action": [fail.pk]}
    assert b"Recorded in the audit trail" in first.post(url, ask).content
    done = first.post(url, {**ask, "apply": "1", "reason": "Try again"}, follow=True)
    assert "still cannot settle" in done.content.decode()
    fail.refresh_from_db()
    assert fail.status == "failed"

    cancel = {"action": "action_cancel_selected_fails__four_eyes_", "_selected_action": [fail.pk]}
    first.post(url, {**cancel, "apply": "1", "reason": "Will not arrive"})
    fail.refresh_from_db()
    assert fail.status == "failed" and fail.cancel_requested_by is not None
    # The second pair of eyes sees the request, then the shares turn up: retried instead.
    journal_post(
        kind="custody_break",
        postings=[
            (ledger_account_get(owner=buyer, instrument=market, bucket=Bucket.UNSETTLED), 10),
            (
                ledger_account_get(
                    house=HouseAccount.SUSPENSE, instrument=market, bucket="settled"
                ),
                -10,
            ),
        ],
        memo="Delivery found",
    )
    second.post(url, {**ask, "apply": "1", "reason": "Found"})
    fail.refresh_from_db()
    assert fail.status == "settled"
    assert balance(buyer, market) == 10
    assert_books_clean()


def test_staff_run_a_date_from_the_admin(market, django_capture_on_commit_callbacks):
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, market, 10)
    trade(market, seller, buyer, 10, "100.00")
    on = due_date(buyer)
    browser = admin_login(StaffFactory(role="broker_operations"))
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/admin/settlement/settlementrun/run/",
            {"run_date": on.isoformat(), "calendar": "", "reason": "Catching up"},
        )
    assert response.status_code == 302
    done = SettlementRun.objects.get()
    assert (done.run_date, done.trigger, done.status) == (on, "staff", "completed")
    assert done.requested_by is not None and done.reason == "Catching up"
    assert balance(seller, "USD") == Decimal("101000.00")
    support = admin_login(StaffFactory(role="support"))
    assert support.get("/admin/settlement/settlementrun/run/").status_code == 403
