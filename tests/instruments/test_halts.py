"""The instrument status machine: halts and resumption with their history (who, why,
when), suspension, delisting, roles, planned resumption and concurrent halts."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.instruments import services, tasks
from apps.instruments.choices import HaltKind, InstrumentStatus
from apps.instruments.models import Instrument, InstrumentHalt
from tests.factories.accounts import StaffFactory
from tests.factories.instruments import InstrumentFactory

pytestmark = pytest.mark.django_db

S = InstrumentStatus
ACTIONS = {
    "halt": services.instrument_halt,
    "resume": services.instrument_resume,
    "suspend": services.instrument_suspend,
    "reinstate": services.instrument_reinstate,
    "delist": services.instrument_delist,
}
LEGAL = {
    (S.LISTED, "halt"): S.HALTED,
    (S.LISTED, "suspend"): S.SUSPENDED,
    (S.LISTED, "delist"): S.DELISTED,
    (S.HALTED, "resume"): S.LISTED,
    (S.HALTED, "suspend"): S.SUSPENDED,
    (S.HALTED, "delist"): S.DELISTED,
    (S.SUSPENDED, "reinstate"): S.LISTED,
    (S.SUSPENDED, "delist"): S.DELISTED,
}
PATH_TO = {
    S.LISTED: [],
    S.HALTED: ["halt"],
    S.SUSPENDED: ["suspend"],
    S.DELISTED: ["delist"],
}


@pytest.fixture
def admin_user(db):
    return StaffFactory(is_superuser=True)


def instrument_in(status, actor):
    instrument = InstrumentFactory()
    for action in PATH_TO[status]:
        instrument = ACTIONS[action](instrument=instrument, actor=actor, reason="setting up")
    assert instrument.status == status
    return instrument


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_transition(source, action, admin_user):
    instrument = instrument_in(source, admin_user)
    expected = LEGAL.get((source, action))
    if expected is None:
        with pytest.raises(ApplicationError) as refused:
            ACTIONS[action](instrument=instrument, actor=admin_user, reason="trying")
        assert refused.value.code == "invalid_state"
        instrument.refresh_from_db()
        assert instrument.status == source
        return
    result = ACTIONS[action](instrument=instrument, actor=admin_user, reason=f"because {action}")
    instrument.refresh_from_db()
    assert result.status == instrument.status == expected
    assert instrument.status_reason == f"because {action}"
    last = instrument.history.first()
    assert (last.history_user, last.history_change_reason) == (admin_user, f"because {action}")
    # An open halt exists exactly while the instrument is halted.
    open_halts = InstrumentHalt.objects.filter(instrument=instrument, ended_at__isnull=True)
    assert open_halts.count() == (1 if expected == S.HALTED else 0)


def test_halt_and_resume_keep_a_record_with_actors_and_reasons(stock):
    risk = StaffFactory(role="risk")
    compliance = StaffFactory(role="compliance")
    halted = services.instrument_halt(
        instrument=stock,
        actor=risk,
        reason="Pending news: merger announcement",
        kind=HaltKind.NEWS_PENDING,
    )
    assert halted.status == "halted"
    resumed = services.instrument_resume(
        instrument=stock, actor=compliance, reason="News disseminated"
    )
    assert resumed.status == "listed"
    services.instrument_halt(
        instrument=stock, actor=risk, reason="Volatility pause", kind=HaltKind.VOLATILITY
    )

    first, second = InstrumentHalt.objects.filter(instrument=stock).order_by("started_at")
    assert (first.kind, first.halt_reason, first.started_by) == (
        "news_pending",
        "Pending news: merger announcement",
        risk,
    )
    assert (first.ended_by, first.end_reason) == (compliance, "News disseminated")
    assert first.ended_at >= first.started_at
    assert second.is_open and second.started_by == risk

    reasons = list(
        stock.history.order_by("history_date").values_list("history_change_reason", "status")
    )
    assert reasons[-3:] == [
        ("Pending news: merger announcement", "halted"),
        ("News disseminated", "listed"),
        ("Volatility pause", "halted"),
    ]
    assert first.history.first().history_user == compliance


def test_roles_decide_who_may_halt_and_resume(stock):
    support = StaffFactory(role="support")
    with pytest.raises(ApplicationError) as refused:
        services.instrument_halt(instrument=stock, actor=support, reason="Looks odd")
    assert refused.value.code == "permission_denied"
    risk = StaffFactory(role="risk")
    services.instrument_halt(instrument=stock, actor=risk, reason="Circuit breaker")
    with pytest.raises(ApplicationError) as refused:
        services.instrument_delist(instrument=stock, actor=risk, reason="Not my call")
    assert refused.value.code == "permission_denied"
    ops = StaffFactory(role="broker_operations")
    assert services.instrument_resume(instrument=stock, actor=ops, reason="Resumed").status == (
        "listed"
    )


@pytest.mark.parametrize("reason", ["", "  ", "no"])
def test_a_halt_needs_a_reason(stock, admin_user, reason):
    with pytest.raises(ApplicationError) as refused:
        services.instrument_halt(instrument=stock, actor=admin_user, reason=reason)
    assert refused.value.code == "invalid"
    stock.refresh_from_db()
    assert stock.status == "listed"


def test_suspending_a_halted_instrument_ends_its_halt(stock, admin_user):
    services.instrument_halt(instrument=stock, actor=admin_user, reason="News pending")
    services.instrument_suspend(instrument=stock, actor=admin_user, reason="SEC suspension")
    halt = InstrumentHalt.objects.get(instrument=stock)
    assert halt.end_reason == "Suspended: SEC suspension"
    assert halt.ended_by == admin_user


def test_system_halts_skip_the_permission_check(stock):
    halted = services.instrument_halt(
        instrument=stock,
        actor=None,
        reason="Limit up-limit down",
        kind=HaltKind.VOLATILITY,
        enforce_permission=False,
    )
    assert halted.status == "halted"
    assert InstrumentHalt.objects.get(instrument=stock).started_by is None


class TestPlannedResumption:
    def test_resume_at_must_be_ahead(self, stock, admin_user):
        with pytest.raises(ApplicationError) as refused:
            services.instrument_halt(
                instrument=stock,
                actor=admin_user,
                reason="Pause",
                resume_at=timezone.now() - dt.timedelta(minutes=1),
            )
        assert "resume_at" in refused.value.details

    def test_the_scheduler_resumes_when_the_time_comes(self, stock, admin_user):
        start = timezone.now()
        services.instrument_halt(
            instrument=stock,
            actor=admin_user,
            reason="Volatility pause",
            kind=HaltKind.VOLATILITY,
            resume_at=start + dt.timedelta(minutes=5),
        )
        assert tasks.halts_resume_due.delay().get() == []  # not yet
        with time_machine.travel(start + dt.timedelta(minutes=6)):
            assert tasks.halts_resume_due.delay().get() == ["ACME"]
            assert tasks.halts_resume_due.delay().get() == []  # idempotent
        stock.refresh_from_db()
        assert stock.status == "listed"
        halt = InstrumentHalt.objects.get(instrument=stock)
        assert halt.ended_by is None
        assert halt.end_reason.startswith("Planned resumption at")

    def test_a_halt_resumed_by_hand_is_left_alone(self, stock, admin_user):
        start = timezone.now()
        services.instrument_halt(
            instrument=stock,
            actor=admin_user,
            reason="Pause",
            resume_at=start + dt.timedelta(minutes=5),
        )
        services.instrument_resume(instrument=stock, actor=admin_user, reason="Early resume")
        assert services.halts_resume_due(now=start + dt.timedelta(minutes=6)) == []
        assert InstrumentHalt.objects.get(instrument=stock).end_reason == "Early resume"


@pytest.mark.django_db(transaction=True)
def test_concurrent_halts_apply_once():
    """Two staff members halt the same instrument at once: one halt, one invalid_state."""
    first, second = StaffFactory(role="risk"), StaffFactory(role="compliance")
    instrument = InstrumentFactory()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def halt(actor):
        try:
            barrier.wait()
            services.instrument_halt(
                instrument=Instrument.objects.get(pk=instrument.pk),
                actor=actor,
                reason=f"halt by {actor.email}",
            )
            outcomes.append("halted")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=halt, args=(u,)) for u in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["halted", "invalid_state"]
    assert InstrumentHalt.objects.filter(instrument=instrument).count() == 1
