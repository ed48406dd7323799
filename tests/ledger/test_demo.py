"""The demo data: funded through the real deposit path, the queues filled, idempotent."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.accounts import demo as accounts_demo
from apps.kyc import demo as kyc_demo
from apps.ledger import demo, selectors
from apps.ledger.bank import SimulatedBank
from apps.ledger.choices import Bucket, DepositStatus, WithdrawalStatus
from apps.ledger.models import Adjustment, Deposit, ReconciliationRun, Withdrawal
from tests.factories.ledger import cash

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Deposit, Withdrawal, Adjustment, ReconciliationRun)
    }


def test_demo_funding_fills_the_queues_and_loads_twice_alike():
    accounts_demo.load(io.StringIO())
    demo.load(io.StringIO())  # accounts still pending: funded, no withdrawals yet
    alice = demo._account("alice@example.com")
    assert alice.status == "pending" and cash(alice) == Decimal("100000")
    assert not Withdrawal.objects.exists()
    kyc_demo.load(io.StringIO())  # compliance approves the demo clients: accounts active
    out = io.StringIO()
    demo.load(out)
    first = counts()
    demo.load(io.StringIO())
    assert (
        counts()
        == first
        == {
            "Deposit": 3,
            "Withdrawal": 2,
            "Adjustment": 1,
            "ReconciliationRun": 1,
        }
    )
    assert "suspense queue" in out.getvalue()
    assert Deposit.objects.filter(status=DepositStatus.IN_SUSPENSE).count() == 1
    statuses = set(Withdrawal.objects.values_list("status", flat=True))
    assert statuses == {WithdrawalStatus.PROCESSING, WithdrawalStatus.REQUESTED}
    assert cash(alice) == Decimal("96000") and cash(alice, Bucket.RESERVED) == Decimal("4000")
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        assert SimulatedBank().settle_due() == 1
    assert cash(alice, Bucket.RESERVED) == Decimal("2500")
    assert Adjustment.objects.get().status == "pending_approval"
    assert ReconciliationRun.objects.get().ok
    assert selectors.ledger_integrity().ok
