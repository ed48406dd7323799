"""Corporate actions over real trading: instruments open round the clock (UTC dates), holdings
from transfers in and from trades placed and matched through the real services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.instruments import services
from apps.instruments.models import CorporateAction
from apps.ledger.selectors import ledger_integrity
from apps.positions.services import positions_reconcile


@pytest.fixture
def ops(staff_factory):
    """A broker-operations staff member: enters corporate actions."""
    return staff_factory("broker_operations")


@pytest.fixture
def ops2(staff_factory):
    """Another broker-operations staff member: approves and processes them."""
    return staff_factory("broker_operations")


def today() -> dt.date:
    """Today on the round-the-clock calendar (UTC)."""
    return timezone.now().astimezone(dt.UTC).date()


def days(n: int) -> dt.datetime:
    """An instant ``n`` days from now (processing "on" a later date)."""
    return timezone.now() + dt.timedelta(days=n)


def assert_books_clean() -> None:
    """The ledger checks out and every position matches its ledger balances."""
    report = ledger_integrity()
    assert report.ok, report.problems
    assert positions_reconcile() == []


def dividend(instrument, actor, *, amount: Any = "0.50", record: int = 0, pay: int = 1, **kw):
    """A dividend of ``amount`` per share, record date today + ``record`` days."""
    return services.corporate_action_declare(
        actor=actor,
        instrument=instrument,
        kind="cash_dividend",
        record_date=today() + dt.timedelta(days=record),
        pay_date=today() + dt.timedelta(days=pay),
        amount_per_share=Decimal(str(amount)),
        **kw,
    )


def split(instrument, actor, new: int, old: int, *, effective: int = 0, **kw) -> CorporateAction:
    return services.corporate_action_declare(
        actor=actor,
        instrument=instrument,
        kind="split" if new > old else "reverse_split",
        ratio_new=new,
        ratio_old=old,
        effective_date=today() + dt.timedelta(days=effective),
        **kw,
    )


def approve_and_process(action, approver, *, on: int = 0) -> CorporateAction:
    """Approve (a second staff member) and process ``on`` days from now."""
    action = services.corporate_action_approve(action=action, actor=approver, reason="Checked")
    return services.corporate_action_process(action=action, actor=approver, now=days(on))
