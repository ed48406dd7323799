"""The demo data: Alice verified at tier 2 and accredited, Bob at tier 1, accounts active."""

import io

import pytest
from django.core.management import call_command

from apps.accounts.models import TradingAccount, User
from apps.kyc.models import DocumentAccess, KycApplication, SanctionsList
from apps.kyc.selectors import kyc_is_accredited, kyc_limits

pytestmark = pytest.mark.django_db


def test_demo_clients_are_approved_through_the_services_and_loading_twice_changes_nothing():
    SanctionsList.objects.all().delete()  # the demo loads the sample list itself
    out = io.StringIO()
    call_command("bootstrap_demo", stdout=out)
    assert "KYC approved: alice@example.com (tier 2)" in out.getvalue()
    alice = User.objects.get(email="alice@example.com")
    bob = User.objects.get(email="bob@example.com")
    assert kyc_limits(user=alice).tier == 2
    assert kyc_limits(user=bob).tier == 1
    assert kyc_is_accredited(user=alice) and not kyc_is_accredited(user=bob)
    assert set(TradingAccount.objects.values_list("status", flat=True)) == {"active"}
    approval = KycApplication.objects.get(user=alice).history.first()
    assert approval.status == "approved"
    assert approval.history_user.email == "compliance@bourse.local"
    assert DocumentAccess.objects.filter(document__application__user=alice).count() == 2
    assert SanctionsList.objects.count() == 1

    counts = (KycApplication.history.count(), DocumentAccess.objects.count())
    again = io.StringIO()
    call_command("bootstrap_demo", stdout=again)
    assert "KYC approved" not in again.getvalue()
    assert (KycApplication.history.count(), DocumentAccess.objects.count()) == counts
    assert SanctionsList.objects.count() == 1
