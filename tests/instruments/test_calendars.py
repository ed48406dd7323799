"""Calendar arithmetic: business days across weekends and NYSE holidays, early closes, the
bond market's own holidays, staff closures, and time-zone edges (DST changes)."""

import datetime as dt

import pytest

from apps.core.errors import ApplicationError
from apps.instruments import selectors, services
from apps.instruments.choices import ClosureKind
from apps.instruments.schedule import Schedule, ScheduleError
from tests.factories.instruments import TradingCalendarFactory
from tests.instruments.conftest import utc

pytestmark = pytest.mark.django_db

D = dt.date


def add(calendar, start, days):
    return selectors.add_business_days(calendar=calendar, start=start, days=days)


# --- Business days --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (D(2026, 3, 6), 1, D(2026, 3, 9)),  # Friday + 1 -> Monday
        (D(2026, 3, 6), 2, D(2026, 3, 10)),
        (D(2026, 3, 7), 1, D(2026, 3, 9)),  # from a Saturday: the next business day
        (D(2026, 3, 9), 5, D(2026, 3, 16)),  # a full week
        (D(2026, 4, 2), 1, D(2026, 4, 6)),  # Good Friday closed
        (D(2026, 1, 16), 1, D(2026, 1, 20)),  # Martin Luther King Jr. Day
        (D(2026, 6, 18), 1, D(2026, 6, 22)),  # Juneteenth (Friday)
        (D(2026, 7, 2), 1, D(2026, 7, 6)),  # 4 July on a Saturday: closed Friday 3 July
        (D(2026, 11, 25), 1, D(2026, 11, 27)),  # over Thanksgiving to its early-close Friday
        (D(2026, 11, 25), 2, D(2026, 11, 30)),
        (D(2026, 12, 24), 1, D(2026, 12, 28)),  # Christmas Friday
        (D(2027, 6, 17), 1, D(2027, 6, 21)),  # Juneteenth on a Saturday: Friday 18 closed
        (D(2027, 12, 23), 1, D(2027, 12, 27)),  # Christmas on a Saturday: Friday 24 closed
        (D(2027, 12, 30), 1, D(2027, 12, 31)),  # New Year on a Saturday: 31 Dec stays open
        (D(2027, 12, 30), 2, D(2028, 1, 3)),
        (D(2025, 1, 8), 1, D(2025, 1, 10)),  # day of mourning for President Carter
    ],
)
def test_add_business_days_on_nyse(nyse, start, days, expected):
    assert add(nyse, start, days) == expected


def test_counting_back_and_zero_days(nyse):
    assert add(nyse, D(2026, 3, 9), -1) == D(2026, 3, 6)
    assert add(nyse, D(2026, 4, 6), -1) == D(2026, 4, 2)  # back over Good Friday
    assert add(nyse, D(2026, 3, 10), 0) == D(2026, 3, 10)
    assert add(nyse, D(2026, 3, 7), 0) == D(2026, 3, 9)  # Saturday rolls to Monday


def test_is_business_day(nyse, always):
    assert selectors.is_business_day(calendar=nyse, day=D(2026, 11, 27))  # early close
    assert not selectors.is_business_day(calendar=nyse, day=D(2026, 11, 26))
    assert not selectors.is_business_day(calendar=nyse, day=D(2026, 3, 7))
    assert selectors.is_business_day(calendar=always, day=D(2026, 12, 25))
    assert selectors.is_business_day(calendar=always, day=D(2026, 3, 7))


def test_nyse_holidays_of_2026(nyse):
    closed = [
        day
        for day, closure in selectors.special_days(
            calendar=nyse, start=D(2026, 1, 1), end=D(2026, 12, 31)
        )
        if closure.kind == ClosureKind.CLOSED
    ]
    assert closed == [
        D(2026, 1, 1),
        D(2026, 1, 19),
        D(2026, 2, 16),
        D(2026, 4, 3),
        D(2026, 5, 25),
        D(2026, 6, 19),
        D(2026, 7, 3),
        D(2026, 9, 7),
        D(2026, 11, 26),
        D(2026, 12, 25),
    ]


def test_bond_market_keeps_its_own_holidays(nyse, bonds):
    # Columbus Day and Veterans Day: the bond market is shut, the stock market trades.
    assert add(nyse, D(2026, 10, 9), 1) == D(2026, 10, 12)
    assert add(bonds, D(2026, 10, 9), 1) == D(2026, 10, 13)
    assert add(bonds, D(2026, 11, 10), 1) == D(2026, 11, 12)
    # SIFMA closes early at noon on Good Friday 2026, at 2 pm on its other short days.
    good_friday = selectors.session_on(calendar=bonds, day=D(2026, 4, 3))
    assert good_friday.early_close and good_friday.close_at == utc(2026, 4, 3, 16, 0)
    assert selectors.session_on(calendar=bonds, day=D(2026, 12, 31)).close_at == utc(
        2026, 12, 31, 19, 0
    )


def test_round_the_clock_counts_every_day(always):
    assert add(always, D(2026, 3, 6), 2) == D(2026, 3, 8)  # Friday + 2 -> Sunday


# --- Early closes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "close_utc"),
    [
        (D(2025, 7, 3), utc(2025, 7, 3, 17, 0)),  # 1 pm EDT
        (D(2025, 11, 28), utc(2025, 11, 28, 18, 0)),  # 1 pm EST
        (D(2025, 12, 24), utc(2025, 12, 24, 18, 0)),
        (D(2026, 11, 27), utc(2026, 11, 27, 18, 0)),
        (D(2026, 12, 24), utc(2026, 12, 24, 18, 0)),
    ],
)
def test_nyse_early_closes_at_one_pm(nyse, day, close_utc):
    session = selectors.session_on(calendar=nyse, day=day)
    assert session.early_close
    assert session.close_at == close_utc
    assert session.open_at.astimezone(selectors.schedule_for(nyse).zone).time() == dt.time(9, 30)


@pytest.mark.parametrize(
    "day",
    [
        D(2026, 7, 2),  # 4 July is a Saturday: the 3rd is the holiday, the 2nd a full day
        D(2027, 12, 23),  # Christmas on a Saturday: no Christmas Eve early close
        D(2027, 7, 2),  # 4 July on a Sunday (observed Monday): Friday the 2nd is a full day
    ],
)
def test_full_days_where_no_early_close_applies(nyse, day):
    session = selectors.session_on(calendar=nyse, day=day)
    assert not session.early_close
    assert session.close_at.astimezone(selectors.schedule_for(nyse).zone).time() == dt.time(16)


def _rule_early_closes(year: int) -> set[dt.date]:
    """NYSE's rules: 3 July when it is Monday to Thursday (4 July a weekday after it); the
    day after Thanksgiving (fourth Thursday of November); 24 December when it is Monday to
    Thursday (Christmas a weekday after it)."""
    found = set()
    july_3 = D(year, 7, 3)
    if july_3.weekday() <= 3:
        found.add(july_3)
    november_1 = D(year, 11, 1)
    first_thursday = november_1 + dt.timedelta(days=(3 - november_1.weekday()) % 7)
    found.add(first_thursday + dt.timedelta(weeks=3, days=1))
    eve = D(year, 12, 24)
    if eve.weekday() <= 3:
        found.add(eve)
    return found


def test_early_closes_follow_the_rules_for_decades(nyse):
    for year in range(2004, 2041):
        early = {
            day
            for day, closure in selectors.special_days(
                calendar=nyse, start=D(year, 1, 1), end=D(year, 12, 31)
            )
            if closure.kind == ClosureKind.EARLY_CLOSE
        }
        assert early == _rule_early_closes(year), year


# --- Sessions and time zones ----------------------------------------------------------------


def test_sessions_follow_daylight_saving_time(nyse):
    # US clocks go forward on Sunday 8 March 2026: 9:30 is 14:30 UTC before, 13:30 after.
    friday = selectors.session_on(calendar=nyse, day=D(2026, 3, 6))
    monday = selectors.session_on(calendar=nyse, day=D(2026, 3, 9))
    assert (friday.open_at, friday.close_at) == (utc(2026, 3, 6, 14, 30), utc(2026, 3, 6, 21))
    assert (monday.open_at, monday.close_at) == (utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 20))
    assert friday.pre_open_at == utc(2026, 3, 6, 9, 0)
    # Back on Sunday 1 November 2026.
    assert selectors.session_on(calendar=nyse, day=D(2026, 10, 30)).open_at == utc(
        2026, 10, 30, 13, 30
    )
    assert selectors.session_on(calendar=nyse, day=D(2026, 11, 2)).open_at == utc(
        2026, 11, 2, 14, 30
    )


def test_next_session_across_the_spring_forward_weekend(nyse):
    after_close = utc(2026, 3, 6, 21, 0, 1)
    assert selectors.next_session(calendar=nyse, after=after_close) == (
        utc(2026, 3, 9, 13, 30),
        utc(2026, 3, 9, 20, 0),
    )


def test_next_session_is_the_one_in_progress_then_the_next(nyse):
    during = utc(2026, 3, 10, 15, 0)
    assert selectors.next_session(calendar=nyse, after=during) == (
        utc(2026, 3, 10, 13, 30),
        utc(2026, 3, 10, 20, 0),
    )
    # Wednesday before Thanksgiving after the close: the short Friday session is next.
    assert selectors.next_session(calendar=nyse, after=utc(2026, 11, 25, 22)) == (
        utc(2026, 11, 27, 14, 30),
        utc(2026, 11, 27, 18, 0),
    )


def test_next_session_needs_an_aware_instant(nyse):
    with pytest.raises(ValueError, match="timezone-aware"):
        selectors.next_session(calendar=nyse, after=dt.datetime(2026, 3, 10, 15))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 1, 6, 4, 59), D(2026, 1, 5)),  # 23:59 EST
        (utc(2026, 1, 6, 5, 0), D(2026, 1, 6)),  # midnight EST
        (utc(2026, 3, 9, 3, 59), D(2026, 3, 8)),  # 23:59 EDT, the night clocks went forward
        (utc(2026, 3, 9, 4, 0), D(2026, 3, 9)),
        (utc(2026, 11, 2, 4, 59), D(2026, 11, 1)),  # 23:59 EST after falling back
        (utc(2026, 11, 2, 5, 0), D(2026, 11, 2)),
    ],
)
def test_trade_date_is_the_exchange_date(nyse, at, expected):
    assert selectors.trade_date(calendar=nyse, at=at) == expected


def test_trade_date_on_a_utc_calendar(always):
    assert selectors.trade_date(calendar=always, at=utc(2026, 3, 9, 3, 59)) == D(2026, 3, 9)


def test_a_session_over_the_clock_change_is_an_hour_shorter_or_longer():
    """A market trading 01:00-05:00 New York time every day spans the DST switch at 02:00."""
    night = TradingCalendarFactory(
        trading_days="1234567", pre_open_time=None, open_time=dt.time(1), close_time=dt.time(5)
    )
    spring = selectors.session_on(calendar=night, day=D(2026, 3, 8))
    autumn = selectors.session_on(calendar=night, day=D(2026, 11, 1))
    ordinary = selectors.session_on(calendar=night, day=D(2026, 3, 15))
    assert spring.close_at - spring.open_at == dt.timedelta(hours=3)
    assert autumn.close_at - autumn.open_at == dt.timedelta(hours=5)
    assert ordinary.close_at - ordinary.open_at == dt.timedelta(hours=4)
    assert (autumn.open_at, autumn.close_at) == (utc(2026, 11, 1, 5), utc(2026, 11, 1, 10))


def test_a_european_calendar_switches_on_its_own_date():
    """London changes clocks on 29 March 2026, three weeks after New York."""
    london = TradingCalendarFactory(
        timezone="Europe/London",
        pre_open_time=dt.time(7, 50),
        open_time=dt.time(8),
        close_time=dt.time(16, 30),
        holiday_source="XLON",
    )
    assert selectors.session_on(calendar=london, day=D(2026, 3, 27)).open_at == utc(2026, 3, 27, 8)
    assert selectors.session_on(calendar=london, day=D(2026, 3, 30)).open_at == utc(2026, 3, 30, 7)
    assert selectors.session_on(calendar=london, day=D(2026, 12, 28)) is None  # Boxing Day
    # 24 and 31 December close at 12:30 in London; the package names the time.
    eve = selectors.session_on(calendar=london, day=D(2026, 12, 24))
    assert eve.early_close and eve.close_at == utc(2026, 12, 24, 12, 30)


def test_round_the_clock_sessions_run_midnight_to_midnight(always):
    assert selectors.next_session(calendar=always, after=utc(2026, 3, 7, 13, 5)) == (
        utc(2026, 3, 7),
        utc(2026, 3, 8),
    )


def test_schedule_refuses_a_calendar_with_no_session():
    never = Schedule(
        zone=dt.UTC, trading_weekdays=frozenset(), open_time=dt.time(9), close_time=dt.time(17)
    )
    with pytest.raises(ScheduleError):
        never.next_session(utc(2026, 3, 9))


# --- Staff closures -------------------------------------------------------------------------


def test_a_staff_closure_changes_arithmetic_at_once_and_its_removal_restores_it(nyse, superuser):
    day = D(2026, 3, 10)
    assert add(nyse, D(2026, 3, 9), 1) == day  # cached schedule of this calendar version
    closure = services.calendar_closure_add(
        calendar=nyse, actor=superuser, date=day, reason="National day of mourning"
    )
    nyse.refresh_from_db()
    assert add(nyse, D(2026, 3, 9), 1) == D(2026, 3, 11)
    assert selectors.session_on(calendar=nyse, day=day) is None
    assert closure.created_by == superuser
    assert nyse.history.first().history_change_reason.startswith("Closure on 2026-03-10")

    services.calendar_closure_remove(
        closure=closure, actor=superuser, reason="Proclamation withdrawn"
    )
    nyse.refresh_from_db()
    assert add(nyse, D(2026, 3, 9), 1) == day


def test_staff_early_close_and_late_open(nyse, superuser):
    services.calendar_closure_add(
        calendar=nyse,
        actor=superuser,
        date=D(2026, 3, 11),
        kind=ClosureKind.EARLY_CLOSE,
        close_time=dt.time(14, 0),
        reason="Exchange systems upgrade",
    )
    services.calendar_closure_add(
        calendar=nyse,
        actor=superuser,
        date=D(2026, 3, 12),
        kind=ClosureKind.LATE_OPEN,
        open_time=dt.time(11, 0),
        reason="Snowstorm in Manhattan",
    )
    nyse.refresh_from_db()
    early = selectors.session_on(calendar=nyse, day=D(2026, 3, 11))
    late = selectors.session_on(calendar=nyse, day=D(2026, 3, 12))
    assert early.early_close and early.close_at == utc(2026, 3, 11, 18)
    assert late.late_open and late.open_at == utc(2026, 3, 12, 15)
    assert late.note == "Snowstorm in Manhattan"


def test_a_staff_closure_replaces_the_holiday_source_for_its_date(nyse, superuser):
    services.calendar_closure_add(
        calendar=nyse,
        actor=superuser,
        date=D(2026, 11, 27),
        reason="Closed all day after Thanksgiving this year",
    )
    nyse.refresh_from_db()
    assert not selectors.is_business_day(calendar=nyse, day=D(2026, 11, 27))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": ClosureKind.EARLY_CLOSE}, "close_time"),
        ({"kind": ClosureKind.EARLY_CLOSE, "close_time": dt.time(17)}, "close_time"),
        ({"kind": ClosureKind.LATE_OPEN, "open_time": dt.time(8)}, "open_time"),
        ({"kind": "lunch"}, "kind"),
    ],
)
def test_bad_closures_are_refused(nyse, superuser, fields, field):
    with pytest.raises(ApplicationError) as refused:
        services.calendar_closure_add(
            calendar=nyse, actor=superuser, date=D(2026, 3, 11), reason="Testing", **fields
        )
    assert field in refused.value.details


def test_one_closure_per_day(nyse, superuser):
    services.calendar_closure_add(calendar=nyse, actor=superuser, date=D(2026, 3, 11), reason="One")
    with pytest.raises(ApplicationError) as refused:
        services.calendar_closure_add(
            calendar=nyse, actor=superuser, date=D(2026, 3, 11), reason="Two"
        )
    assert "date" in refused.value.details


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"trading_days": "1238"}, "trading_days"),
        ({"open_time": dt.time(16), "close_time": dt.time(9)}, "close_time"),
        ({"pre_open_time": dt.time(10)}, "pre_open_time"),
        ({"holiday_source": "NOPE"}, "holiday_source"),
        ({"early_close_time": dt.time(18)}, "early_close_time"),
    ],
)
def test_bad_calendars_are_refused(fields, field):
    with pytest.raises(ApplicationError) as refused:
        TradingCalendarFactory(**fields)
    assert field in refused.value.details


def test_calendar_update_reloads_cached_schedules(superuser):
    calendar = TradingCalendarFactory()
    assert selectors.session_on(calendar=calendar, day=D(2026, 3, 10)).close_at == utc(
        2026, 3, 10, 20
    )
    calendar = services.calendar_update(
        calendar=calendar, actor=superuser, reason="Longer hours", close_time=dt.time(17)
    )
    assert selectors.session_on(calendar=calendar, day=D(2026, 3, 10)).close_at == utc(
        2026, 3, 10, 21
    )
