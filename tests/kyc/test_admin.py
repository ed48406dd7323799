"""The compliance console: the queue, the application page, decisions with reasons, roles."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from apps.accounts.choices import AccountStatus
from apps.kyc.choices import KycStatus
from apps.kyc.models import DocumentAccess, KycApplication
from tests.factories.accounts import TradingAccountFactory
from tests.factories.kyc import KycApplicationFactory, fill_in, submit

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/kyc/kycapplication/"


def rows(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', html)]


def test_the_queue_lists_open_applications_riskiest_and_oldest_first(staff_factory, admin_browser):
    old = KycApplicationFactory(status="submitted")
    KycApplication.objects.filter(pk=old.pk).update(
        submitted_at=timezone.now() - dt.timedelta(days=3)
    )
    new = KycApplicationFactory(status="submitted")
    risky = KycApplicationFactory(status="under_review", citizenship="KP")
    done = KycApplicationFactory(status="approved")
    browser = admin_browser(staff_factory("compliance"))
    page = browser.get(CHANGELIST)
    assert page.status_code == 200
    html = page.content.decode()
    assert rows(html) == [risky.pk, old.pk, new.pk]
    assert "3 days" in html
    everything = rows(browser.get(CHANGELIST + "?queue=all").content.decode())
    assert done.pk in everything
    assert rows(browser.get(CHANGELIST + "?status__exact=approved").content.decode()) == [done.pk]


def test_the_application_page_for_compliance(staff_factory, admin_browser, client_user):
    fill_in(
        client_user,
        requested_tier=2,
        legal_name="Rustam Khalilov",
        date_of_birth=dt.date(1971, 3, 14),
    )
    application = submit(client_user)
    officer = staff_factory("compliance")
    html = admin_browser(officer).get(f"{CHANGELIST}{application.pk}/change/").content.decode()
    assert "123-45-6789" in html  # compliance sees the full tax id
    # Documents previewed inline through the recorded view.
    previews = re.findall(r'(?:img|iframe) src="(/admin/kyc/kycdocument/\d+/file/)"', html)
    assert len(previews) == 2
    # Screening hits beside the list entry.
    assert "KHALILOV, Rustam Bakhtiyorovich" in html and "Rustam Khalilov" in html
    assert "RUSSIA-EO14024" in html and "DOB 14 Mar 1971" in html
    # The decision history, and the decisions the state allows.
    assert "Submitted for review" in html and "Screening:" in html
    for label in ("Approve", "Request information", "Reject"):
        assert f">{label}</button>" in html
    assert ">Take for review</button>" not in html  # already under review
    assert ">Open a periodic review</button>" not in html

    browser = admin_browser(officer)
    for url in previews:
        assert browser.get(url).status_code == 200
    assert DocumentAccess.objects.filter(accessed_by=officer, channel="admin").count() == 2


def test_support_sees_the_status_but_no_documents_tax_id_or_hits(staff_factory, admin_browser):
    application = KycApplicationFactory(status="submitted", tier=2)
    support = admin_browser(staff_factory("support"))
    assert support.get(CHANGELIST).status_code == 200
    html = support.get(f"{CHANGELIST}{application.pk}/change/").content.decode()
    assert "***-**-6789" in html and "123-45-6789" not in html
    assert "/file/" not in html
    assert "On file: " in html and "Government-issued photo id" in html
    assert "Decide" not in html  # no decision buttons for this role
    assert support.get("/admin/kyc/kycdocument/").status_code == 403
    assert support.get("/admin/kyc/documentaccess/").status_code == 403


def test_approving_from_the_console_asks_for_tier_and_reason(staff_factory, admin_browser):
    application = KycApplicationFactory(status="submitted", tier=2)
    account = TradingAccountFactory(owner=application.user)
    officer = staff_factory("compliance")
    browser = admin_browser(officer)
    common = {"_selected_action": application.pk, "select_across": "0"}
    url = CHANGELIST + "?queue=all"
    form = browser.post(url, {**common, "action": "action_approve", "index": "0"})
    assert form.status_code == 200
    assert b'name="tier"' in form.content and b'name="reason"' in form.content
    done = browser.post(
        url,
        {
            **common,
            "action": "action_approve",
            "apply": "1",
            "tier": "2",
            "risk_rating": "",
            "reason": "Id and bill match",
        },
    )
    assert done.status_code == 302
    application.refresh_from_db()
    account.refresh_from_db()
    assert (application.status, application.tier) == (KycStatus.APPROVED, 2)
    assert application.decided_by == officer
    assert application.history.first().history_change_reason == "Id and bill match"
    assert account.status == AccountStatus.ACTIVE


def test_request_information_from_the_console(staff_factory, admin_browser):
    application = KycApplicationFactory(status="submitted")
    browser = admin_browser(staff_factory("compliance"))
    browser.post(
        CHANGELIST + "?queue=all",
        {
            "_selected_action": application.pk,
            "select_across": "0",
            "action": "action_request_information",
            "apply": "1",
            "reason": "Employer unknown",
            "question": "Who is your employer?",
        },
    )
    application.refresh_from_db()
    assert application.status == KycStatus.NEEDS_INFORMATION
    assert application.information_request == "Who is your employer?"


def test_operations_cannot_decide_from_the_console(staff_factory, admin_browser):
    application = KycApplicationFactory(status="submitted")
    browser = admin_browser(staff_factory("broker_operations"))
    page = browser.get(CHANGELIST).content.decode()
    assert "action_approve" not in page
    browser.post(
        CHANGELIST,
        {
            "_selected_action": application.pk,
            "select_across": "0",
            "action": "action_approve",
            "apply": "1",
            "tier": "1",
            "reason": "Trying",
        },
    )
    application.refresh_from_db()
    assert application.status == KycStatus.SUBMITTED


def test_other_console_pages_load(staff_factory, admin_browser, client_user):
    fill_in(client_user, legal_name="Rustam Khalilov", date_of_birth=dt.date(1971, 3, 14))
    application = submit(client_user)
    browser = admin_browser(staff_factory("compliance"))
    for url in [
        "/admin/kyc/screeningresult/",
        f"/admin/kyc/screeningresult/{application.latest_screening_id}/change/",
        "/admin/kyc/sanctionslist/",
        "/admin/kyc/sanctionsentry/?q=khalilov",
        "/admin/kyc/documentaccess/",
        "/admin/kyc/kycdocument/",
        "/admin/kyc/accreditedinvestorstatus/",
        f"{CHANGELIST}{application.pk}/history/",
    ]:
        assert browser.get(url).status_code == 200, url
