"""Rewrite the quote / depth / recent-prints cache from the database (after a Redis flush
or failover): ``manage.py marketdata_cache [SYMBOL ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.instruments.models import Instrument
from apps.marketdata import services


class Command(BaseCommand):
    help = "Rebuild the market data cache from the market state and the ticks."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("symbols", nargs="*", help="Only these instruments (default: all).")

    def handle(self, *args: Any, **options: Any) -> None:
        instruments = Instrument.objects.order_by("symbol")
        if options["symbols"]:
            instruments = instruments.filter(symbol__in=[s.upper() for s in options["symbols"]])
        count = services.market_cache_rebuild(instruments=instruments.iterator())
        self.stdout.write(f"Rebuilt the cache of {count} instruments.")
