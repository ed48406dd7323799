"""A person's KYC tier caps what they withdraw per day, across all their accounts."""

from decimal import Decimal as D

import pytest

from apps.core.errors import ApplicationError
from apps.ledger import services
from tests.factories.accounts import TradingAccountFactory
from tests.factories.ledger import deposit, funded_account

pytestmark = pytest.mark.django_db


def withdraw(account, amount: str):
    return services.withdrawal_request(account=account, amount=D(amount), actor=account.owner)


def test_tier_one_limit_spans_the_persons_accounts(settings):
    first = funded_account("5000.00", kyc_tier=1)
    second = TradingAccountFactory(owner=first.owner, status="active")
    deposit(second, "5000.00")
    withdraw(first, "600.00")
    with pytest.raises(ApplicationError) as refused:
        withdraw(second, "500.00")
    assert refused.value.code == "limit_exceeded"
    assert refused.value.details["tier"] == 1
    assert refused.value.details["remaining"] == "400.00"
    withdraw(second, "400.00")  # exactly what is left today


def test_tier_three_has_no_daily_limit_of_its_own():
    account = funded_account("80000.00", kyc_tier=3)
    account.daily_withdrawal_limit = None
    account.per_withdrawal_limit = None
    account.save()
    withdraw(account, "45000.00")
    withdraw(account, "30000.00")


def test_no_withdrawal_without_approved_kyc(as_client, client_user):
    account = funded_account("100.00", owner=client_user, kyc_tier=None)
    response = as_client.post(f"/api/v1/accounts/{account.pk}/withdrawals", {"amount": "10.00"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "kyc_required"
