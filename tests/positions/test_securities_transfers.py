"""Securities transfers in: shares from custody into a client's settled holding with a tax lot;
four-eyes above SECURITIES_TRANSFER_FOUR_EYES_VALUE; all through the back-office API, the
services and the admin."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from apps.core.errors import ApplicationError
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import JournalEntry, LedgerAccount
from apps.ledger.selectors import ledger_integrity
from apps.positions import services
from apps.positions.models import Position, SecuritiesTransfer, TaxLot, TransferStatus
from tests.factories import trading
from tests.factories.accounts import StaffFactory
from tests.factories.ledger import funded_account

pytestmark = pytest.mark.django_db

D = Decimal
ACQUIRED = dt.date(2022, 3, 14)
URL = "/api/v1/backoffice/securities-transfers"


def _grant(user, *perms: str):
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


@pytest.fixture(autouse=True)
def _threshold(settings):
    settings.SECURITIES_TRANSFER_FOUR_EYES_VALUE = {"*": "10000"}


@pytest.fixture
def instrument():
    return trading.open_instrument()


@pytest.fixture
def account():
    return funded_account("0")


@pytest.fixture
def desk(as_staff):
    """as desk() -> an API client for a staff member who may record and approve transfers."""

    def make():
        staff = as_staff(None)
        _grant(
            staff.user,
            "positions.view_securitiestransfer",
            "positions.add_securitiestransfer",
            "positions.approve_securitiestransfer",
        )
        return staff

    return make


def _body(account, instrument, **fields):
    body = {
        "account": account.pk,
        "symbol": instrument.symbol,
        "quantity": "40",
        "cost_basis": "125.50",
        "acquired_on": ACQUIRED.isoformat(),
        "reason": "ACATS from Northbridge Securities",
        "external_reference": "ACATS-0001",
    }
    body.update(fields)
    return body


def _holding(account, instrument) -> dict[str, Decimal]:
    return dict(
        LedgerAccount.objects.filter(owner=account, instrument=instrument).values_list(
            "bucket", "balance"
        )
    )


def test_a_small_transfer_applies_at_once(desk, account, instrument):
    staff = desk()
    response = staff.post(URL, _body(account, instrument), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "applied"
    assert body["quantity"] == "40" and body["cost_basis"] == "125.50"
    assert body["cost"] == "5020.00" and body["currency"] == "USD"
    assert body["requested_by"] == staff.user.email == body["decided_by"]
    assert _holding(account, instrument) == {Bucket.SETTLED: D("40")}
    custody = LedgerAccount.objects.get(
        house=HouseAccount.CUSTODY, instrument=instrument, bucket=Bucket.SETTLED
    )
    assert custody.balance == D("-40")
    entry = JournalEntry.objects.get(pk=body["journal_entry_id"])
    assert entry.kind == "securities_transfer" and entry.reference == body["reference"]
    position = Position.objects.get(account=account, instrument=instrument)
    assert position.quantity == position.settled_quantity == D("40")
    assert position.cost_basis == D("5020.00") and position.average_cost == D("125.50")
    lot = TaxLot.objects.get(pk=body["lot_id"])
    assert lot.acquired_on == ACQUIRED and lot.source == "transfer_in"
    assert lot.cost == D("5020.00") and lot.source_reference == body["reference"]
    assert services.positions_reconcile() == []
    assert ledger_integrity().ok


def test_a_large_transfer_needs_a_second_staff_member(desk, account, instrument):
    requester, approver = desk(), desk()
    created = requester.post(URL, _body(account, instrument, quantity="100"), format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "pending_approval" and body["cost"] == "12550.00"
    assert _holding(account, instrument) == {}
    assert not Position.objects.filter(account=account).exists()

    own = requester.post(f"{URL}/{body['id']}/approve", {}, format="json")
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "permission_denied"

    approved = approver.post(f"{URL}/{body['id']}/approve", {"reason": "Checked"}, format="json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "applied"
    assert approved.json()["decided_by"] == approver.user.email
    assert approved.json()["decision_reason"] == "Checked"
    assert _holding(account, instrument) == {Bucket.SETTLED: D("100")}
    transfer = SecuritiesTransfer.objects.get(pk=body["id"])
    assert [h.status for h in transfer.history.order_by("history_id")] == [
        "pending_approval",
        "applied",
    ]
    assert transfer.history.first().history_user == approver.user

    again = approver.post(f"{URL}/{body['id']}/approve", {}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"
    assert _holding(account, instrument) == {Bucket.SETTLED: D("100")}  # applied once
    assert ledger_integrity().ok


def test_rejecting_posts_nothing(desk, account, instrument):
    requester, checker = desk(), desk()
    body = requester.post(URL, _body(account, instrument, quantity="100"), format="json").json()
    no_reason = checker.post(f"{URL}/{body['id']}/reject", {}, format="json")
    assert no_reason.status_code == 400
    rejected = checker.post(
        f"{URL}/{body['id']}/reject", {"reason": "No delivery at the DTC"}, format="json"
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert _holding(account, instrument) == {}
    late = checker.post(f"{URL}/{body['id']}/approve", {}, format="json")
    assert late.status_code == 409
    listed = checker.get(f"{URL}?status=rejected").json()
    assert [t["id"] for t in listed["results"]] == [body["id"]]
    assert checker.get(f"{URL}/{body['id']}").json()["decision_reason"] == (
        "No delivery at the DTC"
    )


def test_the_same_idempotency_key_records_one_transfer(desk, account, instrument):
    staff = desk()
    first = staff.post(URL, _body(account, instrument), format="json", HTTP_IDEMPOTENCY_KEY="t1")
    again = staff.post(URL, _body(account, instrument), format="json", HTTP_IDEMPOTENCY_KEY="t1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert SecuritiesTransfer.objects.count() == 1
    assert _holding(account, instrument) == {Bucket.SETTLED: D("40")}
    other = staff.post(
        URL, _body(account, instrument, quantity="1"), format="json", HTTP_IDEMPOTENCY_KEY="t1"
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_conflict"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "1.5"}, "quantity"),
        ({"cost_basis": "-1"}, "cost_basis"),
        ({"acquired_on": "2999-01-01"}, "acquired_on"),
        ({"reason": " "}, "reason"),
    ],
)
def test_invalid_transfers(desk, account, instrument, fields, field):
    response = desk().post(URL, _body(account, instrument, **fields), format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "invalid"
    assert field in response.json()["error"]["details"]
    assert not SecuritiesTransfer.objects.exists()


def test_unknown_account_or_symbol_is_not_found(desk, account, instrument):
    staff = desk()
    unknown_account = {**_body(account, instrument), "account": 999999}
    assert staff.post(URL, unknown_account, format="json").status_code == 404
    unknown_symbol = _body(account, instrument, symbol="NOPE")
    assert staff.post(URL, unknown_symbol, format="json").status_code == 404
    assert not SecuritiesTransfer.objects.exists()


def test_staff_without_the_permissions_are_refused(as_staff, account, instrument):
    viewer = as_staff(None)
    _grant(viewer.user, "positions.view_securitiestransfer")
    response = viewer.post(URL, _body(account, instrument), format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    nobody = as_staff(None)
    assert nobody.get(URL).status_code == 403
    client = trading.trader()
    from tests.conftest import token_client

    assert token_client(client.owner).post(URL, _body(account, instrument)).status_code == 403


def test_a_closed_account_cannot_receive(account, instrument):
    from apps.accounts import services as account_services

    staff = _grant(StaffFactory(), "positions.add_securitiestransfer")
    account_services.trading_account_close(
        account=account, actor=None, reason="Client left", enforce_permission=False
    )
    account.refresh_from_db()
    with pytest.raises(ApplicationError) as refused:
        services.securities_transfer_request(
            account=account,
            instrument=instrument,
            quantity=D("1"),
            cost_basis=D("1"),
            acquired_on=ACQUIRED,
            reason="Late delivery",
            actor=staff,
        )
    assert refused.value.code == "invalid_state"


def test_transferred_shares_can_be_sold_with_their_cost_basis(desk, account, instrument):
    desk().post(URL, _body(account, instrument), format="json")
    buyer = trading.trader()
    trading.place(account, instrument, "sell", 40, "110.00")
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", 40, "110.00")
    trading.match(instrument)
    position = Position.objects.get(account=account, instrument=instrument)
    assert position.quantity == 0
    assert position.realized_long_term == D("-620.00")  # 40 x (110.00 - 125.50)
    assert ledger_integrity().ok


# --- Admin ----------------------------------------------------------------------------------


def _browser(staff) -> Client:
    browser = Client()
    browser.force_login(staff)
    session = browser.session
    session[DEVICE_ID_SESSION_KEY] = staff.staticdevice_set.get().persistent_id
    session.save()
    return browser


def _admin_staff():
    return _grant(
        StaffFactory(),
        "positions.view_securitiestransfer",
        "positions.add_securitiestransfer",
        "positions.approve_securitiestransfer",
    )


def test_admin_records_a_transfer_through_the_service(account, instrument):
    browser = _browser(_admin_staff())
    url = reverse("admin:positions_securitiestransfer_add")
    assert browser.get(url).status_code == 200
    form = {
        "account": account.pk,
        "instrument": instrument.pk,
        "quantity": "10",
        "cost_basis": "20",
        "acquired_on": "2023-01-02",
        "external_reference": "",
        "reason": "Transfer from a closed brokerage account",
    }
    refused = browser.post(url, {**form, "quantity": "1.5"})
    assert refused.status_code == 200 and b"steps of" in refused.content
    assert not SecuritiesTransfer.objects.exists()
    done = browser.post(url, form)
    assert done.status_code == 302, done.content[:2000]
    transfer = SecuritiesTransfer.objects.get()
    assert transfer.status == TransferStatus.APPLIED and transfer.cost == D("200.00")
    assert _holding(account, instrument) == {Bucket.SETTLED: D("10")}
    page = browser.get(reverse("admin:positions_securitiestransfer_change", args=[transfer.pk]))
    assert page.status_code == 200 and b"journal entries" in page.content


def test_admin_approve_action_is_four_eyes(account, instrument):
    requester, approver = _admin_staff(), _admin_staff()
    transfer = services.securities_transfer_request(
        account=account,
        instrument=instrument,
        quantity=D("500"),
        cost_basis=D("100"),
        acquired_on=ACQUIRED,
        reason="ACATS",
        actor=requester,
    )
    assert transfer.status == TransferStatus.PENDING_APPROVAL
    url = reverse("admin:positions_securitiestransfer_changelist")
    action = {
        "action": "action_approve_selected_transfers",
        "_selected_action": [transfer.pk],
    }
    own = _browser(requester).post(url, {**action, "apply": "1", "reason": "Looks fine"})
    assert own.status_code == 302
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.PENDING_APPROVAL
    browser = _browser(approver)
    page = browser.post(url, action)
    assert page.status_code == 200 and b"Recorded in the audit trail" in page.content
    done = browser.post(url, {**action, "apply": "1", "reason": "Delivery confirmed"})
    assert done.status_code == 302
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.APPLIED
    assert transfer.decided_by == approver and transfer.decision_reason == "Delivery confirmed"
    assert _holding(account, instrument) == {Bucket.SETTLED: D("500")}
