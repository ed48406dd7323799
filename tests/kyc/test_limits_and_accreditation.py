"""Tier limits (the selector order intake and withdrawals call) and accredited-investor status."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.kyc import services
from apps.kyc.choices import KycStatus
from apps.kyc.selectors import KycLimits, kyc_check_daily_limit, kyc_is_accredited, kyc_limits
from tests.conftest import token_client
from tests.factories.accounts import StaffFactory
from tests.factories.kyc import PDF, KycApplicationFactory, accredit, upload

pytestmark = pytest.mark.django_db

ZERO = Decimal(0)


def test_a_client_without_approved_kyc_has_no_tier_and_zero_limits(client_user):
    assert kyc_limits(user=client_user) == KycLimits(None, ZERO, ZERO)
    for status in ("draft", "submitted", "under_review", "needs_information", "rejected"):
        application = KycApplicationFactory(status=status)
        assert kyc_limits(user=application.user) == KycLimits(None, ZERO, ZERO), status


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        (1, KycLimits(1, Decimal("1000"), Decimal("1000"))),
        (2, KycLimits(2, Decimal("50000"), Decimal("50000"))),
        (3, KycLimits(3, None, None)),
    ],
)
def test_tier_limits(tier, expected):
    application = KycApplicationFactory(status="approved", tier=tier)
    assert kyc_limits(user=application.user) == expected


def test_limits_are_settings(settings):
    settings.KYC_TIER_LIMITS = {
        1: {"trading": "2500", "withdrawal": "500"},
        2: {"trading": "", "withdrawal": "75000"},
        3: {"trading": None, "withdrawal": None},
    }
    one = KycApplicationFactory(status="approved", tier=1)
    two = KycApplicationFactory(status="approved", tier=2)
    assert kyc_limits(user=one.user) == KycLimits(1, Decimal("2500"), Decimal("500"))
    assert kyc_limits(user=two.user) == KycLimits(2, None, Decimal("75000"))


def test_a_due_review_keeps_the_limits_for_the_grace_period(settings):
    settings.KYC_REVIEW_GRACE_DAYS = 30
    application = KycApplicationFactory(status="review_due", tier=2)
    assert kyc_limits(user=application.user).tier == 2
    with time_machine.travel(timezone.now() + dt.timedelta(days=31)):
        assert kyc_limits(user=application.user) == KycLimits(None, ZERO, ZERO)


def test_the_daily_limit_check():
    user = KycApplicationFactory(status="approved", tier=1).user
    kyc_check_daily_limit(
        user=user, kind="trading", amount=Decimal("400"), used_today=Decimal("600")
    )
    with pytest.raises(ApplicationError) as exceeded:
        kyc_check_daily_limit(
            user=user, kind="withdrawal", amount=Decimal("400.01"), used_today=Decimal("600")
        )
    assert exceeded.value.code == "limit_exceeded"
    assert exceeded.value.status == 422
    assert exceeded.value.details == {
        "tier": 1,
        "kind": "withdrawal",
        "daily_limit": "1000.00",
        "used_today": "600.00",
        "remaining": "400.00",
        "currency": "USD",
    }
    unlimited = KycApplicationFactory(status="approved", tier=3).user
    kyc_check_daily_limit(
        user=unlimited, kind="trading", amount=Decimal("10000000"), used_today=Decimal("1")
    )


def test_the_daily_limit_check_without_kyc(client_user):
    with pytest.raises(ApplicationError) as refused:
        kyc_check_daily_limit(user=client_user, kind="trading", amount=Decimal(1), used_today=ZERO)
    assert refused.value.code == "kyc_required"
    assert refused.value.details == {"kyc_status": "not_started"}
    with pytest.raises(ValueError):
        kyc_check_daily_limit(user=client_user, kind="deposit", amount=Decimal(1), used_today=ZERO)


def test_the_client_sees_their_limits(as_client, client_user):
    KycApplicationFactory(user=client_user, status="approved", tier=2)
    limits = as_client.get("/api/v1/kyc").json()["limits"]
    assert limits == {
        "tier": 2,
        "daily_trading_limit": "50000.00",
        "daily_withdrawal_limit": "50000.00",
    }


# --- Accredited investors -------------------------------------------------------------------


def test_accredited_status_holds_from_verification_until_expiry():
    user = KycApplicationFactory(status="approved").user
    assert not kyc_is_accredited(user=user)
    today = timezone.localdate()
    status = accredit(user, expires_on=today + dt.timedelta(days=90))
    assert status.status == "verified" and status.verified_by is not None
    assert kyc_is_accredited(user=user)
    assert kyc_is_accredited(user=user, on=today + dt.timedelta(days=90))
    assert not kyc_is_accredited(user=user, on=today + dt.timedelta(days=91))
    assert not kyc_is_accredited(user=user, on=today - dt.timedelta(days=1))
    with time_machine.travel(timezone.now() + dt.timedelta(days=91)):
        assert not kyc_is_accredited(user=user)


def test_default_validity_and_revocation(settings):
    settings.KYC_ACCREDITATION_VALIDITY_DAYS = 365
    user = KycApplicationFactory(status="approved").user
    status = accredit(user)
    assert status.expires_on == timezone.localdate() + dt.timedelta(days=365)
    services.accreditation_revoke(
        accreditation=status, actor=StaffFactory(role="compliance"), reason="Net worth fell"
    )
    assert not kyc_is_accredited(user=user)


def test_accreditation_needs_approved_kyc_evidence_and_a_licence_for_professionals():
    draft = KycApplicationFactory()
    evidence = upload(draft.user, "accreditation_evidence", content=PDF, name="letter.pdf")
    with pytest.raises(ApplicationError) as refused:
        services.accreditation_request(
            user=draft.user, actor=draft.user, basis="income", evidence=evidence
        )
    assert refused.value.code == "kyc_required"

    user = KycApplicationFactory(status="approved").user
    own = upload(user, "accreditation_evidence", content=PDF, name="letter.pdf")
    with pytest.raises(ApplicationError) as not_theirs:
        services.accreditation_request(user=user, actor=user, basis="income", evidence=evidence)
    assert not_theirs.value.code == "invalid"
    with pytest.raises(ApplicationError) as no_licence:
        services.accreditation_request(user=user, actor=user, basis="professional", evidence=own)
    assert "licence_number" in no_licence.value.details
    request = services.accreditation_request(
        user=user, actor=user, basis="professional", evidence=own, licence_number="7123456"
    )
    assert request.status == "pending"
    with pytest.raises(ApplicationError) as twice:
        services.accreditation_request(user=user, actor=user, basis="income", evidence=own)
    assert twice.value.code == "invalid_state"


def test_only_compliance_verifies(as_staff):
    user = KycApplicationFactory(status="approved").user
    evidence = upload(user, "accreditation_evidence", content=PDF, name="letter.pdf")
    request = services.accreditation_request(
        user=user, actor=user, basis="income", evidence=evidence
    )
    ops = as_staff("broker_operations")
    refused = ops.post(
        f"/api/v1/backoffice/kyc/accreditations/{request.pk}/verify", {"reason": "Looks fine"}
    )
    assert refused.status_code == 403
    officer = as_staff("compliance")
    listed = officer.get("/api/v1/backoffice/kyc/accreditations", {"status": "pending"}).json()
    assert [r["id"] for r in listed["results"]] == [request.pk]
    verified = officer.post(
        f"/api/v1/backoffice/kyc/accreditations/{request.pk}/verify",
        {"reason": "Two years of 1040s above $200,000", "expires_on": "2030-01-31"},
    )
    assert verified.status_code == 200, verified.json()
    assert verified.json()["status"] == "verified"
    assert verified.json()["expires_on"] == "2030-01-31"
    assert verified.json()["verified_by"] == officer.user.email
    assert kyc_is_accredited(user=user)
    again = officer.post(
        f"/api/v1/backoffice/kyc/accreditations/{request.pk}/reject", {"reason": "Changed mind"}
    )
    assert again.status_code == 409


def test_the_client_requests_accreditation_through_the_api(client_user):
    KycApplicationFactory(user=client_user, status="approved")
    api = token_client(client_user)
    evidence = upload(client_user, "accreditation_evidence", content=PDF, name="cpa.pdf")
    created = api.post(
        "/api/v1/kyc/accreditations", {"basis": "net_worth", "evidence": evidence.pk}
    )
    assert created.status_code == 201, created.json()
    assert created.json()["status"] == "pending"
    assert api.get("/api/v1/kyc/accreditations").json()["count"] == 1
    assert api.get("/api/v1/kyc").json()["accredited"] is False


def test_a_client_cannot_use_another_clients_evidence(client_user, other_client):
    KycApplicationFactory(user=client_user, status="approved")
    theirs = upload(other_client, "accreditation_evidence", content=PDF, name="cpa.pdf")
    response = token_client(client_user).post(
        "/api/v1/kyc/accreditations", {"basis": "net_worth", "evidence": theirs.pk}
    )
    assert response.status_code == 404


def test_accreditation_evidence_may_follow_approval():
    application = KycApplicationFactory(status="approved")
    document = upload(application.user, "accreditation_evidence", content=PDF, name="l.pdf")
    assert document.application == application
    with pytest.raises(ApplicationError):
        upload(application.user, "government_id")  # identity documents only while editable
    assert application.status == KycStatus.APPROVED
