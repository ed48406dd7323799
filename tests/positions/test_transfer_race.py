"""Two staff members approving the same transfer at the same moment: it is applied once."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from apps.core.errors import ApplicationError
from apps.ledger.choices import Bucket
from apps.ledger.models import LedgerAccount
from apps.positions import services
from apps.positions.models import Position, TaxLot
from tests.factories import trading
from tests.factories.accounts import StaffFactory
from tests.factories.ledger import funded_account

pytestmark = pytest.mark.django_db(transaction=True)


def _approver():
    user = StaffFactory()
    for codename in ("add_securitiestransfer", "approve_securitiestransfer"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def test_concurrent_approvals_apply_the_transfer_once(settings):
    settings.SECURITIES_TRANSFER_FOUR_EYES_VALUE = {"*": "100"}
    instrument, account = trading.open_instrument(), funded_account("0")
    requester, first, second = _approver(), _approver(), _approver()
    transfer = services.securities_transfer_request(
        account=account,
        instrument=instrument,
        quantity=Decimal("50"),
        cost_basis=Decimal("20"),
        acquired_on=dt.date(2024, 1, 2),
        reason="ACATS",
        actor=requester,
    )
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve(actor) -> None:
        try:
            barrier.wait()
            services.securities_transfer_approve(transfer=transfer, actor=actor)
            outcomes.append("applied")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(a,)) for a in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["applied", "invalid_state"]
    held = LedgerAccount.objects.get(owner=account, instrument=instrument, bucket=Bucket.SETTLED)
    assert held.balance == Decimal("50")
    position = Position.objects.get(account=account, instrument=instrument)
    assert position.quantity == position.settled_quantity == Decimal("50")
    assert TaxLot.objects.filter(position=position).count() == 1
    assert services.positions_reconcile() == []
