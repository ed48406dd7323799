"""Instrument services beyond the status machine: defaults on listing, editing terms,
setting the reference price."""

from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.instruments import services
from tests.factories.instruments import InstrumentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("asset_class", "cycle"),
    [("equity", 1), ("etf", 1), ("bond", 1), ("fund", 1), ("commodity", 2), ("private", 2)],
)
def test_settlement_cycle_defaults_by_asset_class(asset_class, cycle):
    instrument = InstrumentFactory(asset_class=asset_class)
    assert instrument.settlement_cycle == cycle
    assert InstrumentFactory(asset_class=asset_class, settlement_cycle=3).settlement_cycle == 3


def test_minimum_quantity_defaults_to_one_lot_and_zero_is_refused():
    assert InstrumentFactory(lot_size="0.001").min_quantity == Decimal("0.001")
    with pytest.raises(ApplicationError) as refused:
        InstrumentFactory(min_quantity="0")
    assert "min_quantity" in refused.value.details


def test_cusip_alone_is_enough_and_is_normalised():
    instrument = InstrumentFactory(isin="", cusip=" 594918104 ")
    assert (instrument.isin, instrument.cusip) == ("", "594918104")


def test_a_new_us_isin_brings_its_cusip(superuser):
    instrument = InstrumentFactory(isin="US0378331005")
    updated = services.instrument_update(
        instrument=instrument, actor=superuser, reason="Reorganisation", isin="US5949181045"
    )
    assert (updated.isin, updated.cusip) == ("US5949181045", "594918104")


def test_update_refuses_fields_that_are_not_terms(superuser):
    instrument = InstrumentFactory()
    with pytest.raises(ApplicationError) as refused:
        services.instrument_update(
            instrument=instrument, actor=superuser, reason="Try", status="delisted"
        )
    assert "status" in refused.value.details


def test_reference_price_set_keeps_the_previous_close_and_the_grid(superuser):
    instrument = InstrumentFactory(reference_price="100.00", previous_close="99.00")
    moved = services.instrument_reference_price_set(
        instrument=instrument, reference_price=Decimal("101.50"), actor=superuser
    )
    assert (moved.reference_price, moved.previous_close) == (Decimal("101.50"), Decimal("99.00"))
    assert moved.price_band() == (Decimal("91.35"), Decimal("111.65"))
    assert moved.day_change == Decimal("2.50") and moved.day_change_pct == Decimal("2.53")
    rolled = services.instrument_reference_price_set(
        instrument=instrument,
        reference_price=Decimal("101.50"),
        previous_close=Decimal("101.50"),
        reason="Official close",
    )
    assert rolled.day_change == 0
    assert rolled.history.first().history_change_reason == "Official close"
    with pytest.raises(ApplicationError) as refused:
        services.instrument_reference_price_set(
            instrument=instrument, reference_price=Decimal("101.505")
        )
    assert "reference_price" in refused.value.details
