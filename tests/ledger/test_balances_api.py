"""Balances now and as of a past instant, transactions with running balances, deposit
instructions: the client's read endpoints."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from apps.ledger import references, selectors, services
from apps.ledger.choices import Bucket
from tests.factories.ledger import deposit, funded_account

pytestmark = pytest.mark.django_db

D = Decimal
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def history(client_user):
    """Deposit 1000 at T0, withdraw-request 300 at T0+1h, deposit 50 at T0+2h."""
    with time_machine.travel(T0, tick=False):
        account = funded_account("1000.00", owner=client_user)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        services.withdrawal_request(account=account, amount=D("300"), actor=client_user)
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        deposit(account, "50.00")
    return account


@pytest.mark.parametrize(
    ("offset", "settled", "reserved"),
    [
        (timedelta(seconds=-1), "0", "0"),
        (timedelta(0), "1000", "0"),
        (timedelta(minutes=59), "1000", "0"),
        (timedelta(hours=1), "700", "300"),
        (timedelta(hours=1, minutes=30), "700", "300"),
        (timedelta(hours=2), "750", "300"),
        (timedelta(days=30), "750", "300"),
    ],
)
def test_balances_as_of_an_instant(history, offset, settled, reserved):
    balances = selectors.cash_balances(account=history, as_of=T0 + offset)
    assert (balances.settled, balances.reserved) == (D(settled), D(reserved))
    settled_account = services.ledger_account_get(
        owner=history, currency="USD", bucket=Bucket.SETTLED
    )
    assert selectors.balance_as_of(ledger_account=settled_account, instant=T0 + offset) == D(
        settled
    )


def test_the_balances_endpoint_now_and_as_of(as_client, history):
    now = as_client.get(f"/api/v1/accounts/{history.pk}/balances").json()
    assert now["currency"] == "USD"
    assert now["cash_settled"] == "750.00" and now["cash_reserved"] == "300.00"
    assert now["cash_unsettled"] == "0.00"
    assert now["buying_power"] == "750.00" and now["withdrawable"] == "750.00"
    then = as_client.get(
        f"/api/v1/accounts/{history.pk}/balances",
        {"as_of": (T0 + timedelta(minutes=30)).isoformat()},
    ).json()
    assert then["cash_settled"] == "1000.00" and then["cash_reserved"] == "0.00"
    assert then["as_of"].startswith("2026-03-02T09:30:00")
    bad = as_client.get(f"/api/v1/accounts/{history.pk}/balances", {"as_of": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"


def test_another_clients_balances_are_not_found(as_client, other_client):
    theirs = funded_account("10.00", owner=other_client)
    for path in ("balances", "transactions", "deposit-instructions", "withdrawals"):
        response = as_client.get(f"/api/v1/accounts/{theirs.pk}/{path}")
        assert response.status_code == 404, path


def test_transactions_show_each_line_with_its_running_balance(
    as_client, history, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        page = as_client.get(f"/api/v1/accounts/{history.pk}/transactions").json()
    assert page["count"] == 3
    lines = [(r["type"], r["amount"], r["balance_after"]) for r in page["results"]]
    assert lines == [
        ("deposit", "50.00", "750.00"),
        ("withdrawal_hold", "-300.00", "700.00"),
        ("deposit", "1000.00", "1000.00"),
    ]
    first = page["results"][-1]
    assert first["currency"] == "USD" and first["reference"].startswith("DEP-")
    reserved = as_client.get(
        f"/api/v1/accounts/{history.pk}/transactions", {"bucket": "reserved"}
    ).json()
    assert [r["balance_after"] for r in reserved["results"]] == ["300.00"]


def test_transactions_query_count_does_not_grow_with_the_page(
    as_client, client_user, django_assert_max_num_queries
):
    account = funded_account("1.00", owner=client_user)
    for _ in range(30):
        deposit(account, "1.00")
    with django_assert_max_num_queries(6):
        page = as_client.get(f"/api/v1/accounts/{account.pk}/transactions").json()
    assert page["count"] == 31 and page["results"][0]["balance_after"] == "31.00"


def test_deposit_instructions_carry_a_reference_that_checks(as_client, client_user):
    account = funded_account("0", owner=client_user)
    body = as_client.get(f"/api/v1/accounts/{account.pk}/deposit-instructions").json()
    assert body["reference"] == references.reference_for(account.number)
    assert references.account_number_from(body["reference"]) == account.number
    assert references.account_number_from(body["reference_display"].lower()) == account.number
    assert body["iban"] and body["bank_name"] and body["currency"] == "USD"


def test_staff_see_any_accounts_balances(as_staff, history):
    staff = as_staff("support")
    response = staff.get(f"/api/v1/backoffice/accounts/{history.pk}/balances")
    assert response.status_code == 200 and response.json()["cash_settled"] == "750.00"
