"""Settlement dates: trade date + the instrument's cycle in business days of its calendar
(XNYS: weekends, exchange holidays, early closes, year-end), and a run settles an instruction
on its date, not before."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from apps.instruments.selectors import settlement_date
from apps.settlement.models import SettlementInstruction
from tests.factories import trading
from tests.factories.instruments import InstrumentFactory
from tests.settlement.conftest import assert_books_clean, balance, run, trade

pytestmark = pytest.mark.django_db

D = dt.date


@pytest.mark.parametrize(
    ("cycle", "traded", "settles"),
    [
        (1, D(2026, 11, 18), D(2026, 11, 19)),  # an ordinary Wednesday
        (1, D(2026, 11, 20), D(2026, 11, 23)),  # Friday: over the weekend
        (2, D(2026, 11, 19), D(2026, 11, 23)),  # Thursday, T+2: over the weekend
        (1, D(2026, 11, 25), D(2026, 11, 27)),  # Thanksgiving closed; the early close counts
        (2, D(2026, 11, 25), D(2026, 11, 30)),
        (1, D(2026, 4, 2), D(2026, 4, 6)),  # Good Friday
        (1, D(2026, 7, 2), D(2026, 7, 6)),  # Independence Day observed on Friday 3 July
        (1, D(2026, 12, 24), D(2026, 12, 28)),  # Christmas Eve (early close) to Monday
        (1, D(2026, 12, 31), D(2027, 1, 4)),  # year-end: New Year's Day on a Friday
        (2, D(2026, 12, 30), D(2027, 1, 4)),
        (2, D(2026, 12, 31), D(2027, 1, 5)),
        (1, D(2027, 12, 30), D(2027, 12, 31)),  # New Year's Day 2028 is a Saturday: no closure
        (2, D(2027, 12, 23), D(2027, 12, 28)),  # Christmas observed on Friday 24 December
    ],
)
def test_xnys_settlement_dates(cycle, traded, settles):
    instrument = InstrumentFactory(calendar="XNYS", settlement_cycle=cycle)
    assert settlement_date(instrument=instrument, trade_date=traded) == settles


def test_the_default_cycle_follows_the_asset_class():
    equity = InstrumentFactory(calendar="XNYS", asset_class="equity")
    gold = InstrumentFactory(
        calendar="XNYS", asset_class="commodity", isin="", lot_size=Decimal("0.001")
    )
    assert (equity.settlement_cycle, gold.settlement_cycle) == (1, 2)
    assert settlement_date(instrument=equity, trade_date=D(2026, 12, 31)) == D(2027, 1, 4)
    assert settlement_date(instrument=gold, trade_date=D(2026, 12, 31)) == D(2027, 1, 5)


def test_a_year_end_trade_settles_on_its_date_after_the_holiday():
    t1 = InstrumentFactory(calendar="XNYS", settlement_cycle=1)
    t2 = InstrumentFactory(calendar="XNYS", settlement_cycle=2)
    with time_machine.travel(dt.datetime(2026, 12, 31, 20, 0, tzinfo=dt.UTC), tick=True):
        seller, buyer = trading.trader(), trading.trader()
        trading.shares(seller, t1, 10)
        trading.shares(seller, t2, 10)
        trade(t1, seller, buyer, 10, "100.00")
        trade(t2, seller, buyer, 10, "100.00")
    dates = dict(
        SettlementInstruction.objects.filter(account=buyer).values_list(
            "instrument_id", "settlement_date"
        )
    )
    assert dates == {t1.pk: D(2027, 1, 4), t2.pk: D(2027, 1, 5)}
    assert SettlementInstruction.objects.get(account=buyer, instrument=t1).trade_date == D(
        2026, 12, 31
    )

    for day in (D(2026, 12, 31), D(2027, 1, 1), D(2027, 1, 3)):
        assert run(day).instructions_settled == 0
    assert balance(buyer, t1) == 0 and balance(buyer, t1, "unsettled") == 10

    assert run(D(2027, 1, 4)).instructions_settled == 2  # t1's buy and sell
    assert balance(buyer, t1) == 10 and balance(buyer, t2) == 0
    assert run(D(2027, 1, 5)).instructions_settled == 2
    assert balance(buyer, t2) == 10
    assert balance(seller, "USD") == Decimal("100000.00") + Decimal("2000.00")
    assert_books_clean()


def test_a_calendar_run_settles_only_its_calendar():
    nyse = InstrumentFactory(calendar="XNYS", settlement_cycle=1)
    gold = trading.open_instrument(settlement_cycle=1)
    with time_machine.travel(dt.datetime(2026, 11, 18, 18, 0, tzinfo=dt.UTC), tick=True):
        seller, buyer = trading.trader(), trading.trader()
        trading.shares(seller, nyse, 5)
        trading.shares(seller, gold, 5)
        trade(nyse, seller, buyer, 5, "100.00")
        trade(gold, seller, buyer, 5, "100.00")
    from apps.instruments.selectors import calendar_get

    settled = run(D(2026, 11, 19), calendar=calendar_get(code="24x7"))
    assert settled.instructions_settled == 2
    assert balance(buyer, gold) == 5 and balance(buyer, nyse) == 0
    assert run(D(2026, 11, 19), calendar=calendar_get(code="XNYS")).instructions_settled == 2
    assert balance(buyer, nyse) == 5
    assert_books_clean()
