"""Every back-office page renders for a verified superuser: changelists (with search),
change forms, history (with diffs) and the reason page of every action."""

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from apps.accounts.services import totp_enroll
from apps.core.models import OutboxMessage
from tests.conftest import token_client
from tests.factories.accounts import StaffFactory, TradingAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_world(client_user, django_capture_on_commit_callbacks) -> None:
    """The demo data set (with its after-commit work, as in a real start), plus what only use
    creates: a token sign-in, an idempotent request, a queued task."""
    with django_capture_on_commit_callbacks(execute=True):
        call_command("bootstrap_demo", stdout=io.StringIO())
    totp_enroll(user=client_user)
    api = token_client(client_user)
    api.post("/api/v1/accounts", {"currency": "USD"}, HTTP_IDEMPOTENCY_KEY="admin-pages")
    OutboxMessage.objects.create(
        task_name="apps.core.tasks.outbox_sweep", last_attempt_at=timezone.now()
    )


@pytest.fixture
def browser(demo_world) -> Client:
    superuser = StaffFactory(is_superuser=True)
    client = Client()
    client.force_login(superuser)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = superuser.staticdevice_set.get().persistent_id
    session.save()
    return client


def _registered() -> list:
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def test_admin_index(browser):
    assert browser.get("/admin/").status_code == 200


@pytest.mark.parametrize("model", [m for m, _ in _registered()], ids=lambda m: m._meta.label)
def test_changelist_and_search(browser, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert browser.get(url).status_code == 200
    assert browser.get(url, {"q": "x"}).status_code == 200


@pytest.mark.parametrize("model", [m for m, _ in _registered()], ids=lambda m: m._meta.label)
def test_change_and_history_pages(browser, model):
    obj = model._default_manager.first()
    if obj is None:
        pytest.fail(f"No {model._meta.label} to open; extend the fixture data for it.")
    opts = model._meta
    change = browser.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    assert change.status_code == 200
    if hasattr(model, "history"):
        history = browser.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk])
        )
        assert history.status_code == 200


def test_reason_action_page_and_apply(browser):
    account = TradingAccountFactory(status="active")
    url = reverse("admin:accounts_tradingaccount_changelist")
    page = browser.post(
        url, {"action": "action_suspend_selected_accounts", "_selected_action": [account.pk]}
    )
    assert page.status_code == 200
    assert b"Recorded in the audit trail" in page.content
    done = browser.post(
        url,
        {
            "action": "action_suspend_selected_accounts",
            "_selected_action": [account.pk],
            "apply": "1",
            "reason": "Suspicious activity",
        },
    )
    assert done.status_code == 302
    account.refresh_from_db()
    assert account.status == "suspended"
    assert account.history.first().history_change_reason == "Suspicious activity"
