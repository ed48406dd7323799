"""Deposits: the signed bank webhook, exactly-once crediting, suspense and the staff queue."""

import json
import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.choices import AccountStatus
from apps.core.models import OutboxMessage
from apps.ledger import references, selectors
from apps.ledger.choices import DepositStatus, HouseAccount, SuspenseReason
from apps.ledger.models import Deposit
from tests.factories.accounts import TradingAccountFactory
from tests.factories.ledger import bank_transaction_id, cash, funded_account, house, signed

pytestmark = pytest.mark.django_db

WEBHOOK = "/api/v1/webhooks/bank"
D = Decimal


def credit_payload(account=None, amount="100.00", **overrides):
    payload = {
        "event": "credit",
        "bank_transaction_id": bank_transaction_id(),
        "reference": references.reference_for(account.number) if account else "RF00BRS999999",
        "amount": amount,
        "currency": "USD",
    }
    payload.update(overrides)
    return payload


def send(api, payload, *, secret=None, signature=None, body=None):
    raw, good = signed(payload, secret)
    return api.post(
        WEBHOOK,
        data=body if body is not None else raw,
        content_type="application/json",
        HTTP_X_BANK_SIGNATURE=good if signature is None else signature,
    )


def test_a_signed_credit_lands_in_a_pending_accounts_settled_cash(api):
    account = TradingAccountFactory()  # pending until KYC: deposits still credit it
    response = send(api, credit_payload(account, "1250.50"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "credited" and body["duplicate"] is False
    deposit = Deposit.objects.get(pk=body["deposit_id"])
    assert deposit.account == account and deposit.amount == D("1250.50")
    assert cash(account) == D("1250.50")
    assert house().balance == D("-1250.50")
    assert [h.status for h in deposit.history.order_by("history_id")] == ["received", "credited"]
    assert selectors.ledger_integrity().ok


def _corrupted(reference: str) -> str:
    """The reference with its last character changed (so its check digit no longer holds)."""
    return reference[:-1] + ("8" if reference[-1] == "9" else "9")


@pytest.mark.parametrize(
    "signature", ["", "0" * 64, "not-hex", None], ids=["empty", "wrong", "junk", "missing"]
)
def test_a_bad_or_missing_signature_is_refused(api, signature):
    account = TradingAccountFactory()
    raw, _ = signed(credit_payload(account))
    headers = {} if signature is None else {"HTTP_X_BANK_SIGNATURE": signature}
    response = api.post(WEBHOOK, data=raw, content_type="application/json", **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not Deposit.objects.exists()


def test_the_signature_covers_the_raw_body(api):
    account = TradingAccountFactory()
    payload = credit_payload(account)
    _, signature = signed(payload)
    reformatted = json.dumps(payload, indent=2).encode()  # same JSON, other bytes
    response = send(api, payload, signature=signature, body=reformatted)
    assert response.status_code == 401
    assert cash(account) == 0


def test_rotation_accepts_the_fallback_secret_until_it_is_removed(api, settings):
    account = TradingAccountFactory()
    settings.BANK_WEBHOOK_SECRET = "new-secret"
    settings.BANK_WEBHOOK_SECRET_FALLBACKS = ["old-secret"]
    assert send(api, credit_payload(account), secret="old-secret").status_code == 200
    assert send(api, credit_payload(account), secret="new-secret").status_code == 200
    settings.BANK_WEBHOOK_SECRET_FALLBACKS = []
    assert send(api, credit_payload(account), secret="old-secret").status_code == 401
    assert cash(account) == D("200")


def test_without_a_configured_secret_every_call_is_refused(api, settings):
    settings.BANK_WEBHOOK_SECRET = ""
    assert send(api, credit_payload(TradingAccountFactory()), secret="").status_code == 401


def test_a_repeated_bank_transaction_credits_once(api):
    account = TradingAccountFactory()
    payload = credit_payload(account, "40.00")
    first = send(api, payload)
    again = send(api, payload)
    assert first.status_code == again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert cash(account) == D("40")
    conflicting = send(api, {**payload, "amount": "41.00"})
    assert conflicting.status_code == 409
    assert conflicting.json()["error"]["code"] == "conflict"
    assert cash(account) == D("40")


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_credit_exactly_once():
    account = TradingAccountFactory()
    payload = credit_payload(account, "500.00")
    raw, signature = signed(payload)
    statuses, errors = [], []
    barrier = threading.Barrier(10)

    def deliver() -> None:
        try:
            client = APIClient()
            barrier.wait()
            response = client.post(
                WEBHOOK, data=raw, content_type="application/json", HTTP_X_BANK_SIGNATURE=signature
            )
            statuses.append((response.status_code, response.json().get("duplicate")))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(statuses) == [(200, False)] + [(200, True)] * 9
    assert Deposit.objects.count() == 1
    assert cash(account) == D("500")
    assert selectors.ledger_integrity().ok


@pytest.mark.parametrize(
    ("make_reference", "account_status", "currency", "reason"),
    [
        (lambda a: "RF00BRS999999", AccountStatus.ACTIVE, "USD", SuspenseReason.UNKNOWN_REFERENCE),
        (lambda a: "please credit alice", AccountStatus.ACTIVE, "USD", "unknown_reference"),
        (  # one digit mistyped: the check digits catch it
            lambda a: _corrupted(references.reference_for(a.number)),
            AccountStatus.ACTIVE,
            "USD",
            SuspenseReason.UNKNOWN_REFERENCE,
        ),
        (
            lambda a: references.reference_for(a.number),
            AccountStatus.SUSPENDED,
            "USD",
            SuspenseReason.ACCOUNT_NOT_OPEN,
        ),
        (
            lambda a: references.reference_for(a.number),
            AccountStatus.ACTIVE,
            "EUR",
            SuspenseReason.CURRENCY_MISMATCH,
        ),
    ],
)
def test_unmatched_money_goes_to_suspense_never_lost(
    api, ops, make_reference, account_status, currency, reason
):
    account = TradingAccountFactory(status=AccountStatus.ACTIVE)
    if account_status == AccountStatus.SUSPENDED:
        account_services.trading_account_suspend(account=account, actor=ops, reason="fraud check")
    payload = credit_payload(amount="75.00", reference=make_reference(account), currency=currency)
    response = send(api, payload)
    assert response.status_code == 200
    assert response.json()["status"] == "in_suspense"
    deposit = Deposit.objects.get()
    assert deposit.suspense_reason == reason and deposit.account is None
    assert cash(account) == 0
    assert house(HouseAccount.SUSPENSE, currency).balance == D("75")
    assert house(HouseAccount.BANK, currency).balance == D("-75")


@pytest.mark.parametrize(
    "overrides",
    [
        {"currency": "XXX"},
        {"amount": "-5.00"},
        {"amount": "0"},
        {"amount": "1.001"},
        {"amount": "abc"},
        {"bank_transaction_id": ""},
        {"event": "refund"},
    ],
)
def test_malformed_events_are_invalid(api, overrides):
    payload = credit_payload(TradingAccountFactory(), **overrides)
    response = send(api, payload)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert not Deposit.objects.exists()


def test_a_signed_body_that_is_not_json_is_invalid(api):
    raw = b"credit 100 USD"
    import hashlib
    import hmac

    from tests.ledger.conftest import WEBHOOK_SECRET

    signature = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    response = api.post(
        WEBHOOK, data=raw, content_type="application/json", HTTP_X_BANK_SIGNATURE=signature
    )
    assert response.status_code == 400


# --- The suspense queue ---------------------------------------------------------------------


@pytest.fixture
def suspense_deposit(api):
    send(api, credit_payload(amount="300.00"))
    return Deposit.objects.get(status=DepositStatus.IN_SUSPENSE)


def test_staff_assign_a_suspense_deposit_to_the_right_account(as_staff, suspense_deposit):
    account = TradingAccountFactory()
    staff = as_staff("broker_operations")
    queue = staff.get("/api/v1/backoffice/deposits", {"status": "in_suspense"}).json()
    assert [d["id"] for d in queue["results"]] == [suspense_deposit.pk]
    response = staff.post(
        f"/api/v1/backoffice/deposits/{suspense_deposit.pk}/assign",
        {"account": account.number, "reason": "Client called with the transfer slip"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "assigned"
    assert cash(account) == D("300")
    assert house(HouseAccount.SUSPENSE).balance == 0
    suspense_deposit.refresh_from_db()
    last = suspense_deposit.history.first()
    assert last.history_user == staff.user
    assert last.history_change_reason == "Client called with the transfer slip"
    again = staff.post(
        f"/api/v1/backoffice/deposits/{suspense_deposit.pk}/assign",
        {"account": str(account.pk), "reason": "again"},
    )
    assert again.status_code == 409
    assert cash(account) == D("300")


def test_assigning_to_a_closed_or_other_currency_account_is_refused(as_staff, suspense_deposit):
    staff = as_staff("broker_operations")
    euro = TradingAccountFactory(currency="EUR")
    wrong_currency = staff.post(
        f"/api/v1/backoffice/deposits/{suspense_deposit.pk}/assign",
        {"account": euro.number, "reason": "matched by name"},
    )
    assert wrong_currency.status_code == 400
    closed = TradingAccountFactory()
    account_services.trading_account_close(
        account=closed, actor=None, reason="left", enforce_permission=False
    )
    refused = staff.post(
        f"/api/v1/backoffice/deposits/{suspense_deposit.pk}/assign",
        {"account": closed.number, "reason": "matched by name"},
    )
    assert refused.status_code == 409
    suspense_deposit.refresh_from_db()
    assert suspense_deposit.status == DepositStatus.IN_SUSPENSE


def test_staff_return_a_suspense_deposit_through_the_bank(
    as_staff, suspense_deposit, django_capture_on_commit_callbacks
):
    staff = as_staff("broker_operations")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            f"/api/v1/backoffice/deposits/{suspense_deposit.pk}/return",
            {"reason": "No client with this name"},
        )
    assert response.status_code == 200
    suspense_deposit.refresh_from_db()
    assert suspense_deposit.status == DepositStatus.RETURNED
    assert suspense_deposit.return_reference.startswith("SIMRET-")
    assert not OutboxMessage.objects.exists()
    assert house(HouseAccount.SUSPENSE).balance == 0
    assert house(HouseAccount.BANK).balance == 0  # the money left the firm again


def test_support_sees_deposits_but_cannot_resolve_them(as_staff, suspense_deposit):
    support = as_staff("support")
    assert support.get("/api/v1/backoffice/deposits").status_code == 200
    response = support.post(
        f"/api/v1/backoffice/deposits/{suspense_deposit.pk}/return", {"reason": "tidy up"}
    )
    assert response.status_code == 403


def test_the_admin_suspense_queue_assigns_with_a_reason(admin_browser, ops, suspense_deposit):
    account = funded_account("0")
    credited = funded_account("10.00")
    browser = admin_browser(ops)
    queue = browser.get("/admin/ledger/depositqueue/")
    assert queue.status_code == 200
    assert suspense_deposit.bank_transaction_id.encode() in queue.content
    assert credited.deposits.get().bank_transaction_id.encode() not in queue.content
    action = "action_assign_to_a_trading_account"
    form = browser.post(
        "/admin/ledger/depositqueue/",
        {"action": action, "_selected_action": [suspense_deposit.pk]},
    )
    assert b"reason" in form.content and b"account" in form.content
    done = browser.post(
        "/admin/ledger/depositqueue/",
        {
            "action": action,
            "_selected_action": [suspense_deposit.pk],
            "apply": "1",
            "reason": "Matched the payer's name",
            "account": account.number,
        },
    )
    assert done.status_code == 302
    suspense_deposit.refresh_from_db()
    assert suspense_deposit.status == DepositStatus.ASSIGNED
    assert suspense_deposit.history.first().history_change_reason == "Matched the payer's name"
    assert cash(account) == D("300")
