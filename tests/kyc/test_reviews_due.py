"""The daily job that moves approved clients to review_due."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from apps.kyc import services, tasks
from apps.kyc.choices import KycStatus
from apps.kyc.models import KycApplication
from tests.factories.accounts import StaffFactory
from tests.factories.kyc import KycApplicationFactory, fill_in, submit, upload

pytestmark = pytest.mark.django_db


def today() -> dt.date:
    return timezone.localdate()


def test_the_next_review_depends_on_risk(settings):
    low = KycApplicationFactory(status="approved")
    assert low.risk_rating == "low"
    assert low.next_review_on == today() + dt.timedelta(days=settings.KYC_REVIEW_INTERVAL_DAYS)
    assert settings.KYC_REVIEW_INTERVAL_DAYS == 3 * 365

    high = KycApplicationFactory(status="under_review", citizenship="IR")  # high-risk country
    assert high.risk_rating == "high"
    high = services.kyc_approve(
        application=high, actor=StaffFactory(is_superuser=True), tier=1, reason="EDD done"
    )
    assert high.next_review_on == today() + dt.timedelta(days=365)

    overridden = KycApplicationFactory(status="submitted")
    overridden = services.kyc_approve(
        application=overridden,
        actor=StaffFactory(is_superuser=True),
        tier=1,
        reason="Adverse media",
        risk_rating="high",
    )
    assert overridden.next_review_on == today() + dt.timedelta(days=365)


def test_a_passed_review_date_makes_the_review_due():
    due = KycApplicationFactory(status="approved")
    not_yet = KycApplicationFactory(status="approved")
    moved = services.kyc_reviews_mark_due(today=due.next_review_on)
    assert moved == 2  # both were approved today with the same interval
    due.refresh_from_db()
    assert due.status == KycStatus.REVIEW_DUE
    assert due.status_reason == f"Periodic review due on {due.next_review_on.isoformat()}."
    assert due.review_due_since is not None
    last = due.history.first()
    assert last.history_user is None and last.history_change_reason == due.status_reason
    assert services.kyc_reviews_mark_due(today=due.next_review_on) == 0  # idempotent
    not_yet.refresh_from_db()
    assert services.kyc_reviews_mark_due(today=not_yet.next_review_on - dt.timedelta(days=1)) == 0


def test_an_expired_id_makes_the_review_due(client_user):
    fill_in(client_user, requested_tier=1)
    upload(client_user, "government_id", expires_on=today() + dt.timedelta(days=10))
    application = submit(client_user)
    services.kyc_approve(
        application=application, actor=StaffFactory(is_superuser=True), tier=1, reason="OK"
    )
    assert services.kyc_reviews_mark_due(today=today() + dt.timedelta(days=9)) == 0
    assert services.kyc_reviews_mark_due(today=today() + dt.timedelta(days=10)) == 1
    application.refresh_from_db()
    assert application.status == KycStatus.REVIEW_DUE
    assert application.status_reason.startswith("Government id expired on")


def test_only_the_newest_id_counts(client_user):
    fill_in(client_user)
    upload(client_user, "government_id", expires_on=today() + dt.timedelta(days=5))
    upload(client_user, "government_id", expires_on=today() + dt.timedelta(days=3650))
    application = submit(client_user)
    services.kyc_approve(
        application=application, actor=StaffFactory(is_superuser=True), tier=1, reason="OK"
    )
    assert services.kyc_reviews_mark_due(today=today() + dt.timedelta(days=30)) == 0


def test_the_job_is_scheduled_and_runs_as_a_task():
    entry = settings.CELERY_BEAT_SCHEDULE["kyc-reviews-due"]
    assert entry["task"] == "apps.kyc.tasks.kyc_reviews_mark_due"
    application = KycApplicationFactory(status="approved")
    KycApplication.objects.filter(pk=application.pk).update(next_review_on=today())
    assert tasks.kyc_reviews_mark_due.apply().get() == 1
    application.refresh_from_db()
    assert application.status == KycStatus.REVIEW_DUE


def test_a_due_review_ends_in_a_new_approval():
    application = KycApplicationFactory(status="review_due")
    officer = StaffFactory(role="compliance")
    application = services.kyc_request_information(
        application=application, actor=officer, reason="Periodic review", question="New address?"
    )
    user = application.user
    services.kyc_application_update(user=user, actor=user, address_line1="2 New Street")
    application = submit(user)
    application = services.kyc_approve(
        application=application, actor=officer, tier=1, reason="Review complete"
    )
    assert application.status == KycStatus.APPROVED
    assert application.review_due_since is None
