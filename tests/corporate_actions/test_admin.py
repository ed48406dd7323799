"""The back office: enter a corporate action, preview its entitlements, approve it with a
second pair of eyes, process it, and read what each account received."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from apps.instruments.models import CorporateAction
from tests.corporate_actions.conftest import assert_books_clean, today
from tests.factories import trading

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:instruments_corporateaction_changelist"


def _console(user) -> Client:
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = user.staticdevice_set.get().persistent_id
    session.save()
    return client


def _act(client: Client, action: CorporateAction, name: str, reason: str = "Checked"):
    return client.post(
        reverse(CHANGELIST),
        {"action": name, "_selected_action": [action.pk], "apply": "1", "reason": reason},
        follow=True,
    )


def test_enter_preview_approve_and_process_in_the_console(ops, ops2):
    instrument = trading.open_instrument()
    holder = trading.trader()
    trading.shares(holder, instrument, 9, cost="900")
    entering, reviewing = _console(ops), _console(ops2)

    added = entering.post(
        reverse("admin:instruments_corporateaction_add"),
        {
            "instrument": instrument.pk,
            "kind": "split",
            "description": "Two-for-one split",
            "effective_date": str(today()),
            "ratio_new": "2",
            "ratio_old": "1",
        },
    )
    assert added.status_code == 302, added.context["adminform"].form.errors
    action = CorporateAction.objects.get()
    assert (action.status, action.entered_by) == ("draft", ops)

    preview = entering.get(reverse("admin:instruments_corporateaction_preview", args=[action.pk]))
    assert preview.status_code == 200
    assert holder.number.encode() in preview.content and b"<td>18</td>" in preview.content

    page = _act(entering, action, "action_approve_selected_corporate_actions__four_eyes_")
    assert b"a different staff member must approve" in page.content
    action.refresh_from_db()
    assert action.status == "draft"
    _act(reviewing, action, "action_approve_selected_corporate_actions__four_eyes_")
    action.refresh_from_db()
    assert (action.status, action.approved_by) == ("approved", ops2)

    _act(reviewing, action, "action_process_selected_corporate_actions_now", "Split day")
    action.refresh_from_db()
    assert action.status == "processed"
    assert action.history.first().history_change_reason == "Split day"
    paid = reviewing.get(reverse("admin:instruments_corporateaction_preview", args=[action.pk]))
    assert b"<td>9</td><td>18</td>" in paid.content
    change = reviewing.get(reverse("admin:instruments_corporateaction_change", args=[action.pk]))
    assert change.status_code == 200 and b"shares after" in change.content
    assert_books_clean()


def test_a_dividend_entered_in_the_console_gets_its_ex_date(ops):
    instrument = trading.open_instrument()
    added = _console(ops).post(
        reverse("admin:instruments_corporateaction_add"),
        {
            "instrument": instrument.pk,
            "kind": "cash_dividend",
            "record_date": str(today()),
            "pay_date": str(today().replace(day=1).replace(year=today().year + 1)),
            "amount_per_share": "0.24",
        },
    )
    assert added.status_code == 302, added.context["adminform"].form.errors
    action = CorporateAction.objects.get()
    assert (action.ex_date, action.currency, action.effective_date) == (
        today(),
        "USD",
        action.pay_date,
    )
    edited = _console(ops).post(
        reverse("admin:instruments_corporateaction_change", args=[action.pk]),
        {
            "description": "Quarterly dividend",
            "record_date": str(today()),
            "pay_date": str(action.pay_date),
            "amount_per_share": "0.25",
            "currency": "USD",
            "change_reason": "Board raised it",
        },
    )
    assert edited.status_code == 302, edited.context["adminform"].form.errors
    action.refresh_from_db()
    assert action.amount_per_share == Decimal("0.25") and action.last_edited_by == ops
