"""Cost of the calendar questions order intake and settlement ask on every order and trade.

Measures, on the standard XNYS and 24x7 calendars (they exist after `manage.py migrate`):
market_state of an instrument, next_session, add_business_days (T+1 and T+2) and
is_business_day, once the calendar's schedule is cached in the process, and the first call
of a process (which loads the staff closures and a year of holidays). Reads only.

    DATABASE_URL=postgres://... .venv/bin/python bench/instruments_calendar.py
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

import django

django.setup()

from apps.instruments import schedule, selectors  # noqa: E402
from apps.instruments.models import Instrument, TradingCalendar  # noqa: E402

N = 20_000
UTC = dt.UTC


def per_call(label: str, fn, n: int = N) -> None:
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    elapsed = time.perf_counter() - start
    print(f"{label:<46} {elapsed / n * 1e6:8.1f} µs/call  ({n / elapsed:,.0f}/s)")


def main() -> None:
    nyse = TradingCalendar.objects.get(code="XNYS")
    always = TradingCalendar.objects.get(code="24x7")
    stock = Instrument(symbol="BENCH", calendar=nyse, status="listed")
    gold = Instrument(symbol="BENCHG", calendar=always, status="listed")
    base = dt.datetime(2026, 3, 2, 12, tzinfo=UTC)

    schedule.source_days.cache_clear()
    selectors._closures.cache_clear()
    start = time.perf_counter()
    selectors.market_state(instrument=stock, at=base)
    first_ms = (time.perf_counter() - start) * 1e3
    print(f"{'first market_state in a process (XNYS)':<46} {first_ms:8.1f} ms")

    def minutes(i: int) -> dt.datetime:
        return base + dt.timedelta(minutes=7 * (i % 5000))

    per_call(
        "market_state, XNYS", lambda i: selectors.market_state(instrument=stock, at=minutes(i))
    )
    per_call("market_state, 24x7", lambda i: selectors.market_state(instrument=gold, at=minutes(i)))
    per_call(
        "next_session, XNYS",
        lambda i: selectors.next_session(calendar=nyse, after=minutes(i)),
    )
    day0 = dt.date(2026, 1, 2)
    per_call(
        "add_business_days T+1, XNYS",
        lambda i: selectors.add_business_days(
            calendar=nyse, start=day0 + dt.timedelta(days=i % 700), days=1
        ),
    )
    per_call(
        "add_business_days T+2, XNYS",
        lambda i: selectors.add_business_days(
            calendar=nyse, start=day0 + dt.timedelta(days=i % 700), days=2
        ),
    )
    per_call(
        "is_business_day, XNYS",
        lambda i: selectors.is_business_day(calendar=nyse, day=day0 + dt.timedelta(days=i % 700)),
    )


if __name__ == "__main__":
    main()
