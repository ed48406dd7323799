"""Balances now and as of a past instant, transactions with running balances, deposit
instructions: the client's read endpoints."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from apps.ledger import references, selectors, services
from apps.ledger.choices import Bucket
from apps.ledger.models import JournalEntry
from tests.factories.ledger import deposit, funded_account

pytestmark = pytest.mark.django_db

D = Decimal
TICK = timedelta(microseconds=1)


@pytest.fixture
def history(client_user):
    """Deposit 1000, then a withdrawal request of 300, then a deposit of 50; returns the
    account and the three entries' times (the database's clock, read under the locks)."""
    account = funded_account("1000.00", owner=client_user)
    services.withdrawal_request(account=account, amount=D("300"), actor=client_user)
    deposit(account, "50.00")
    times = list(
        JournalEntry.objects.filter(postings__ledger_account__owner=account)
        .distinct()
        .order_by("sequence")
        .values_list("created_at", flat=True)
    )
    assert len(times) == 3 and times == sorted(times)
    return account, times


@pytest.mark.parametrize(
    ("entry", "offset", "settled", "reserved"),
    [
        (0, -TICK, "0", "0"),
        (0, timedelta(0), "1000", "0"),
        (1, -TICK, "1000", "0"),
        (1, timedelta(0), "700", "300"),
        (2, -TICK, "700", "300"),
        (2, timedelta(0), "750", "300"),
        (2, timedelta(days=30), "750", "300"),
    ],
)
def test_balances_as_of_an_instant(history, entry, offset, settled, reserved):
    account, times = history
    instant = times[entry] + offset
    balances = selectors.cash_balances(account=account, as_of=instant)
    assert (balances.settled, balances.reserved) == (D(settled), D(reserved))
    settled_account = services.ledger_account_get(
        owner=account, currency="USD", bucket=Bucket.SETTLED
    )
    assert selectors.balance_as_of(ledger_account=settled_account, instant=instant) == D(settled)


def test_the_balances_endpoint_now_and_as_of(as_client, history):
    account, times = history
    now = as_client.get(f"/api/v1/accounts/{account.pk}/balances").json()
    assert now["currency"] == "USD"
    assert now["cash_settled"] == "750.00" and now["cash_reserved"] == "300.00"
    assert now["cash_unsettled"] == "0.00"
    assert now["buying_power"] == "750.00" and now["withdrawable"] == "750.00"
    between = times[0] + (times[1] - times[0]) / 2
    then = as_client.get(
        f"/api/v1/accounts/{account.pk}/balances", {"as_of": between.isoformat()}
    ).json()
    assert then["cash_settled"] == "1000.00" and then["cash_reserved"] == "0.00"
    assert datetime.fromisoformat(then["as_of"].replace("Z", "+00:00")) == between
    bad = as_client.get(f"/api/v1/accounts/{account.pk}/balances", {"as_of": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid"


def test_another_clients_balances_are_not_found(as_client, other_client):
    theirs = funded_account("10.00", owner=other_client)
    for path in ("balances", "transactions", "deposit-instructions", "withdrawals"):
        response = as_client.get(f"/api/v1/accounts/{theirs.pk}/{path}")
        assert response.status_code == 404, path


def test_transactions_show_each_line_with_its_running_balance(
    as_client, history, django_assert_max_num_queries
):
    account, _ = history
    with django_assert_max_num_queries(6):
        page = as_client.get(f"/api/v1/accounts/{account.pk}/transactions").json()
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
        f"/api/v1/accounts/{account.pk}/transactions", {"bucket": "reserved"}
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
    account, _ = history
    staff = as_staff("support")
    response = staff.get(f"/api/v1/backoffice/accounts/{account.pk}/balances")
    assert response.status_code == 200 and response.json()["cash_settled"] == "750.00"


def test_the_api_schema_documents_the_funding_endpoints(as_client):
    schema = as_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/accounts/{id}/balances",
        "/api/v1/accounts/{id}/withdrawals",
        "/api/v1/webhooks/bank",
        "/api/v1/backoffice/withdrawals/{id}/approve",
        "/api/v1/backoffice/adjustments",
    ):
        assert path in paths, path
