"""Session arithmetic of a trading calendar, with no database access.

A :class:`Schedule` is built from a calendar's settings and its staff closures (see
``selectors.schedule_for``). It answers, for any date or instant: is this a business day,
what is the session (pre-open, open and close instants), where is the next session, what is
the date N business days on, and what is the trade date of an instant.

Instants are timezone-aware and returned in UTC; wall-clock session times are resolved in the
exchange's zone on each date, so daylight-saving changes move the UTC times of the session
and nothing else. A wall-clock time that does not exist on a spring-forward day resolves to
the instant one hour later; an ambiguous one on a fall-back day to its first occurrence.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from apps.instruments.choices import ClosureKind, MarketState

UTC = dt.UTC
SEARCH_DAYS = 366 * 2  # how far next_session and add_business_days look before giving up


class ScheduleError(ValueError):
    """The calendar has no session or business day within the search horizon."""


@dataclass(frozen=True)
class Closure:
    """What is special about one date: closed, closing early or opening late, and why."""

    kind: str
    reason: str
    open_time: dt.time | None = None
    close_time: dt.time | None = None
    staff: bool = False  # added by staff, rather than from the holiday source


@dataclass(frozen=True)
class Session:
    """One trading session. Instants are UTC."""

    date: dt.date
    open_at: dt.datetime
    close_at: dt.datetime
    pre_open_at: dt.datetime | None = None
    early_close: bool = False
    late_open: bool = False
    note: str = ""

    def state_at(self, at: dt.datetime) -> str:
        if self.open_at <= at < self.close_at:
            return MarketState.OPEN
        if self.pre_open_at is not None and self.pre_open_at <= at < self.open_at:
            return MarketState.PRE_OPEN
        return MarketState.CLOSED


# The package names its early closes "... (markets close at 1:00pm)" (in its en_US labels).
_CLOSE_AT = re.compile(r"markets close at (\d{1,2}):(\d{2}) ?([ap])m", re.IGNORECASE)
_CLOSE_NOTE = re.compile(r"\s*\(markets close at [^)]*\)", re.IGNORECASE)


def _close_time_in(label: str) -> dt.time | None:
    match = _CLOSE_AT.search(label)
    if match is None:
        return None
    hour, minute, half = int(match[1]) % 12, int(match[2]), match[3].lower()
    return dt.time(hour + (12 if half == "p" else 0), minute)


@lru_cache(maxsize=256)
def source_days(
    source: str, year: int
) -> tuple[dict[dt.date, str], dict[dt.date, tuple[str, dt.time | None]]]:
    """Closed days (name) and early-close days (name, close time when the package gives one)
    of a `holidays` financial calendar for one year."""
    if not source:
        return {}, {}
    closed = holidays.financial_holidays(
        source, years=year, categories=(holidays.PUBLIC,), language="en_US"
    )
    early = holidays.financial_holidays(
        source, years=year, categories=(holidays.HALF_DAY,), language="en_US"
    )
    return dict(closed.items()), {
        day: (_CLOSE_NOTE.sub("", name), _close_time_in(name)) for day, name in early.items()
    }


def supported_sources() -> list[str]:
    """Market codes the `holidays` package has financial calendars for."""
    return sorted(holidays.list_supported_financial())


def _aware(day: dt.date, wall: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant of wall-clock ``wall`` on ``day`` in ``zone``."""
    local = dt.datetime.combine(day, wall, tzinfo=zone)
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    trading_weekdays: frozenset[int]  # 0 = Monday
    round_the_clock: bool = False
    open_time: dt.time | None = None
    close_time: dt.time | None = None
    pre_open_time: dt.time | None = None
    early_close_time: dt.time | None = None
    holiday_source: str = ""
    closures: Mapping[dt.date, Closure] | None = None

    # --- Days -----------------------------------------------------------------------------

    def closure(self, day: dt.date) -> Closure | None:
        """What is special about ``day``: a staff closure wins over the holiday source."""
        staff = (self.closures or {}).get(day)
        if staff is not None:
            return staff
        closed, early = source_days(self.holiday_source, day.year)
        if day in closed:
            return Closure(kind=ClosureKind.CLOSED, reason=closed[day])
        if day in early:
            name, close_time = early[day]
            close_time = close_time or self.early_close_time
            if close_time is not None:
                return Closure(kind=ClosureKind.EARLY_CLOSE, reason=name, close_time=close_time)
        return None

    def is_business_day(self, day: dt.date) -> bool:
        """A trading weekday that is not closed all day (early closes are business days)."""
        if day.weekday() not in self.trading_weekdays:
            return False
        closure = self.closure(day)
        return closure is None or closure.kind != ClosureKind.CLOSED

    def add_business_days(self, start: dt.date, days: int) -> dt.date:
        """The date ``days`` business days after ``start`` (before it when negative).

        ``start`` need not be a business day; with ``days == 0`` the answer is ``start`` when
        it is a business day, else the next business day.
        """
        step = 1 if days >= 0 else -1
        remaining = abs(days)
        day = start
        if remaining == 0:
            return self._roll(start, 1)
        for _ in range(SEARCH_DAYS * max(1, remaining)):
            day += dt.timedelta(days=step)
            if self.is_business_day(day):
                remaining -= 1
                if remaining == 0:
                    return day
        raise ScheduleError("The calendar has no business days in the search horizon.")

    def _roll(self, day: dt.date, step: int) -> dt.date:
        for _ in range(SEARCH_DAYS):
            if self.is_business_day(day):
                return day
            day += dt.timedelta(days=step)
        raise ScheduleError("The calendar has no business days in the search horizon.")

    def business_days_between(self, start: dt.date, end: dt.date) -> int:
        """Business days in the half-open range (start, end]."""
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_business_day(day)
        return count

    # --- Sessions -------------------------------------------------------------------------

    def session(self, day: dt.date) -> Session | None:
        """The session on ``day`` (an exchange-zone date), or None when the market is shut."""
        if not self.is_business_day(day):
            return None
        closure = self.closure(day)
        note = closure.reason if closure else ""
        if self.round_the_clock:
            open_wall, close_at = dt.time(0, 0), None
            if closure and closure.kind == ClosureKind.LATE_OPEN:
                open_wall = closure.open_time
            if closure and closure.kind == ClosureKind.EARLY_CLOSE:
                close_at = _aware(day, closure.close_time, self.zone)
            if close_at is None:
                close_at = _aware(day + dt.timedelta(days=1), dt.time(0, 0), self.zone)
            return Session(
                date=day,
                open_at=_aware(day, open_wall, self.zone),
                close_at=close_at,
                early_close=bool(closure and closure.kind == ClosureKind.EARLY_CLOSE),
                late_open=bool(closure and closure.kind == ClosureKind.LATE_OPEN),
                note=note,
            )
        open_wall, close_wall = self.open_time, self.close_time
        early = late = False
        if closure and closure.kind == ClosureKind.EARLY_CLOSE:
            close_wall, early = min(closure.close_time, close_wall), True
        if closure and closure.kind == ClosureKind.LATE_OPEN:
            open_wall, late = max(closure.open_time, open_wall), True
        pre_open_at = None
        if self.pre_open_time is not None and self.pre_open_time < open_wall:
            pre_open_at = _aware(day, self.pre_open_time, self.zone)
        return Session(
            date=day,
            open_at=_aware(day, open_wall, self.zone),
            close_at=_aware(day, close_wall, self.zone),
            pre_open_at=pre_open_at,
            early_close=early,
            late_open=late,
            note=note,
        )

    def trade_date(self, at: dt.datetime) -> dt.date:
        """The exchange-zone calendar date of the instant ``at``."""
        return _require_aware(at).astimezone(self.zone).date()

    def state(self, at: dt.datetime) -> str:
        """closed, pre_open or open at the instant ``at`` (status of instruments aside)."""
        at = _require_aware(at)
        session = self.session(self.trade_date(at))
        return session.state_at(at) if session else MarketState.CLOSED

    def sessions_from(self, day: dt.date) -> Iterator[Session]:
        """Sessions on ``day`` and after, in order (for SEARCH_DAYS days)."""
        for offset in range(SEARCH_DAYS):
            session = self.session(day + dt.timedelta(days=offset))
            if session is not None:
                yield session

    def next_session(self, after: dt.datetime) -> Session:
        """The session in progress at ``after`` (pre-open included), or else the next one.

        That is the first session whose close is later than ``after``.
        """
        after = _require_aware(after)
        start = self.trade_date(after) - dt.timedelta(days=1)
        for session in self.sessions_from(start):
            if session.close_at > after:
                return session
        raise ScheduleError("The calendar has no session in the search horizon.")

    def special_days(self, start: dt.date, end: dt.date) -> list[tuple[dt.date, Closure]]:
        """Closed, early-close and late-open days in [start, end] on trading weekdays."""
        found = []
        day = start
        while day <= end:
            if day.weekday() in self.trading_weekdays:
                closure = self.closure(day)
                if closure is not None:
                    found.append((day, closure))
            day += dt.timedelta(days=1)
        return found


def _require_aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("Instants must be timezone-aware.")
    return at
