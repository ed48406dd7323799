"""Clients hear about money that reached their account: once per deposit."""

import pytest

from apps.ledger import services
from apps.marketdata.models import Notification
from tests.factories.accounts import StaffFactory, TradingAccountFactory
from tests.factories.ledger import deposit

pytestmark = pytest.mark.django_db


def test_a_credited_deposit_notifies_its_owner_once():
    account = TradingAccountFactory()
    first = deposit(account, "250.00", bank_transaction_id="BANK-TX-1")
    deposit(account, "250.00", bank_transaction_id="BANK-TX-1")  # the bank retries
    notes = Notification.objects.filter(user=account.owner, event="deposit")
    assert notes.count() == 1
    assert notes.get().data["deposit_id"] == first.pk
    assert "250.00 USD" in notes.get().subject


def test_suspense_money_notifies_when_staff_assign_it():
    account = TradingAccountFactory()
    held = deposit(account, "90.00", reference="RF00BRS999999")
    assert held.status == "in_suspense"
    assert not Notification.objects.exists()
    services.deposit_assign(
        deposit=held,
        account=account,
        actor=StaffFactory(is_superuser=True),
        reason="Client called with the transfer slip",
    )
    assert Notification.objects.get(user=account.owner).data["amount"] == "90.00"
