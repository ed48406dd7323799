"""Every page of the ledger's back office renders for staff, with the data they need."""

from decimal import Decimal

import pytest

from apps.ledger import services
from apps.ledger.models import (
    Adjustment,
    Deposit,
    JournalEntry,
    LedgerAccount,
    Posting,
    ReconciliationRun,
    Withdrawal,
)
from tests.factories.accounts import StaffFactory
from tests.factories.ledger import deposit, funded_account

pytestmark = pytest.mark.django_db

PAGES = [
    "ledgeraccount",
    "journalentry",
    "posting",
    "reconciliationrun",
    "deposit",
    "depositqueue",
    "withdrawal",
    "withdrawalqueue",
    "adjustment",
    "adjustmentqueue",
    "simulatedbankpayout",
]


@pytest.fixture
def books(ops, ops2):
    account = funded_account("1000.00")
    deposit(account, "10.00", reference="unknown")
    withdrawal = services.withdrawal_request(
        account=account, amount=Decimal("5"), actor=account.owner
    )
    adjustment = services.adjustment_request(
        account=account, amount=Decimal("3"), actor=ops, reason="r"
    )
    services.ledger_verify()
    return account, withdrawal, adjustment


@pytest.mark.parametrize("role", ["broker_operations", None])
def test_every_page_renders(admin_browser, books, role):
    staff = StaffFactory(role=role, is_superuser=role is None)
    browser = admin_browser(staff)
    assert browser.get("/admin/ledger/").status_code == 200
    for page in PAGES:
        assert browser.get(f"/admin/ledger/{page}/").status_code == 200, page
    _, withdrawal, adjustment = books
    details = {
        "ledgeraccount": LedgerAccount.objects.filter(owner__isnull=False).first().pk,
        "journalentry": JournalEntry.objects.first().pk,
        "posting": Posting.objects.first().pk,
        "reconciliationrun": ReconciliationRun.objects.get().pk,
        "deposit": Deposit.objects.first().pk,
        "withdrawal": withdrawal.pk,
        "withdrawalqueue": withdrawal.pk,
        "adjustment": adjustment.pk,
        "adjustmentqueue": adjustment.pk,
        "depositqueue": Deposit.objects.get(status="in_suspense").pk,
    }
    for page, pk in details.items():
        assert browser.get(f"/admin/ledger/{page}/{pk}/change/").status_code == 200, page
    history = browser.get(f"/admin/ledger/withdrawal/{withdrawal.pk}/history/")
    assert history.status_code == 200 and b"Requested by the client" in history.content
    assert browser.get("/admin/ledger/adjustment/add/").status_code == 200
    assert Adjustment.objects.count() == 1 and Withdrawal.objects.count() == 1


def test_support_sees_balances_but_not_the_queues_actions(admin_browser, books):
    support = StaffFactory(role="support")
    browser = admin_browser(support)
    assert browser.get("/admin/ledger/ledgeraccount/").status_code == 200
    queue = browser.get("/admin/ledger/withdrawalqueue/")
    assert queue.status_code == 200
    assert b"action_approve_selected_withdrawals" not in queue.content
    assert browser.get("/admin/ledger/adjustment/").status_code == 403
