"""Inspect and set up market data storage.

manage.py marketdata_storage              which path this database is on, and why
manage.py marketdata_storage --sql        the statements the TimescaleDB setup issues
manage.py marketdata_storage --setup      move the tables onto TimescaleDB (idempotent)
manage.py marketdata_storage --refresh    materialise the continuous aggregates
manage.py marketdata_storage --rebuild-candles ACME --since 2026-01-01
                                          recompute roll-up candles (plain PostgreSQL)
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.errors import ApplicationError
from apps.marketdata import selectors, services, storage


class Command(BaseCommand):
    help = "Show, set up or maintain market data storage (TimescaleDB or plain PostgreSQL)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--sql", action="store_true", help="Print the TimescaleDB setup.")
        parser.add_argument("--setup", action="store_true", help="Run the TimescaleDB setup.")
        parser.add_argument("--refresh", action="store_true", help="Refresh the aggregates.")
        parser.add_argument("--rebuild-candles", metavar="SYMBOL")
        parser.add_argument("--since", help="ISO 8601 start for --rebuild-candles.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["sql"]:
            for statement in storage.timescale_setup(dry_run=True):
                self.stdout.write(statement if statement.endswith(";") else f"{statement};")
            return
        if options["setup"]:
            state = storage.timescale_enable()
            if not state.installed:
                raise CommandError("This database has no TimescaleDB extension; nothing to do.")
            for statement in storage.timescale_setup():
                self.stdout.write(statement)
            storage.reset_storage_mode()
        if options["refresh"]:
            if storage.storage_mode() != storage.TIMESCALEDB:
                raise CommandError("Not on TimescaleDB: the roll-up is always current.")
            connection.ensure_connection()
            for statement in storage.timescale_refresh():
                self.stdout.write(statement)
        if options["rebuild_candles"]:
            self._rebuild(options["rebuild_candles"], options["since"])
        state = storage.timescale_state()
        self.stdout.write(
            f"storage: {storage.storage_mode()}\n"
            f"timescaledb installed: {state.installed_version or 'no'}; "
            f"available on the server: {state.available_version or 'no'}; "
            f"continuous aggregates: {'yes' if state.aggregates_present else 'no'}"
        )

    def _rebuild(self, symbol: str, since: str | None) -> None:
        start = parse_datetime(since) if since else None
        if since and start is None:
            raise CommandError("--since must be an ISO 8601 instant.")
        try:
            instrument = selectors.instrument_by_symbol(symbol)
            services.candles_rebuild(
                instrument=instrument,
                start=start or timezone.now().replace(hour=0, minute=0, second=0, microsecond=0),
                end=timezone.now(),
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Candles of {instrument.symbol} rebuilt.")
