"""The trading-account state machine: every legal and illegal transition, permissions, races."""

import threading

import pytest
from django.db import connection

from apps.accounts import services
from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount
from apps.core.errors import ApplicationError
from tests.factories.accounts import StaffFactory, TradingAccountFactory

pytestmark = pytest.mark.django_db

S = AccountStatus
ACTIONS = {
    "activate": services.trading_account_activate,
    "restrict": services.trading_account_restrict,
    "suspend": services.trading_account_suspend,
    "close": services.trading_account_close,
}
LEGAL = {
    (S.PENDING, "activate"): S.ACTIVE,
    (S.PENDING, "close"): S.CLOSED,
    (S.ACTIVE, "restrict"): S.RESTRICTED,
    (S.ACTIVE, "suspend"): S.SUSPENDED,
    (S.ACTIVE, "close"): S.CLOSED,
    (S.RESTRICTED, "activate"): S.ACTIVE,
    (S.RESTRICTED, "suspend"): S.SUSPENDED,
    (S.RESTRICTED, "close"): S.CLOSED,
    (S.SUSPENDED, "activate"): S.ACTIVE,
    (S.SUSPENDED, "close"): S.CLOSED,
}
PATH_TO = {
    S.PENDING: [],
    S.ACTIVE: ["activate"],
    S.RESTRICTED: ["activate", "restrict"],
    S.SUSPENDED: ["activate", "suspend"],
    S.CLOSED: ["close"],
}


def account_in(status: str, actor) -> TradingAccount:
    account = TradingAccountFactory()
    for action in PATH_TO[status]:
        account = ACTIONS[action](account=account, actor=actor, reason="setting up")
    assert account.status == status
    return account


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_transition(source, action):
    admin = StaffFactory(is_superuser=True)
    account = account_in(source, admin)
    expected = LEGAL.get((source, action))
    if expected is None:
        with pytest.raises(ApplicationError) as refused:
            ACTIONS[action](account=account, actor=admin, reason="trying")
        assert refused.value.code == "invalid_state"
        account.refresh_from_db()
        assert account.status == source
    else:
        result = ACTIONS[action](account=account, actor=admin, reason=f"because {action}")
        account.refresh_from_db()
        assert result.status == account.status == expected
        assert account.status_reason == f"because {action}"
        last = account.history.first()
        assert last.history_user == admin
        assert last.history_change_reason == f"because {action}"


def test_reason_is_required():
    admin = StaffFactory(is_superuser=True)
    account = TradingAccountFactory()
    with pytest.raises(ApplicationError) as refused:
        services.trading_account_activate(account=account, actor=admin, reason="  ")
    assert refused.value.code == "invalid"


def test_roles_decide_who_may_transition(as_staff):
    account = TradingAccountFactory(status=S.ACTIVE)
    support = as_staff("support")
    refused = support.post(
        f"/api/v1/backoffice/accounts/{account.pk}/suspend", {"reason": "not mine"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"

    compliance = as_staff("compliance")
    ok = compliance.post(
        f"/api/v1/backoffice/accounts/{account.pk}/suspend", {"reason": "AML hold"}
    )
    assert ok.status_code == 200
    assert ok.json()["status"] == "suspended"
    cannot_close = compliance.post(
        f"/api/v1/backoffice/accounts/{account.pk}/close", {"reason": "x y"}
    )
    assert cannot_close.status_code == 403

    ops = as_staff("broker_operations")
    back = ops.post(f"/api/v1/backoffice/accounts/{account.pk}/activate", {"reason": "Hold lifted"})
    assert back.json()["status"] == "active"
    illegal = ops.post(f"/api/v1/backoffice/accounts/{account.pk}/activate", {"reason": "again"})
    assert illegal.status_code == 409
    assert illegal.json()["error"]["code"] == "invalid_state"


def test_clients_cannot_reach_backoffice_endpoints(as_client):
    account = TradingAccountFactory()
    response = as_client.post(
        f"/api/v1/backoffice/accounts/{account.pk}/activate", {"reason": "me"}
    )
    assert response.status_code == 403


def test_account_numbers_are_sequential_and_unique(client_user):
    first = services.trading_account_open(owner=client_user, actor=client_user)
    second = services.trading_account_open(owner=client_user, actor=client_user, currency="EUR")
    assert first.number.startswith("BRS-") and len(first.number) == 10
    assert int(second.number[4:]) == int(first.number[4:]) + 1
    assert first.status == second.status == "pending"


def test_closing_can_be_refused_by_an_app_holding_assets():
    from apps.accounts.signals import trading_account_closing
    from apps.core.errors import invalid_state

    admin = StaffFactory(is_superuser=True)
    account = TradingAccountFactory(status=S.ACTIVE)

    def still_holds(sender, account, **kwargs):
        raise invalid_state("The account still holds cash.")

    trading_account_closing.connect(still_holds)
    try:
        with pytest.raises(ApplicationError, match="still holds cash"):
            services.trading_account_close(account=account, actor=admin, reason="client left")
    finally:
        trading_account_closing.disconnect(still_holds)
    account.refresh_from_db()
    assert account.status == S.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_concurrent_transitions_apply_once():
    """Two staff members suspend the same account at once: one wins, one gets invalid_state."""
    admin = StaffFactory(is_superuser=True)
    account = TradingAccountFactory(status=S.ACTIVE)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def suspend() -> None:
        barrier.wait()
        try:
            services.trading_account_suspend(account=account, actor=admin, reason="race")
            outcomes.append("ok")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=suspend) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["invalid_state", "ok"]
    assert account.history.filter(status=S.SUSPENDED).count() == 1
