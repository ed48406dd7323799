"""Settle a date by hand: ``python manage.py run_settlement --date 2026-11-23 [--calendar XNYS]``.

Running a date again resumes a run that stopped and changes nothing once it is complete."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.instruments.selectors import calendar_get
from apps.settlement.choices import RunTrigger
from apps.settlement.services import settlement_run


class Command(BaseCommand):
    help = "Settle every pending instruction due on or before a date."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--date", required=True, help="The settlement date, YYYY-MM-DD.")
        parser.add_argument(
            "--calendar", default="", help="Only instruments on this calendar (e.g. XNYS)."
        )
        parser.add_argument(
            "--chunk-size", type=int, default=None, help="Accounts per transaction."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run_date = dt.date.fromisoformat(options["date"])
        except ValueError as exc:
            raise CommandError("--date must be YYYY-MM-DD.") from exc
        try:
            calendar = calendar_get(code=options["calendar"]) if options["calendar"] else None
            run = settlement_run(
                run_date=run_date,
                calendar=calendar,
                trigger=RunTrigger.COMMAND,
                chunk_size=options["chunk_size"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        moved = ", ".join(f"{v} {k}" for k, v in run.cash_moved.items()) or "no cash"
        self.stdout.write(
            f"{run}: {run.instructions_settled} settled, {run.instructions_failed} failed, "
            f"{run.groups_netted} groups, {run.entries_posted} ledger entries, "
            f"{run.strays_swept} strays swept in {run.chunks_done} chunks; {moved} moved to "
            f"settled; {run.seconds:.1f} s over {run.attempts} attempt(s)."
        )
