"""Celery tasks of the settlement app (queue ``settlement``): thin, idempotent, each calling
one service."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from apps.accounts.models import User
from apps.instruments.selectors import calendar_get
from apps.settlement import services
from apps.settlement.choices import RunTrigger


@shared_task(name="apps.settlement.tasks.settlement_runs_due")
def settlement_runs_due() -> list[int]:
    """Every few minutes: settle each calendar's business day once it has ended."""
    return [run.pk for run in services.settlement_runs_due()]


@shared_task(name="apps.settlement.tasks.settlement_run", acks_late=True)
def settlement_run(
    run_date: str, calendar: str | None = None, actor_id: int | None = None, reason: str = ""
) -> int:
    """A run staff asked for from the back office (resumes the date if it was stopped)."""
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    run = services.settlement_run(
        run_date=dt.date.fromisoformat(run_date),
        calendar=calendar_get(code=calendar) if calendar else None,
        actor=actor,
        trigger=RunTrigger.STAFF if actor else RunTrigger.COMMAND,
        reason=reason,
    )
    return run.pk


@shared_task(name="apps.settlement.tasks.gfv_restrictions_lift_due")
def gfv_restrictions_lift_due() -> int:
    """Hourly: end Regulation T restrictions whose 90 days are over."""
    return services.gfv_restrictions_lift_due()
