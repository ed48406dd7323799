"""Reads of the instruments app: instruments, market state, sessions and business days.

These are the functions order intake, settlement and the portal call:

* :func:`instrument_get` (``not_found`` when absent), :func:`instruments_list`;
* :func:`market_state` (closed | pre_open | open | halted) of an instrument at an instant;
* :func:`next_session`, :func:`session_on`, :func:`is_business_day`, :func:`add_business_days`,
  :func:`trade_date`, :func:`settlement_date` on a trading calendar;
* :func:`instrument_check_order_terms` for an order's quantity and price.

Schedules are cached per process by (calendar, rules_version), so asking for the market state
of a page of instruments costs no query beyond loading them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from apps.core.errors import ApplicationError, ErrorCode, invalid, not_found
from apps.instruments.choices import InstrumentStatus, MarketState
from apps.instruments.models import CalendarClosure, Instrument, InstrumentHalt, TradingCalendar
from apps.instruments.schedule import Closure, Schedule, Session

# --- Calendars ------------------------------------------------------------------------------


@lru_cache(maxsize=128)
def _closures(calendar_pk: int, rules_version: object) -> dict[dt.date, Closure]:
    rows = CalendarClosure.objects.filter(calendar_id=calendar_pk).values_list(
        "date", "kind", "description", "open_time", "close_time"
    )
    return {
        day: Closure(kind=kind, reason=reason, open_time=o, close_time=c, staff=True)
        for day, kind, reason, o, c in rows
    }


def schedule_for(calendar: TradingCalendar) -> Schedule:
    """The session arithmetic of ``calendar`` with its staff closures (cached per version)."""
    return Schedule(
        zone=ZoneInfo(calendar.timezone),
        trading_weekdays=calendar.trading_weekdays,
        round_the_clock=calendar.round_the_clock,
        open_time=calendar.open_time,
        close_time=calendar.close_time,
        pre_open_time=calendar.pre_open_time,
        early_close_time=calendar.early_close_time,
        holiday_source=calendar.holiday_source,
        closures=_closures(calendar.pk, calendar.rules_version),
    )


def calendar_get(*, code: str) -> TradingCalendar:
    calendar = TradingCalendar.objects.filter(code__iexact=(code or "").strip()).first()
    if calendar is None:
        raise not_found(f"No trading calendar {code!r}.")
    return calendar


def calendars_list() -> QuerySet[TradingCalendar]:
    return TradingCalendar.objects.order_by("code")


def is_business_day(*, calendar: TradingCalendar, day: dt.date) -> bool:
    """Whether ``day`` is a trading day of ``calendar`` (early closes count)."""
    return schedule_for(calendar).is_business_day(day)


def add_business_days(*, calendar: TradingCalendar, start: dt.date, days: int) -> dt.date:
    """The date ``days`` business days of ``calendar`` after ``start`` (T+n).

    Negative ``days`` count back. ``start`` need not be a business day; ``days == 0`` gives
    ``start`` when it is one, else the next business day.
    """
    return schedule_for(calendar).add_business_days(start, days)


def session_on(*, calendar: TradingCalendar, day: dt.date) -> Session | None:
    """The session on an exchange-zone date (open, close, pre-open in UTC), or None."""
    return schedule_for(calendar).session(day)


def next_session(
    *, calendar: TradingCalendar, after: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """(open_at, close_at) in UTC of the session in progress at ``after``, else the next one."""
    session = schedule_for(calendar).next_session(after)
    return session.open_at, session.close_at


def upcoming_sessions(
    *, calendar: TradingCalendar, after: dt.datetime | None = None, count: int = 5
) -> list[Session]:
    schedule = schedule_for(calendar)
    after = after or timezone.now()
    sessions = []
    for session in schedule.sessions_from(schedule.trade_date(after)):
        if session.close_at > after:
            sessions.append(session)
        if len(sessions) == count:
            break
    return sessions


def special_days(
    *, calendar: TradingCalendar, start: dt.date, end: dt.date
) -> list[tuple[dt.date, Closure]]:
    """Holidays, early closes, late opens and staff closures in [start, end]."""
    return schedule_for(calendar).special_days(start, end)


def trade_date(*, calendar: TradingCalendar, at: dt.datetime | None = None) -> dt.date:
    """The trade date of an instant: its date in the exchange's time zone."""
    return schedule_for(calendar).trade_date(at or timezone.now())


def calendar_closures(*, calendar: TradingCalendar) -> QuerySet[CalendarClosure]:
    return calendar.closures.select_related("calendar", "created_by").order_by("date")


# --- Instruments ----------------------------------------------------------------------------


def _open_halts() -> Prefetch:
    return Prefetch(
        "halts",
        queryset=InstrumentHalt.objects.filter(ended_at__isnull=True),
        to_attr="open_halts",
    )


def instruments_list(
    *,
    search: str = "",
    asset_class: str = "",
    status: str = "",
    currency: str = "",
) -> QuerySet[Instrument]:
    """Instruments with their calendar and open halt, filtered; symbol order."""
    qs = Instrument.objects.select_related("calendar").prefetch_related(_open_halts())
    search = (search or "").strip()
    if search:
        qs = qs.filter(Q(symbol__icontains=search) | Q(name__icontains=search))
    if asset_class:
        qs = qs.filter(asset_class=asset_class)
    if status:
        qs = qs.filter(status=status)
    if currency:
        qs = qs.filter(currency=currency.upper())
    return qs.order_by("symbol")


def instrument_get(*, symbol: str) -> Instrument:
    """The instrument with this symbol (case-insensitive), with its calendar and open halt.

    Raises ``not_found`` when there is none.
    """
    instrument = (
        Instrument.objects.select_related("calendar")
        .prefetch_related(_open_halts())
        .filter(symbol=(symbol or "").strip().upper())
        .first()
    )
    if instrument is None:
        raise not_found(f"No instrument {symbol!r}.")
    return instrument


def current_halt(instrument: Instrument) -> InstrumentHalt | None:
    """The open halt of a halted instrument (uses the prefetch when present)."""
    if instrument.status != InstrumentStatus.HALTED:
        return None
    if hasattr(instrument, "open_halts"):
        return instrument.open_halts[0] if instrument.open_halts else None
    return instrument.halts.filter(ended_at__isnull=True).first()


def instrument_halts(*, instrument: Instrument) -> QuerySet[InstrumentHalt]:
    """Every halt of the instrument, newest first, with who started and ended it."""
    return instrument.halts.select_related("started_by", "ended_by").order_by("-started_at", "-pk")


def halts_due_for_resumption(*, now: dt.datetime | None = None) -> QuerySet[InstrumentHalt]:
    return InstrumentHalt.objects.filter(
        ended_at__isnull=True, resume_at__isnull=False, resume_at__lte=now or timezone.now()
    ).select_related("instrument")


def market_state(*, instrument: Instrument, at: dt.datetime | None = None) -> str:
    """closed | pre_open | open | halted for ``instrument`` at ``at`` (default now).

    A halted instrument is ``halted`` whatever the hour; a suspended or delisted one is
    ``closed``; a listed one follows its calendar.
    """
    if instrument.status == InstrumentStatus.HALTED:
        return MarketState.HALTED
    if instrument.status != InstrumentStatus.LISTED:
        return MarketState.CLOSED
    return schedule_for(instrument.calendar).state(at or timezone.now())


def instrument_next_session(*, instrument: Instrument, after: dt.datetime | None = None) -> Session:
    return schedule_for(instrument.calendar).next_session(after or timezone.now())


def settlement_date(*, instrument: Instrument, trade_date: dt.date) -> dt.date:
    """Trade date + the instrument's settlement cycle in business days of its calendar."""
    return add_business_days(
        calendar=instrument.calendar, start=trade_date, days=instrument.settlement_cycle
    )


def instrument_check_order_terms(
    *,
    instrument: Instrument,
    quantity: Decimal,
    price: Decimal | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Refuse an order the instrument's rules forbid.

    Raises ``instrument_not_tradable`` (422) unless the market state is open or pre_open;
    ``invalid`` (400) for a quantity below the minimum or off the lot step, or a price off the
    tick grid or outside the price band around the reference price.
    """
    state = market_state(instrument=instrument, at=at)
    if state not in (MarketState.OPEN, MarketState.PRE_OPEN):
        halt = current_halt(instrument)
        details = {"symbol": instrument.symbol, "market_state": state}
        if halt is not None:
            details["halt_reason"] = halt.halt_reason
        raise ApplicationError(
            ErrorCode.INSTRUMENT_NOT_TRADABLE,
            f"{instrument.symbol} is not open for trading ({state}).",
            details,
        )
    errors: dict[str, str] = {}
    if quantity < instrument.min_quantity:
        errors["quantity"] = f"The minimum quantity is {instrument.min_quantity.normalize()}."
    elif not instrument.is_on_lot(quantity):
        errors["quantity"] = f"Quantities go in steps of {instrument.lot_size.normalize()}."
    if price is not None:
        band = instrument.price_band()
        if not instrument.is_on_tick(price):
            errors["price"] = f"Prices go in steps of {instrument.tick_size.normalize()}."
        elif band is not None and not band[0] <= price <= band[1]:
            errors["price"] = f"The price must be between {band[0]} and {band[1]} today."
    if errors:
        raise invalid("The order does not fit the instrument's rules.", **errors)
