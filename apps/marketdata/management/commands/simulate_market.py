"""Run the house market makers: ``manage.py simulate_market [--symbols AAPL XAU-G]
[--seconds 60] [--rate 5] [--seed 7] [--inline]``.

They quote each instrument around a random-walk price and take each other's quotes now and
then, through the real order intake and matching pipeline (see apps.marketdata.simulator).
Without --symbols: every listed instrument whose market is open now.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core import context
from apps.marketdata import simulator


class Command(BaseCommand):
    help = "Simulate a market: house market makers quote and trade through the real pipeline."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--symbols", nargs="*", default=None, help="Instruments (default: all open now)."
        )
        parser.add_argument("--seconds", type=float, default=60.0, help="How long (default 60).")
        parser.add_argument(
            "--steps", type=int, default=None, help="Stop after this many steps instead."
        )
        parser.add_argument(
            "--rate", type=float, default=5.0, help="Steps per second (default 5; 0: flat out)."
        )
        parser.add_argument("--seed", type=int, default=None, help="Same seed, same decisions.")
        parser.add_argument(
            "--inline",
            action="store_true",
            help="Match in this process after each order (no Celery worker needed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rate"] < 0 or options["seconds"] <= 0:
            raise CommandError("--rate must be 0 or more and --seconds more than 0.")
        with context.bind(
            correlation_id=context.new_correlation_id(), user_agent="simulate_market"
        ):
            report = simulator.simulate(
                symbols=options["symbols"],
                steps=options["steps"],
                seconds=None if options["steps"] is not None else options["seconds"],
                rate=options["rate"],
                seed=options["seed"],
                inline=options["inline"],
            )
        if not report.instruments:
            self.stdout.write("Nothing to simulate: no listed instrument is open with a price.")
            return
        self.stdout.write(f"Simulated {report.summary()}.")
        if report.refusals:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.refusals.items()))
            self.stdout.write(f"Refused: {reasons}.")
