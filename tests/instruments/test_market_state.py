"""Market state of an instrument (closed, pre_open, open, halted) from its calendar and
status, and the order-terms check order intake calls."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.instruments import selectors, services
from apps.instruments.choices import ClosureKind
from tests.factories.instruments import InstrumentFactory
from tests.instruments.conftest import utc

pytestmark = pytest.mark.django_db


def state(instrument, at):
    return selectors.market_state(instrument=instrument, at=at)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (utc(2026, 3, 10, 7, 59), "closed"),  # 03:59 EDT
        (utc(2026, 3, 10, 8, 0), "pre_open"),  # 04:00 EDT
        (utc(2026, 3, 10, 13, 29, 59), "pre_open"),
        (utc(2026, 3, 10, 13, 30), "open"),  # 09:30 EDT
        (utc(2026, 3, 10, 19, 59, 59), "open"),
        (utc(2026, 3, 10, 20, 0), "closed"),  # 16:00 EDT
        (utc(2026, 3, 5, 14, 29), "pre_open"),  # before the clocks change: 09:29 EST
        (utc(2026, 3, 5, 14, 30), "open"),
        (utc(2026, 3, 7, 15, 0), "closed"),  # Saturday
        (utc(2026, 11, 26, 15, 0), "closed"),  # Thanksgiving
        (utc(2026, 11, 27, 17, 59), "open"),  # early close at 13:00 EST
        (utc(2026, 11, 27, 18, 0), "closed"),
    ],
)
def test_listed_instrument_follows_its_calendar(stock, at, expected):
    assert state(stock, at) == expected


def test_halted_is_halted_at_any_hour(stock, superuser):
    services.instrument_halt(instrument=stock, actor=superuser, reason="News pending")
    stock.refresh_from_db()
    assert state(stock, utc(2026, 3, 10, 15)) == "halted"
    assert state(stock, utc(2026, 3, 7, 15)) == "halted"


def test_suspended_and_delisted_are_closed_during_the_session(stock, superuser):
    during = utc(2026, 3, 10, 15)
    stock = services.instrument_suspend(instrument=stock, actor=superuser, reason="SEC order")
    assert state(stock, during) == "closed"
    stock = services.instrument_delist(instrument=stock, actor=superuser, reason="Merged away")
    assert state(stock, during) == "closed"


def test_round_the_clock_is_open_on_weekends_and_holidays(gold):
    assert state(gold, utc(2026, 3, 8, 3)) == "open"  # Sunday night
    assert state(gold, utc(2026, 12, 25, 12)) == "open"  # Christmas
    assert state(gold, utc(2026, 3, 8, 0)) == "open"  # midnight belongs to the new day


def test_round_the_clock_late_open_for_maintenance(gold, always, superuser):
    services.calendar_closure_add(
        calendar=always,
        actor=superuser,
        date=dt.date(2026, 3, 8),
        kind=ClosureKind.LATE_OPEN,
        open_time=dt.time(6),
        reason="Platform maintenance",
    )
    gold.calendar.refresh_from_db()
    assert state(gold, utc(2026, 3, 8, 5, 59)) == "closed"
    assert state(gold, utc(2026, 3, 8, 6)) == "open"


def test_trade_and_settlement_dates(stock, gold):
    friday = selectors.trade_date(calendar=stock.calendar, at=utc(2026, 3, 6, 20))
    assert friday == dt.date(2026, 3, 6)
    assert selectors.settlement_date(instrument=stock, trade_date=friday) == dt.date(2026, 3, 9)
    # Gold settles T+2 on its round-the-clock calendar.
    assert gold.settlement_cycle == 2
    assert selectors.settlement_date(instrument=gold, trade_date=friday) == dt.date(2026, 3, 8)
    bond = InstrumentFactory(asset_class="bond", calendar="SIFMA", settlement_cycle=2)
    assert selectors.settlement_date(instrument=bond, trade_date=dt.date(2026, 10, 8)) == (
        dt.date(2026, 10, 13)  # over the weekend and Columbus Day
    )


class TestOrderTerms:
    during = utc(2026, 3, 10, 15)

    def check(self, instrument, quantity, price=None, at=None):
        selectors.instrument_check_order_terms(
            instrument=instrument,
            quantity=Decimal(quantity),
            price=Decimal(price) if price else None,
            at=at or self.during,
        )

    def test_good_terms_pass(self, stock, gold):
        self.check(stock, "10", "100.05")
        self.check(stock, "1")  # a market order has no price
        self.check(gold, "0.125", "128.64", at=utc(2026, 3, 8, 3))

    @pytest.mark.parametrize(
        ("quantity", "price", "field"),
        [
            ("0.5", "100.00", "quantity"),  # below the minimum
            ("1.5", "100.00", "quantity"),  # off the lot step
            ("10", "100.005", "price"),  # off the tick
            ("10", "110.01", "price"),  # above the 10 % band around 100
            ("10", "89.99", "price"),
        ],
    )
    def test_bad_terms_are_refused(self, stock, quantity, price, field):
        with pytest.raises(ApplicationError) as refused:
            self.check(stock, quantity, price)
        assert refused.value.code == "invalid"
        assert field in refused.value.details

    def test_band_edges_are_inside(self, stock):
        assert stock.price_band() == (Decimal("90"), Decimal("110"))
        self.check(stock, "1", "90.00")
        self.check(stock, "1", "110.00")

    def test_a_halted_instrument_is_not_tradable(self, stock, superuser):
        services.instrument_halt(instrument=stock, actor=superuser, reason="Pending news")
        stock = selectors.instrument_get(symbol="ACME")
        with pytest.raises(ApplicationError) as refused:
            self.check(stock, "1", "100.00")
        assert refused.value.code == "instrument_not_tradable"
        assert refused.value.status == 422
        assert refused.value.details == {
            "symbol": "ACME",
            "market_state": "halted",
            "halt_reason": "Pending news",
        }

    def test_a_closed_market_is_not_tradable(self, stock):
        with pytest.raises(ApplicationError) as refused:
            self.check(stock, "1", "100.00", at=utc(2026, 3, 7, 15))
        assert refused.value.details["market_state"] == "closed"


def test_price_band_rounds_inward_to_the_tick():
    odd = InstrumentFactory(reference_price="33.33", price_band_pct="7.5")
    low, high = odd.price_band()
    assert (low, high) == (Decimal("30.84"), Decimal("35.82"))  # 30.83025 up, 35.82975 down
