"""Withdrawals: request (OTP, limits, funds), every transition, four-eyes, the bank, the API."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.bank import SimulatedBank
from apps.ledger.choices import Bucket, HouseAccount, WithdrawalStatus
from apps.ledger.models import JournalEntry, SimulatedBankPayout, Withdrawal
from tests.conftest import token_client
from tests.factories.accounts import StaffFactory, TradingAccountFactory, next_static_token
from tests.factories.ledger import cash, funded_account, house, signed

pytestmark = pytest.mark.django_db

D = Decimal
S = WithdrawalStatus


@pytest.fixture
def account(client_user):
    return funded_account("1000.00", owner=client_user)


def request(account, amount="100.00", **kwargs):
    return services.withdrawal_request(
        account=account, amount=D(amount), actor=account.owner, **kwargs
    )


def assert_cash(account, settled, reserved):
    assert (cash(account), cash(account, Bucket.RESERVED)) == (D(settled), D(reserved))


# --- Requesting -----------------------------------------------------------------------------


def test_a_request_moves_cash_from_settled_to_reserved(as_client, account):
    response = as_client.post(f"/api/v1/accounts/{account.pk}/withdrawals", {"amount": "100.00"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "requested" and body["amount"] == "100.00"
    assert_cash(account, "900", "100")
    balances = as_client.get(f"/api/v1/accounts/{account.pk}/balances").json()
    assert balances["withdrawable"] == "900.00" and balances["cash_reserved"] == "100.00"
    assert balances["buying_power"] == "900.00"
    detail = as_client.get(f"/api/v1/withdrawals/{body['id']}").json()
    assert detail["status"] == "requested" and detail["approvals_required"] == 1


def test_more_than_the_settled_cash_is_insufficient_funds(as_client, account):
    response = as_client.post(f"/api/v1/accounts/{account.pk}/withdrawals", {"amount": "1000.01"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_funds"
    assert not Withdrawal.objects.exists()
    assert_cash(account, "1000", "0")


def test_a_pending_account_can_be_funded_but_not_withdrawn_from(client_user):
    pending = funded_account("500.00", owner=client_user, status="pending")
    assert cash(pending) == D("500")
    api = token_client(client_user)
    response = api.post(f"/api/v1/accounts/{pending.pk}/withdrawals", {"amount": "10.00"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_another_clients_account_or_withdrawal_is_not_found(as_client, other_client):
    theirs = funded_account("100.00", owner=other_client)
    assert (
        as_client.post(f"/api/v1/accounts/{theirs.pk}/withdrawals", {"amount": "1.00"}).status_code
        == 404
    )
    withdrawal = request(theirs, "1.00")
    assert as_client.get(f"/api/v1/withdrawals/{withdrawal.pk}").status_code == 404
    assert as_client.post(f"/api/v1/withdrawals/{withdrawal.pk}/cancel").status_code == 404


@pytest.mark.parametrize("amount", ["0", "-5", "10.005", "abc"])
def test_bad_amounts_are_invalid(as_client, account, amount):
    response = as_client.post(f"/api/v1/accounts/{account.pk}/withdrawals", {"amount": amount})
    assert response.status_code == 400


def test_a_client_with_a_device_needs_a_one_time_password(client_user, account):
    device = StaticDevice.objects.create(user=client_user, name="Backup codes")
    for code in ("11112222", "33334444", "55556666"):
        StaticToken.objects.create(device=device, token=code)
    api = token_client(client_user, otp="11112222")
    url = f"/api/v1/accounts/{account.pk}/withdrawals"
    missing = api.post(url, {"amount": "10.00"})
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "otp_required"
    wrong = api.post(url, {"amount": "10.00", "otp_token": "00000000"})
    assert wrong.status_code == 401
    device.throttle_reset()
    ok = api.post(url, {"amount": "10.00", "otp_token": "33334444"})
    assert ok.status_code == 201
    assert_cash(account, "990", "10")


def test_the_per_request_limit(account, settings):
    settings.WITHDRAWAL_DEFAULT_LIMITS = {"*": ("250", "10000")}
    with pytest.raises(ApplicationError) as refused:
        request(account, "250.01")
    assert refused.value.code == "limit_exceeded"
    assert refused.value.details["limit"] == "per_request"
    request(account, "250.00")
    account.per_withdrawal_limit = D("50")  # the account's own limit overrides the default
    account.save(update_fields=["per_withdrawal_limit"])
    assert selectors.withdrawal_limits(account=account) == (D("50"), D("10000"))
    with pytest.raises(ApplicationError):
        request(account, "50.01")


def test_the_daily_limit_counts_todays_open_and_completed_withdrawals(account, settings):
    settings.WITHDRAWAL_DEFAULT_LIMITS = {"*": (None, "300")}
    first = request(account, "200.00")
    with pytest.raises(ApplicationError) as refused:
        request(account, "100.01")
    assert refused.value.code == "limit_exceeded"
    assert refused.value.details == {"limit": "daily", "limit_amount": "300", "remaining": "100.00"}
    services.withdrawal_cancel(withdrawal=first, actor=account.owner)  # no longer counts
    request(account, "300.00")
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        request(account, "300.00")  # a new day
    assert_cash(account, "400", "600")


def test_the_same_idempotency_key_requests_once(as_client, account):
    url = f"/api/v1/accounts/{account.pk}/withdrawals"
    first = as_client.post(url, {"amount": "25.00"}, HTTP_IDEMPOTENCY_KEY="wd-1")
    again = as_client.post(url, {"amount": "25.00"}, HTTP_IDEMPOTENCY_KEY="wd-1")
    assert first.json()["id"] == again.json()["id"]
    # The service dedupes too, whatever happens to the API's record of the key.
    assert request(account, "25.00", idempotency_key="wd-1").pk == first.json()["id"]
    assert_cash(account, "975", "25")
    assert Withdrawal.objects.count() == 1


# --- Every transition -----------------------------------------------------------------------


def in_state(account, state, ops):
    withdrawal = request(account)
    if state == S.REQUESTED:
        return withdrawal
    if state == S.CANCELLED:
        return services.withdrawal_cancel(withdrawal=withdrawal, actor=account.owner)
    if state == S.REJECTED:
        return services.withdrawal_reject(withdrawal=withdrawal, actor=ops, reason="setup")
    withdrawal = services.withdrawal_approve(withdrawal=withdrawal, actor=ops, reason="setup")
    if state == S.APPROVED:
        return withdrawal
    withdrawal = services.withdrawal_send(withdrawal_id=withdrawal.pk)
    if state == S.PROCESSING:
        return withdrawal
    if state == S.COMPLETED:
        return services.withdrawal_complete(withdrawal=withdrawal, actor=ops, bank_reference="B1")
    return services.withdrawal_fail(withdrawal=withdrawal, actor=ops, reason="setup")


def act(action, withdrawal, account, ops):
    if action == "cancel":
        return services.withdrawal_cancel(withdrawal=withdrawal, actor=account.owner)
    if action == "complete":
        return services.withdrawal_complete(withdrawal=withdrawal, actor=ops, bank_reference="B2")
    service = {
        "approve": services.withdrawal_approve,
        "reject": services.withdrawal_reject,
        "fail": services.withdrawal_fail,
    }[action]
    return service(withdrawal=withdrawal, actor=ops, reason=f"testing {action}")


LEGAL = {
    (S.REQUESTED, "approve"): S.APPROVED,
    (S.REQUESTED, "reject"): S.REJECTED,
    (S.REQUESTED, "cancel"): S.CANCELLED,
    (S.APPROVED, "reject"): S.REJECTED,
    (S.APPROVED, "complete"): S.COMPLETED,
    (S.APPROVED, "fail"): S.FAILED,
    (S.PROCESSING, "complete"): S.COMPLETED,
    (S.PROCESSING, "fail"): S.FAILED,
}
# Where the money is (settled, reserved) once a 100.00 withdrawal of a 1000.00 account is in
# each state; completed ones have left the firm.
CASH = {
    S.REQUESTED: ("900", "100"),
    S.APPROVED: ("900", "100"),
    S.PROCESSING: ("900", "100"),
    S.COMPLETED: ("900", "0"),
    S.REJECTED: ("1000", "0"),
    S.FAILED: ("1000", "0"),
    S.CANCELLED: ("1000", "0"),
}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "complete", "fail"])
def test_every_transition(account, ops, source, action):
    withdrawal = in_state(account, source, ops)
    assert_cash(account, *CASH[source])
    expected = LEGAL.get((source, action))
    if expected is None:
        with pytest.raises(ApplicationError) as refused:
            act(action, withdrawal, account, ops)
        assert refused.value.code == "invalid_state"
        withdrawal.refresh_from_db()
        assert withdrawal.status == source
        assert_cash(account, *CASH[source])
    else:
        result = act(action, withdrawal, account, ops)
        withdrawal.refresh_from_db()
        assert result.status == withdrawal.status == expected
        assert_cash(account, *CASH[expected])
        assert withdrawal.history.first().history_change_reason
    assert selectors.ledger_integrity().ok
    expected_bank = D("-900") if withdrawal.status == S.COMPLETED else D("-1000")
    assert house(HouseAccount.BANK).balance == expected_bank


def test_withdrawal_entries_carry_its_reference(account, ops):
    withdrawal = in_state(account, S.COMPLETED, ops)
    kinds = list(
        JournalEntry.objects.filter(reference=withdrawal.ledger_reference)
        .order_by("sequence")
        .values_list("kind", flat=True)
    )
    assert kinds == ["withdrawal_hold", "withdrawal_payout"]


# --- Four-eyes ------------------------------------------------------------------------------


def test_above_the_threshold_two_different_staff_must_approve(account, ops, ops2, settings):
    settings.WITHDRAWAL_FOUR_EYES_THRESHOLDS = {"*": "400"}
    small = request(account, "400.00")
    assert small.approvals_required == 1
    large = request(account, "400.01")
    assert large.approvals_required == 2
    first = services.withdrawal_approve(withdrawal=large, actor=ops, reason="checked payee")
    assert first.status == S.REQUESTED and first.approvals == 1
    with pytest.raises(ApplicationError) as twice:
        services.withdrawal_approve(withdrawal=large, actor=ops, reason="checked again")
    assert twice.value.code == "permission_denied"
    second = services.withdrawal_approve(withdrawal=large, actor=ops2, reason="second look")
    assert second.status == S.APPROVED and second.approvals == 2
    assert second.first_approved_by == ops and second.approved_by == ops2
    reasons = [h.history_change_reason for h in second.history.order_by("history_id")]
    assert reasons[-2:] == ["First approval: checked payee", "second look"]


def test_nobody_approves_their_own_withdrawal(ops):
    own = funded_account("100.00", owner=ops)
    withdrawal = services.withdrawal_request(
        account=own, amount=D("10"), actor=ops, otp_token=next_static_token(ops)
    )
    with pytest.raises(ApplicationError) as refused:
        services.withdrawal_approve(withdrawal=withdrawal, actor=ops, reason="mine")
    assert refused.value.code == "permission_denied"


def test_roles_decide_who_may_act(account):
    support = StaffFactory(role="support")
    withdrawal = request(account)
    for service in (services.withdrawal_approve, services.withdrawal_reject):
        with pytest.raises(ApplicationError) as refused:
            service(withdrawal=withdrawal, actor=support, reason="trying")
        assert refused.value.code == "permission_denied"


# --- The bank -------------------------------------------------------------------------------


def test_approval_sends_to_the_bank_which_pays_out_after_a_delay(
    account, ops, settings, django_capture_on_commit_callbacks
):
    settings.BANK_SIMULATED_DELAY = timedelta(seconds=30)
    withdrawal = request(account, "100.00")
    with django_capture_on_commit_callbacks(execute=True):
        services.withdrawal_approve(withdrawal=withdrawal, actor=ops, reason="ok")
    withdrawal.refresh_from_db()
    assert withdrawal.status == S.PROCESSING and withdrawal.sent_at is not None
    payout = SimulatedBankPayout.objects.get(payout_id=withdrawal.ledger_reference)
    assert withdrawal.bank_reference == payout.bank_reference
    bank = SimulatedBank()
    assert bank.settle_due() == 0  # not yet
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert bank.settle_due() == 1
    withdrawal.refresh_from_db()
    assert withdrawal.status == S.COMPLETED
    assert_cash(account, "900", "0")
    assert house(HouseAccount.BANK).balance == D("-900")
    assert services.withdrawal_send(withdrawal_id=withdrawal.pk).status == S.COMPLETED  # no-op


def test_a_payout_the_bank_fails_releases_the_hold(
    account, ops, settings, django_capture_on_commit_callbacks
):
    settings.BANK_SIMULATED_FAILURE_RATE = 1.0
    settings.BANK_SIMULATED_DELAY = timedelta(seconds=0)
    withdrawal = request(account, "100.00")
    with django_capture_on_commit_callbacks(execute=True):
        services.withdrawal_approve(withdrawal=withdrawal, actor=ops, reason="ok")
    from apps.ledger.tasks import simulated_bank_settle_due

    assert simulated_bank_settle_due.apply().get() == 1
    withdrawal.refresh_from_db()
    assert withdrawal.status == S.FAILED
    assert "rejected" in withdrawal.status_reason
    assert_cash(account, "1000", "0")


def test_staff_settled_by_hand_before_the_bank_reported(account, ops, settings):
    settings.BANK_SIMULATED_DELAY = timedelta(seconds=0)
    withdrawal = in_state(account, S.PROCESSING, ops)
    services.withdrawal_fail(withdrawal=withdrawal, actor=ops, reason="client closed bank acct")
    assert SimulatedBank().settle_due() == 1  # the bank's later word changes nothing
    withdrawal.refresh_from_db()
    assert withdrawal.status == S.FAILED
    assert_cash(account, "1000", "0")


def test_the_bank_reports_payouts_through_the_webhook(api, account, ops):
    withdrawal = in_state(account, S.PROCESSING, ops)
    event = {
        "event": "payout_completed",
        "payout_id": withdrawal.ledger_reference,
        "bank_reference": "BANK-778",
    }
    for _ in range(2):  # a repeated report is answered the same
        body, signature = signed(event)
        response = api.post(
            "/api/v1/webhooks/bank",
            data=body,
            content_type="application/json",
            HTTP_X_BANK_SIGNATURE=signature,
        )
        assert response.status_code == 200
        assert response.json() == {"status": "completed", "withdrawal_id": withdrawal.pk}
    withdrawal.refresh_from_db()
    assert withdrawal.bank_reference == "BANK-778"
    assert_cash(account, "900", "0")
    body, signature = signed({"event": "payout_failed", "payout_id": "WD-999999"})
    unknown = api.post(
        "/api/v1/webhooks/bank",
        data=body,
        content_type="application/json",
        HTTP_X_BANK_SIGNATURE=signature,
    )
    assert unknown.status_code == 404


# --- The API --------------------------------------------------------------------------------


def test_the_client_cancels_a_request_still_waiting(as_client, account, ops):
    withdrawal = request(account)
    response = as_client.post(f"/api/v1/withdrawals/{withdrawal.pk}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert_cash(account, "1000", "0")
    approved = in_state(account, S.APPROVED, ops)
    late = as_client.post(f"/api/v1/withdrawals/{approved.pk}/cancel")
    assert late.status_code == 409


def test_back_office_approve_complete_and_fail(as_staff, account):
    staff = as_staff("broker_operations")
    first, second = request(account), request(account)
    missing_reason = staff.post(f"/api/v1/backoffice/withdrawals/{first.pk}/approve", {})
    assert missing_reason.status_code == 400
    queue = staff.get("/api/v1/backoffice/withdrawals", {"status": "requested"}).json()
    assert {w["id"] for w in queue["results"]} == {first.pk, second.pk}
    for withdrawal in (first, second):
        approved = staff.post(
            f"/api/v1/backoffice/withdrawals/{withdrawal.pk}/approve", {"reason": "payee ok"}
        )
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
    done = staff.post(
        f"/api/v1/backoffice/withdrawals/{first.pk}/complete", {"bank_reference": "FED-1"}
    )
    assert done.status_code == 200 and done.json()["bank_reference"] == "FED-1"
    failed = staff.post(
        f"/api/v1/backoffice/withdrawals/{second.pk}/fail", {"reason": "returned by bank"}
    )
    assert failed.status_code == 200 and failed.json()["status"] == "failed"
    again = staff.post(f"/api/v1/backoffice/withdrawals/{second.pk}/fail", {"reason": "again"})
    assert again.status_code == 409
    assert_cash(account, "900", "0")


def test_support_cannot_approve_through_the_api(as_staff, account):
    withdrawal = request(account)
    support = as_staff("support")
    assert support.get(f"/api/v1/backoffice/withdrawals/{withdrawal.pk}").status_code == 200
    response = support.post(
        f"/api/v1/backoffice/withdrawals/{withdrawal.pk}/approve", {"reason": "looks fine"}
    )
    assert response.status_code == 403


def test_withdrawal_lists_query_count(as_client, as_staff, account, django_assert_max_num_queries):
    for _ in range(5):
        request(account, "10.00")
    with django_assert_max_num_queries(6):
        listed = as_client.get(f"/api/v1/accounts/{account.pk}/withdrawals")
    assert listed.json()["count"] == 5
    staff = as_staff("broker_operations")
    with django_assert_max_num_queries(8):
        backoffice = staff.get("/api/v1/backoffice/withdrawals")
    assert backoffice.json()["count"] == 5


def test_the_admin_queue_approves_with_a_reason(admin_browser, account, ops):
    withdrawal = request(account)
    browser = admin_browser(ops)
    queue = browser.get("/admin/ledger/withdrawalqueue/")
    assert queue.status_code == 200 and f">{withdrawal.pk}<".encode() in queue.content
    done = browser.post(
        "/admin/ledger/withdrawalqueue/",
        {
            "action": "action_approve_selected_withdrawals",
            "_selected_action": [withdrawal.pk],
            "apply": "1",
            "reason": "Payee verified by phone",
        },
    )
    assert done.status_code == 302
    withdrawal.refresh_from_db()
    assert withdrawal.status == S.APPROVED and withdrawal.approved_by == ops
    assert withdrawal.history.first().history_change_reason == "Payee verified by phone"


# --- Closing an account ---------------------------------------------------------------------


def test_an_account_holding_cash_or_a_withdrawal_in_progress_cannot_close(account, ops):
    from apps.accounts.services import trading_account_close

    withdrawal = request(account, "1000.00")
    with pytest.raises(ApplicationError) as refused:
        trading_account_close(account=account, actor=ops, reason="client leaves")
    assert refused.value.code == "invalid_state" and "reserved" in refused.value.message
    services.withdrawal_approve(withdrawal=withdrawal, actor=ops, reason="ok")
    services.withdrawal_complete(withdrawal=withdrawal, actor=ops, bank_reference="X")
    closed = trading_account_close(account=account, actor=ops, reason="client leaves")
    assert closed.status == "closed"


def test_an_empty_account_closes():
    from apps.accounts.services import trading_account_close

    account = TradingAccountFactory()
    closed = trading_account_close(
        account=account, actor=None, reason="duplicate", enforce_permission=False
    )
    assert closed.status == "closed"
