"""Regulation T in cash accounts: selling a security bought with unsettled proceeds before
those proceeds settle is a good-faith violation; three in twelve months restrict the account
to settled-cash purchases for 90 days."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.ledger.selectors import cash_balances
from apps.settlement.models import GoodFaithViolation
from apps.settlement.services import gfv_restrictions_lift_due
from tests.factories import trading
from tests.settlement.conftest import assert_books_clean, due_date, run, trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db):
    """Two listed instruments and a dealer holding plenty of both and of cash."""
    ten = {"reference_price": Decimal("10.00"), "previous_close": Decimal("10.00")}
    x = trading.open_instrument(settlement_cycle=1, **ten)
    y = trading.open_instrument(settlement_cycle=1, **ten)
    dealer = trading.trader("1000000.00")
    trading.shares(dealer, y, 1000)
    return x, y, dealer


def _client_with_proceeds(x, dealer, quantity=100):
    """A client with no cash who sells shares: the proceeds are unsettled."""
    client = trading.trader("0")
    trading.shares(client, x, quantity)
    trade(x, client, dealer, quantity, "10.00")
    return client


def test_selling_what_unsettled_proceeds_bought_is_a_violation(
    desk, django_capture_on_commit_callbacks
):
    x, y, dealer = desk
    client = _client_with_proceeds(x, dealer)
    proceeds_settle = due_date(client)
    trade(y, dealer, client, 20, "10.00")  # paid 200 from the unsettled 1000
    with django_capture_on_commit_callbacks(execute=True):
        trade(y, client, dealer, 20, "10.00")  # sold before the 1000 settles

    violation = GoodFaithViolation.objects.get()
    assert violation.account == client and violation.instrument == y
    assert violation.buy_order.side == "buy" and violation.sell_order.side == "sell"
    assert violation.unsettled_funds == Decimal("200.00")
    assert violation.funds_settle_on == proceeds_settle
    assert violation.trade_date == timezone.localdate()
    assert violation.restricted_until is None
    client.refresh_from_db()
    assert client.status == "active"
    assert_books_clean()


def test_three_violations_in_twelve_months_restrict_the_account_for_90_days(
    desk, django_capture_on_commit_callbacks
):
    x, y, dealer = desk
    client = _client_with_proceeds(x, dealer)
    for _ in range(3):
        trade(y, dealer, client, 20, "10.00")
        with django_capture_on_commit_callbacks(execute=True):
            trade(y, client, dealer, 20, "10.00")

    assert GoodFaithViolation.objects.filter(account=client).count() == 3
    client.refresh_from_db()
    assert client.status == "restricted"
    assert "Regulation T" in client.status_reason
    expected = timezone.now() + dt.timedelta(days=90)
    assert abs(client.restricted_until - expected) < dt.timedelta(minutes=5)
    third = GoodFaithViolation.objects.order_by("pk").last()
    assert third.restricted_until == client.restricted_until

    # Restricted: purchases with settled cash only; the client has only unsettled cash.
    assert cash_balances(account=client).unsettled == Decimal("1000.00")
    with pytest.raises(ApplicationError) as refused:
        trading.place(client, y, "buy", 1, "10.00")
    assert refused.value.code == "insufficient_funds"

    run(due_date(client))  # the proceeds settle: now it may buy with them
    trading.place(client, y, "buy", 1, "10.00")
    trading.place(dealer, y, "sell", 1, "10.00")
    trading.match(y)
    run(due_date(client))
    assert gfv_restrictions_lift_due() == 0  # not before the 90 days

    with time_machine.travel(timezone.now() + dt.timedelta(days=91)):
        assert gfv_restrictions_lift_due() == 1
    client.refresh_from_db()
    assert client.status == "active" and client.restricted_until is None
    assert GoodFaithViolation.objects.get(pk=third.pk).restriction_lifted_at is not None
    assert gfv_restrictions_lift_due() == 0
    assert_books_clean()


def test_purchases_with_settled_cash_are_not_violations(desk, django_capture_on_commit_callbacks):
    x, y, dealer = desk
    client = trading.trader("500.00")
    trading.shares(client, x, 100)
    trade(x, client, dealer, 100, "10.00")  # 1000 unsettled; 500 settled
    trade(y, dealer, client, 20, "10.00")  # 200 from settled cash
    with django_capture_on_commit_callbacks(execute=True):
        trade(y, client, dealer, 20, "10.00")
    assert not GoodFaithViolation.objects.exists()
    assert_books_clean()


def test_selling_after_the_proceeds_settled_is_not_a_violation(
    desk, django_capture_on_commit_callbacks
):
    x, y, dealer = desk
    client = _client_with_proceeds(x, dealer)
    trade(y, dealer, client, 20, "10.00")
    run(due_date(client))  # the 1000 (and the purchase) settle
    with django_capture_on_commit_callbacks(execute=True):
        trade(y, client, dealer, 20, "10.00")
    assert not GoodFaithViolation.objects.exists()
    assert_books_clean()


def test_selling_other_shares_of_the_same_security_is_not_a_violation(
    desk, django_capture_on_commit_callbacks
):
    x, y, dealer = desk
    client = _client_with_proceeds(x, dealer)
    trading.shares(client, y, 50)  # held before: the sale can be of these
    trade(y, dealer, client, 20, "10.00")
    with django_capture_on_commit_callbacks(execute=True):
        trade(y, client, dealer, 20, "10.00")
    assert not GoodFaithViolation.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        trade(y, client, dealer, 40, "10.00")  # now into the shares bought unsettled
    assert GoodFaithViolation.objects.count() == 1
    assert_books_clean()


def test_the_run_finds_a_violation_the_fill_did_not_report(desk):
    x, y, dealer = desk
    client = _client_with_proceeds(x, dealer)
    trade(y, dealer, client, 20, "10.00")
    trade(y, client, dealer, 20, "10.00")  # no receivers ran: nothing recorded yet
    assert not GoodFaithViolation.objects.exists()

    result = run(timezone.localdate())

    assert result.violations_found == 1
    assert GoodFaithViolation.objects.get().account == client
    assert run(timezone.localdate()).violations_found == 1  # found once, not again
    assert_books_clean()
