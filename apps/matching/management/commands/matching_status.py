"""Print each instrument's book: version, open orders, orders waiting for the pipeline (and
the oldest one's age), last price."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count, Q

from apps.instruments.models import Instrument
from apps.matching.models import BookState
from apps.orders.choices import OPEN_ORDER_STATUSES
from apps.orders.selectors import open_orders_waiting


class Command(BaseCommand):
    help = "Per instrument: book version, open orders, waiting orders, last price."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("symbols", nargs="*", help="Only these symbols (default: all).")
        parser.add_argument(
            "--all", action="store_true", help="Also instruments with no book and no orders."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        is_open = Q(orders__status__in=OPEN_ORDER_STATUSES)
        instruments = Instrument.objects.annotate(
            open_orders=Count("orders", filter=is_open)
        ).order_by("symbol")
        if options["symbols"]:
            instruments = instruments.filter(symbol__in=[s.upper() for s in options["symbols"]])
        states = {s.instrument_id: s for s in BookState.objects.all()}
        waiting = {r["instrument_id"]: r for r in open_orders_waiting()}
        rows = []
        for instrument in instruments:
            state = states.get(instrument.pk)
            queue = waiting.get(instrument.pk)
            if not (options["all"] or options["symbols"] or state or instrument.open_orders):
                continue
            rows.append(
                (
                    instrument.symbol,
                    str(state.version if state else 0),
                    str(instrument.open_orders),
                    str(queue["waiting"] if queue else 0),
                    f"{queue['oldest_age_seconds']:.1f}" if queue else "-",
                    f"{state.last_price.normalize():f}" if state and state.last_price else "-",
                    state.last_trade_at.isoformat(timespec="seconds")
                    if state and state.last_trade_at
                    else "-",
                )
            )
        header = ("symbol", "version", "open", "waiting", "oldest_s", "last_price", "last_trade")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            )
        total = sum(r["waiting"] for r in waiting.values())
        self.stdout.write(f"{len(rows)} instrument(s); {total} order(s) waiting for matching.")
