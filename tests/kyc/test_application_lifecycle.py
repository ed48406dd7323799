"""The KYC state machine: every legal and illegal transition, who may decide, the audit trail,
accounts activated on approval, and a race between two reviewers."""

import threading

import pytest
from django.db import connection

from apps.accounts.choices import AccountStatus
from apps.core.errors import ApplicationError
from apps.kyc import services
from apps.kyc.choices import KycStatus
from apps.kyc.models import KycApplication
from tests.factories.accounts import StaffFactory, TradingAccountFactory
from tests.factories.kyc import KycApplicationFactory, fill_in

pytestmark = pytest.mark.django_db

S = KycStatus


def _submit(application, actor):
    return services.kyc_submit(user=application.user, actor=application.user)


def _approve(application, actor):
    return services.kyc_approve(
        application=application, actor=actor, tier=1, reason="Identity verified"
    )


ACTIONS = {
    "submit": _submit,
    "start_review": lambda a, actor: services.kyc_review_start(
        application=a, actor=actor, reason="Taking it"
    ),
    "approve": _approve,
    "reject": lambda a, actor: services.kyc_reject(
        application=a, actor=actor, reason="Could not verify identity"
    ),
    "request_information": lambda a, actor: services.kyc_request_information(
        application=a, actor=actor, reason="Blurry id", question="Please upload a sharper id."
    ),
    "open_review": lambda a, actor: services.kyc_review_open(
        application=a, actor=actor, reason="Adverse media"
    ),
}
LEGAL = {
    (S.DRAFT, "submit"): S.SUBMITTED,
    (S.NEEDS_INFORMATION, "submit"): S.SUBMITTED,
    (S.SUBMITTED, "start_review"): S.UNDER_REVIEW,
    (S.SUBMITTED, "approve"): S.APPROVED,
    (S.UNDER_REVIEW, "approve"): S.APPROVED,
    (S.REVIEW_DUE, "approve"): S.APPROVED,
    (S.SUBMITTED, "reject"): S.REJECTED,
    (S.UNDER_REVIEW, "reject"): S.REJECTED,
    (S.REVIEW_DUE, "reject"): S.REJECTED,
    (S.NEEDS_INFORMATION, "reject"): S.REJECTED,
    (S.SUBMITTED, "request_information"): S.NEEDS_INFORMATION,
    (S.UNDER_REVIEW, "request_information"): S.NEEDS_INFORMATION,
    (S.REVIEW_DUE, "request_information"): S.NEEDS_INFORMATION,
    (S.APPROVED, "open_review"): S.REVIEW_DUE,
}


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_transition(source, action):
    application = KycApplicationFactory(status=source)
    admin = StaffFactory(is_superuser=True)
    expected = LEGAL.get((source, action))
    if expected is None:
        with pytest.raises(ApplicationError) as refused:
            ACTIONS[action](application, admin)
        assert refused.value.code == "invalid_state"
        application.refresh_from_db()
        assert application.status == source
        return
    result = ACTIONS[action](application, admin)
    application.refresh_from_db()
    assert result.status == application.status == expected
    last = application.history.first()
    assert last.status == expected
    if action == "submit":
        assert last.history_user == application.user
    else:
        assert last.history_user == admin
        assert last.history_change_reason
        assert application.status_reason == last.history_change_reason


def test_decisions_record_reviewer_and_reason():
    application = KycApplicationFactory(status=S.SUBMITTED)
    officer = StaffFactory(role="compliance")
    services.kyc_review_start(application=application, actor=officer, reason="Mine")
    approved = services.kyc_approve(
        application=application, actor=officer, tier=1, reason="Passport and SSN match"
    )
    assert approved.decided_by == officer
    assert approved.reviewer == officer
    assert approved.status_reason == "Passport and SSN match"
    trail = [
        (h.status, h.history_user_id, h.history_change_reason)
        for h in approved.history.order_by("history_date", "history_id")
    ]
    assert trail[-2:] == [
        (S.UNDER_REVIEW, officer.pk, "Mine"),
        (S.APPROVED, officer.pk, "Passport and SSN match"),
    ]


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_decision_needs_a_reason(reason):
    application = KycApplicationFactory(status=S.SUBMITTED)
    with pytest.raises(ApplicationError) as refused:
        services.kyc_reject(
            application=application, actor=StaffFactory(is_superuser=True), reason=reason
        )
    assert refused.value.code == "invalid"


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("compliance", True), ("broker_operations", False), ("support", False), ("risk", False)],
)
def test_only_compliance_approves(role, allowed):
    application = KycApplicationFactory(status=S.SUBMITTED)
    staff = StaffFactory(role=role)
    if allowed:
        assert _approve(application, staff).status == S.APPROVED
    else:
        with pytest.raises(ApplicationError) as refused:
            _approve(application, staff)
        assert refused.value.code == "permission_denied"


def test_nobody_approves_their_own_application():
    officer = StaffFactory(role="compliance", first_name="Cora", last_name="Compliance")
    fill_in(officer)
    application = services.kyc_submit(user=officer, actor=officer)
    with pytest.raises(ApplicationError) as refused:
        _approve(application, officer)
    assert refused.value.code == "permission_denied"


def test_approval_activates_pending_accounts_and_rejection_keeps_them_pending():
    approved = KycApplicationFactory(status=S.SUBMITTED)
    account = TradingAccountFactory(owner=approved.user)
    rejected = KycApplicationFactory(status=S.SUBMITTED)
    other = TradingAccountFactory(owner=rejected.user)
    officer = StaffFactory(role="compliance")

    _approve(approved, officer)
    services.kyc_reject(application=rejected, actor=officer, reason="Identity not verified")

    account.refresh_from_db()
    other.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE
    assert "KYC approved (tier 1)" in account.status_reason
    assert account.history.first().history_user == officer
    assert other.status == AccountStatus.PENDING


def test_approval_needs_what_the_tier_requires():
    application = KycApplicationFactory(status=S.SUBMITTED, tier=1)
    officer = StaffFactory(role="compliance")
    with pytest.raises(ApplicationError) as refused:
        services.kyc_approve(application=application, actor=officer, tier=2, reason="Upgrade")
    assert refused.value.code == "invalid"
    assert set(refused.value.details) == {"government_id", "proof_of_address"}
    application.refresh_from_db()
    assert application.status == S.SUBMITTED


def test_the_client_answers_a_request_for_information_and_submits_again():
    application = KycApplicationFactory(status=S.NEEDS_INFORMATION)
    user = application.user
    assert application.information_request == "Why?"
    services.kyc_application_update(user=user, actor=user, occupation="Senior engineer")
    again = services.kyc_submit(user=user, actor=user)
    assert again.status == S.SUBMITTED
    assert again.submission_count == 2
    assert again.information_request == ""


def test_the_client_cannot_edit_once_submitted():
    application = KycApplicationFactory(status=S.SUBMITTED)
    with pytest.raises(ApplicationError) as refused:
        services.kyc_application_update(
            user=application.user, actor=application.user, occupation="Pilot"
        )
    assert refused.value.code == "invalid_state"


def test_submitting_an_incomplete_application_names_what_is_missing(client_user):
    services.kyc_application_update(user=client_user, actor=client_user, legal_name="Pat Lee")
    with pytest.raises(ApplicationError) as refused:
        services.kyc_submit(user=client_user, actor=client_user)
    assert refused.value.code == "invalid"
    assert {"date_of_birth", "tax_id", "risk_tolerance"} <= set(refused.value.details)
    assert KycApplication.objects.get(user=client_user).status == S.DRAFT


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_at_once_one_wins():
    application = KycApplicationFactory(status=S.UNDER_REVIEW)
    first, second = StaffFactory(role="compliance"), StaffFactory(role="compliance")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def decide(actor, action):
        try:
            barrier.wait()
            ACTIONS[action](KycApplication.objects.get(pk=application.pk), actor)
            outcomes.append(action)
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(first, "approve")),
        threading.Thread(target=decide, args=(second, "reject")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    application.refresh_from_db()
    assert sorted(outcomes) in (["approve", "invalid_state"], ["invalid_state", "reject"])
    assert application.status in (S.APPROVED, S.REJECTED)
    assert application.history.filter(status__in=[S.APPROVED, S.REJECTED]).count() == 1
