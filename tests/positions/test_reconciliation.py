"""The nightly reconciliation of positions against the ledger's securities: nothing on a clean
book after trading, a break for shares the ledger holds without a position, and the ways
staff run and work it (beat task, command, API, admin)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.services import journal_post, ledger_account_get
from apps.positions import services, tasks
from apps.positions.models import ReconciliationBreak
from tests.factories import trading
from tests.factories.accounts import StaffFactory

pytestmark = pytest.mark.django_db

D = Decimal


def _grant(user, *perms: str):
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture
def traded():
    """A book after real trading: a transfer in, trades that partly fill, a cancel."""
    instrument = trading.open_instrument()
    seller, buyer = trading.trader("0"), trading.trader("50000.00")
    trading.shares(seller, instrument, 100, cost="9000.00")
    trading.place(seller, instrument, "sell", 30, "100.00")
    trading.place(seller, instrument, "sell", 20, "101.00")
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", 40, "101.00")
    trading.match(instrument)
    resting = trading.place(buyer, instrument, "buy", 5, "95.00")
    trading.match(instrument)
    from apps.orders.services import order_cancel

    order_cancel(order=resting, actor=buyer.owner)
    return instrument, seller, buyer


def _stray_shares(account, instrument, quantity) -> None:
    """Shares booked in the ledger with no position behind them (a manual adjustment of
    securities that never reached the position keeping)."""
    journal_post(
        kind="adjustment",
        postings=[
            (
                ledger_account_get(
                    house=HouseAccount.ADJUSTMENTS, instrument=instrument, bucket=Bucket.SETTLED
                ),
                -D(quantity),
            ),
            (
                ledger_account_get(owner=account, instrument=instrument, bucket=Bucket.SETTLED),
                D(quantity),
            ),
        ],
        memo="Manual share adjustment",
    )


def test_a_clean_book_has_no_break(traded):
    assert services.positions_reconcile() == []
    assert tasks.positions_reconcile() == 0
    out = io.StringIO()
    call_command("reconcile_positions", stdout=out)
    assert "0 break(s)" in out.getvalue()
    assert not ReconciliationBreak.objects.exists()


def test_shares_without_a_position_are_a_break(traded):
    instrument, _, buyer = traded
    stranger = trading.trader("0")
    _stray_shares(stranger, instrument, "7")
    _stray_shares(buyer, instrument, "2")
    breaks = services.positions_reconcile()
    found = {(b.account_id, b.position_quantity, b.ledger_quantity) for b in breaks}
    assert found == {(stranger.pk, D(0), D(7)), (buyer.pk, D(40), D(42))}
    row = ReconciliationBreak.objects.get(account=stranger)
    assert row.difference == D(-7) and row.ledger_settled == D(7) and row.position_settled == 0
    assert row.resolved_at is None


def test_the_nightly_task_and_the_command_record_breaks(traded):
    instrument, seller, _ = traded
    _stray_shares(seller, instrument, "1")
    assert settings.CELERY_BEAT_SCHEDULE["positions-reconcile"]["task"] == (
        "apps.positions.tasks.positions_reconcile"
    )
    assert tasks.positions_reconcile.apply().get() == 1
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("reconcile_positions", stdout=out)
    assert f"BREAK account {seller.pk} instrument {instrument.pk}" in out.getvalue()
    # The second run finds the same difference, still open: it is listed once.
    assert ReconciliationBreak.objects.filter(account=seller).count() == 1


def test_staff_list_run_and_resolve_breaks_through_the_api(traded, as_staff):
    instrument, seller, _ = traded
    _stray_shares(seller, instrument, "3")
    ops = as_staff(None)
    _grant(
        ops.user,
        "positions.view_reconciliationbreak",
        "positions.resolve_reconciliationbreak",
    )
    run = ops.post("/api/v1/backoffice/positions/reconcile")
    assert run.status_code == 200, run.json()
    (found,) = run.json()["breaks"]
    assert found["symbol"] == instrument.symbol and found["difference"] == "-3"
    assert found["position_quantity"] == "60" and found["ledger_quantity"] == "63"
    listed = ops.get("/api/v1/backoffice/positions/breaks?open=true").json()
    assert [b["id"] for b in listed["results"]] == [found["id"]]
    url = f"/api/v1/backoffice/positions/breaks/{found['id']}/resolve"
    assert ops.post(url, {}, format="json").status_code == 400
    done = ops.post(url, {"resolution": "Adjustment reversed by finance"}, format="json")
    assert done.status_code == 200
    assert done.json()["resolved_at"] and done.json()["resolution"] == (
        "Adjustment reversed by finance"
    )
    assert ops.get("/api/v1/backoffice/positions/breaks?open=1").json()["count"] == 0
    viewer = as_staff(None)
    _grant(viewer.user, "positions.view_reconciliationbreak")
    assert viewer.get("/api/v1/backoffice/positions/breaks").status_code == 200
    assert viewer.post(url, {"resolution": "x"}, format="json").status_code == 403


def test_admin_resolves_a_break_with_a_reason(traded):
    instrument, seller, _ = traded
    _stray_shares(seller, instrument, "4")
    (item,) = services.positions_reconcile()
    staff = _grant(
        StaffFactory(),
        "positions.view_reconciliationbreak",
        "positions.resolve_reconciliationbreak",
    )
    browser = Client()
    browser.force_login(staff)
    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = staff.staticdevice_set.get().persistent_id
    session.save()
    url = reverse("admin:positions_reconciliationbreak_changelist")
    assert browser.get(url, {"state": "open"}).status_code == 200
    action = {"action": "action_resolve_selected_breaks", "_selected_action": [item.pk]}
    assert b"Recorded in the audit trail" in browser.post(url, action).content
    done = browser.post(url, {**action, "apply": "1", "reason": "Custodian corrected"})
    assert done.status_code == 302
    item.refresh_from_db()
    assert item.resolved_at is not None and item.resolution == "Custodian corrected"
    assert item.history.first().history_user == staff
