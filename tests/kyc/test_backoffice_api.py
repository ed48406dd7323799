"""The back-office KYC API: the review queue, decisions, what each role may see."""

import datetime as dt

import pytest
from django.utils import timezone

from apps.kyc.models import KycApplication
from tests.conftest import token_client
from tests.factories.accounts import TradingAccountFactory
from tests.factories.kyc import KycApplicationFactory, fill_in, submit

pytestmark = pytest.mark.django_db


def test_the_queue_is_paginated_and_filtered_by_status(as_staff, django_assert_max_num_queries):
    submitted = [KycApplicationFactory(status="submitted") for _ in range(4)]
    KycApplicationFactory(status="draft")
    KycApplicationFactory(status="approved")
    officer = as_staff("compliance")
    with django_assert_max_num_queries(8):
        response = officer.get("/api/v1/backoffice/kyc", {"status": "submitted", "page_size": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4 and len(body["results"]) == 3 and body["next"]
    assert {r["status"] for r in body["results"]} == {"submitted"}
    row = body["results"][0]
    assert row["email"] == submitted[0].user.email
    assert row["screening_outcome"] == "clear"
    assert "tax_id" not in row
    both = officer.get("/api/v1/backoffice/kyc?status=submitted&status=approved").json()
    assert both["count"] == 5
    assert officer.get("/api/v1/backoffice/kyc", {"status": "bogus"}).status_code == 400


def test_the_queue_puts_the_riskiest_and_oldest_first(as_staff):
    old = KycApplicationFactory(status="submitted")
    KycApplication.objects.filter(pk=old.pk).update(
        submitted_at=timezone.now() - dt.timedelta(days=5)
    )
    new = KycApplicationFactory(status="submitted")
    risky = KycApplicationFactory(status="under_review", citizenship="IR")
    results = as_staff("compliance").get("/api/v1/backoffice/kyc").json()["results"]
    assert [r["id"] for r in results] == [risky.pk, old.pk, new.pk]
    assert results[0]["risk_rating"] == "high"


def test_approve_through_the_api_activates_pending_accounts(as_staff):
    application = KycApplicationFactory(status="submitted", tier=2)
    account = TradingAccountFactory(owner=application.user)
    officer = as_staff("compliance")
    response = officer.post(
        f"/api/v1/backoffice/kyc/{application.pk}/approve",
        {"tier": 2, "reason": "Passport and utility bill match"},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "approved"
    assert response.json()["tier"] == 2
    account.refresh_from_db()
    assert account.status == "active"
    client = token_client(application.user)
    assert client.get(f"/api/v1/accounts/{account.pk}").json()["status"] == "active"
    assert client.get("/api/v1/me").json()["kyc_status"] == "approved"


def test_reject_keeps_accounts_pending(as_staff):
    application = KycApplicationFactory(status="submitted")
    account = TradingAccountFactory(owner=application.user)
    response = as_staff("compliance").post(
        f"/api/v1/backoffice/kyc/{application.pk}/reject", {"reason": "Identity not verified"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    account.refresh_from_db()
    assert account.status == "pending"


def test_illegal_decisions_answer_409_and_missing_tier_requirements_400(as_staff):
    officer = as_staff("compliance")
    draft = KycApplicationFactory()
    conflict = officer.post(
        f"/api/v1/backoffice/kyc/{draft.pk}/approve", {"tier": 1, "reason": "Too early"}
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "invalid_state"
    submitted = KycApplicationFactory(status="submitted", tier=1)
    short = officer.post(
        f"/api/v1/backoffice/kyc/{submitted.pk}/approve", {"tier": 2, "reason": "Upgrade"}
    )
    assert short.status_code == 400
    assert set(short.json()["error"]["details"]) == {"government_id", "proof_of_address"}
    no_reason = officer.post(f"/api/v1/backoffice/kyc/{submitted.pk}/reject", {})
    assert no_reason.status_code == 400
    assert (
        officer.post("/api/v1/backoffice/kyc/999999/reject", {"reason": "x" * 5}).status_code == 404
    )


def test_request_information_reaches_the_client(as_staff, client_user):
    fill_in(client_user)
    application = submit(client_user)
    response = as_staff("compliance").post(
        f"/api/v1/backoffice/kyc/{application.pk}/request-information",
        {
            "reason": "Employer could not be verified",
            "question": "Please upload a recent payslip or employment letter.",
        },
    )
    assert response.status_code == 200
    assert response.json()["status"] == "needs_information"
    mine = token_client(client_user).get("/api/v1/kyc").json()
    assert mine["status"] == "needs_information"
    assert mine["editable"] is True
    assert mine["information_request"] == "Please upload a recent payslip or employment letter."


def test_start_review_and_open_review(as_staff):
    officer = as_staff("compliance")
    application = KycApplicationFactory(status="submitted")
    taken = officer.post(
        f"/api/v1/backoffice/kyc/{application.pk}/start-review", {"reason": "Mine"}
    )
    assert taken.json()["status"] == "under_review"
    assert (
        officer.get(f"/api/v1/backoffice/kyc/{application.pk}").json()["reviewer"]
        == officer.user.email
    )
    approved = KycApplicationFactory(status="approved")
    opened = officer.post(
        f"/api/v1/backoffice/kyc/{approved.pk}/open-review", {"reason": "Adverse media report"}
    )
    assert opened.json()["status"] == "review_due"


@pytest.mark.parametrize("role", ["support", "broker_operations"])
def test_operations_and_support_see_status_but_do_not_decide(as_staff, role):
    application = KycApplicationFactory(status="submitted", tier=2)
    staff = as_staff(role)
    listed = staff.get("/api/v1/backoffice/kyc")
    assert listed.status_code == 200
    detail = staff.get(f"/api/v1/backoffice/kyc/{application.pk}").json()
    assert detail["status"] == "submitted"
    assert detail["tax_id"] == "***-**-6789"  # masked for every role in the API
    assert "123-45-6789" not in str(detail)
    for action, body in [
        ("approve", {"tier": 2, "reason": "Looks fine"}),
        ("reject", {"reason": "No"}),
        ("request-information", {"reason": "Need more"}),
    ]:
        response = staff.post(f"/api/v1/backoffice/kyc/{application.pk}/{action}", body)
        assert response.status_code in (400, 403), (action, response.json())
        if response.status_code == 403:
            assert response.json()["error"]["code"] == "permission_denied"
    application.refresh_from_db()
    assert application.status == "submitted"


def test_clients_cannot_reach_the_back_office(as_client):
    response = as_client.get("/api/v1/backoffice/kyc")
    assert response.status_code == 403


def test_detail_shows_screening_hits_beside_the_client(as_staff, client_user):
    fill_in(client_user, legal_name="Rustam Khalilov", date_of_birth=dt.date(1971, 3, 14))
    application = submit(client_user)
    detail = as_staff("compliance").get(f"/api/v1/backoffice/kyc/{application.pk}").json()
    (screening,) = detail["screenings"]
    assert screening["outcome"] == "possible_match"
    assert screening["screened_name"] == "Rustam Khalilov"
    hit = screening["hits"][0]
    assert hit["list_name"] == "KHALILOV, Rustam Bakhtiyorovich"
    assert hit["dob_match"] is True
    assert detail["status_reason"].startswith("Possible sanctions list match")
