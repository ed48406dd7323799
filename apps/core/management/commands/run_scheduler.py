"""Run the periodic jobs of CELERY_BEAT_SCHEDULE in this process, without a broker.

`make run` uses it when REDIS_URL is not set (Celery then runs tasks in process), so scheduled
work (expiring orders, settlement runs, reconciliation) happens in every mode. With Redis,
`celery beat` reads the same table and this command is not started.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import datetime, timedelta
from typing import Any

from celery.schedules import schedule as interval_schedule
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from apps.core import context
from config.celery import app

logger = logging.getLogger("bourse.scheduler")


class Command(BaseCommand):
    help = "Run the Celery beat schedule in process (single-machine mode)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        entries = {}
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            sched = entry["schedule"]
            if isinstance(sched, timedelta | int | float):
                sched = interval_schedule(sched)
            entries[name] = {"entry": entry, "schedule": sched, "last_run_at": app.now()}
        if once:
            for name, state in entries.items():
                self._run(name, state["entry"])
            return

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"Scheduler running {len(entries)} jobs in process.")
        while not stopping:
            sleep_for = 30.0
            for name, state in entries.items():
                due, next_in = state["schedule"].is_due(state["last_run_at"])
                if due:
                    state["last_run_at"] = app.now()
                    self._run(name, state["entry"])
                sleep_for = min(sleep_for, max(float(next_in), 0.5))
            deadline = time.monotonic() + sleep_for
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.25)

    def _run(self, name: str, entry: dict[str, Any]) -> None:
        if not connection.in_atomic_block:
            close_old_connections()  # a long-lived process must not keep a dead connection
        started = datetime.now().astimezone()
        with context.bind(
            correlation_id=context.new_correlation_id(), user_agent=f"scheduler:{name}"
        ):
            result = app.tasks[entry["task"]].apply(
                args=entry.get("args", ()), kwargs=entry.get("kwargs", {})
            )
        if result.failed():
            logger.error("Scheduled job %s failed: %r", name, result.result)
        else:
            logger.info("Scheduled job %s ran in %s", name, datetime.now().astimezone() - started)
