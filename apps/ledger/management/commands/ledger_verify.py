"""Check the whole ledger; print what was found; exit 1 on any break.

Every entry balances per asset and has two or more postings; every cached balance equals the
sum of its postings; every running balance equals the running sum; no client bucket is
negative; the hash chain is unbroken. The result is also recorded for staff (admin: Ledger
checks), as the daily scheduled run does.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.ledger import services
from apps.ledger.choices import ReconciliationTrigger
from apps.ledger.selectors import IntegrityReport, integrity_lines


class Command(BaseCommand):
    help = "Verify the ledger: balanced entries, balances, running balances, the hash chain."

    def handle(self, *args: Any, **options: Any) -> None:
        run = services.ledger_verify(trigger=ReconciliationTrigger.COMMAND)
        report = IntegrityReport(
            entries=run.entries_checked,
            postings=run.postings_checked,
            accounts=run.accounts_checked,
            problem_count=run.problem_count,
            problems=run.problems,
        )
        for line in integrity_lines(report):
            self.stdout.write(line)
        self.stdout.write(f"Took {run.duration:.2f} s; recorded as ledger check #{run.pk}.")
        if not run.ok:
            raise CommandError(f"The ledger check found {run.problem_count} problem(s).")
