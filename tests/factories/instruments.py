"""Instruments and calendars, created through the instruments services."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import factory

from apps.instruments import services
from apps.instruments.choices import AssetClass
from apps.instruments.identifiers import cusip_check_digit, isin_from_cusip
from apps.instruments.models import Instrument, TradingCalendar

_issuers = itertools.count(1)


def next_isin() -> str:
    """A US ISIN with valid CUSIP and ISIN check digits, unique within the test run."""
    n = next(_issuers)
    base = f"9Z{n:04d}10"  # issuer 9Z.... is not assigned to a real company
    return isin_from_cusip(base + cusip_check_digit(base))


def calendar(code: str = "XNYS") -> TradingCalendar:
    """One of the standard calendars (they exist after every migrate)."""
    return TradingCalendar.objects.get(code=code)


class TradingCalendarFactory(factory.django.DjangoModelFactory):
    """A calendar of one's own (the standard ones come with the database)."""

    class Meta:
        model = TradingCalendar

    code = factory.Sequence(lambda n: f"TST{n}")
    name = factory.LazyAttribute(lambda o: f"Test market {o.code}")
    timezone = "America/New_York"
    trading_days = "12345"
    round_the_clock = False
    pre_open_time = dt.time(8, 0)
    open_time = dt.time(9, 30)
    close_time = dt.time(16, 0)
    early_close_time = None
    holiday_source = ""

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> TradingCalendar:
        return services.calendar_create(actor=None, **kwargs)


class InstrumentFactory(factory.django.DjangoModelFactory):
    """A listed US equity on NYSE hours unless told otherwise; ``calendar`` takes a code."""

    class Meta:
        model = Instrument

    symbol = factory.Sequence(lambda n: f"TST{n}")
    name = factory.LazyAttribute(lambda o: f"{o.symbol} Holdings Inc.")
    asset_class = AssetClass.EQUITY
    currency = "USD"
    isin = factory.LazyFunction(next_isin)
    cusip = ""
    tick_size = Decimal("0.01")
    lot_size = Decimal("1")
    min_quantity = None
    price_band_pct = Decimal("10")
    reference_price = Decimal("100.00")
    previous_close = Decimal("99.00")
    settlement_cycle = None
    calendar = "XNYS"
    accredited_only = False

    @classmethod
    def _create(cls, model_class: type, *args: object, **kwargs: object) -> Instrument:
        return services.instrument_create(actor=None, **kwargs)
