"""Manual adjustments: always four-eyes, the requester can't approve, debits can't overdraw."""

from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.choices import AdjustmentStatus, HouseAccount
from apps.ledger.models import JournalEntry
from tests.factories.accounts import StaffFactory
from tests.factories.ledger import cash, funded_account, house

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def account():
    return funded_account("100.00")


def test_an_adjustment_applies_only_after_another_staff_member_approves(as_staff, account):
    requester, approver = as_staff("broker_operations"), as_staff("broker_operations")
    created = requester.post(
        "/api/v1/backoffice/adjustments",
        {"account": account.pk, "amount": "25.50", "reason": "Goodwill for the outage"},
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "pending_approval" and body["amount"] == "25.50"
    assert cash(account) == D("100")  # nothing moves yet
    own = requester.post(f"/api/v1/backoffice/adjustments/{body['id']}/approve")
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "permission_denied"
    approved = approver.post(f"/api/v1/backoffice/adjustments/{body['id']}/approve")
    assert approved.status_code == 200
    assert approved.json()["status"] == "applied"
    assert cash(account) == D("125.50")
    assert house(HouseAccount.ADJUSTMENTS).balance == D("-25.50")
    entry = JournalEntry.objects.get(reference=f"ADJ-{body['id']}")
    assert entry.memo == "Goodwill for the outage" and entry.actor == approver.user
    again = approver.post(f"/api/v1/backoffice/adjustments/{body['id']}/approve")
    assert again.status_code == 409


def test_a_debit_cannot_overdraw(account, ops, ops2):
    debit = services.adjustment_request(
        account=account, amount=D("-100.01"), actor=ops, reason="Reverse duplicate credit"
    )
    with pytest.raises(ApplicationError) as refused:
        services.adjustment_approve(adjustment=debit, actor=ops2)
    assert refused.value.code == "insufficient_funds"
    debit.refresh_from_db()
    assert debit.status == AdjustmentStatus.PENDING_APPROVAL
    fits = services.adjustment_request(
        account=account, amount=D("-100"), actor=ops, reason="Reverse duplicate credit"
    )
    services.adjustment_approve(adjustment=fits, actor=ops2, reason="checked the statement")
    assert cash(account) == 0
    assert selectors.ledger_integrity().ok


def test_rejecting_posts_nothing(account, ops, ops2):
    adjustment = services.adjustment_request(
        account=account, amount=D("10"), actor=ops, reason="Fee refund"
    )
    rejected = services.adjustment_reject(adjustment=adjustment, actor=ops2, reason="Not due")
    assert rejected.status == AdjustmentStatus.REJECTED
    assert rejected.history.first().history_change_reason == "Not due"
    assert cash(account) == D("100")
    with pytest.raises(ApplicationError) as refused:
        services.adjustment_approve(adjustment=adjustment, actor=ops2)
    assert refused.value.code == "invalid_state"


@pytest.mark.parametrize(
    ("amount", "reason", "currency"),
    [("0", "x reason", None), ("1.234", "x reason", None), ("5", " ", None), ("5", "ok", "EUR")],
)
def test_bad_requests_are_invalid(account, ops, amount, reason, currency):
    with pytest.raises(ApplicationError) as refused:
        services.adjustment_request(
            account=account, amount=D(amount), actor=ops, reason=reason, currency=currency
        )
    assert refused.value.code == "invalid"


def test_roles_without_the_permission_are_refused(account, as_staff):
    support = as_staff("support")
    response = support.post(
        "/api/v1/backoffice/adjustments", {"account": account.pk, "amount": "5", "reason": "why"}
    )
    assert response.status_code == 403
    compliance = StaffFactory(role="compliance")
    with pytest.raises(ApplicationError):
        services.adjustment_request(account=account, amount=D("5"), actor=compliance, reason="x")


def test_the_idempotency_key_requests_once(account, as_staff):
    staff = as_staff("broker_operations")
    body = {"account": account.pk, "amount": "-5.00", "reason": "Card fee"}
    first = staff.post("/api/v1/backoffice/adjustments", body, HTTP_IDEMPOTENCY_KEY="adj-1")
    again = staff.post("/api/v1/backoffice/adjustments", body, HTTP_IDEMPOTENCY_KEY="adj-1")
    assert first.json()["id"] == again.json()["id"]
    assert staff.get("/api/v1/backoffice/adjustments").json()["count"] == 1


def test_the_admin_requests_and_a_colleague_approves(admin_browser, account, ops, ops2):
    requesting = admin_browser(ops)
    added = requesting.post(
        "/admin/ledger/adjustment/add/",
        {"account": account.pk, "amount": "12.00", "currency": "", "justification": "Promo"},
    )
    assert added.status_code == 302, added.content[:2000]
    adjustment = account.adjustments.get()
    assert adjustment.requested_by == ops and adjustment.currency == "USD"
    own = requesting.post(
        "/admin/ledger/adjustmentqueue/",
        {
            "action": "action_approve_selected_adjustments",
            "_selected_action": [adjustment.pk],
            "apply": "1",
            "reason": "self-approval",
        },
    )
    assert own.status_code == 302
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.PENDING_APPROVAL
    approving = admin_browser(ops2)
    assert approving.get("/admin/ledger/adjustmentqueue/").status_code == 200
    approving.post(
        "/admin/ledger/adjustmentqueue/",
        {
            "action": "action_approve_selected_adjustments",
            "_selected_action": [adjustment.pk],
            "apply": "1",
            "reason": "Promo confirmed with marketing",
        },
    )
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.APPLIED
    assert adjustment.decision_reason == "Promo confirmed with marketing"
    assert cash(account) == D("112")
