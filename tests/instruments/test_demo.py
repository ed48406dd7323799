"""The demo instruments: a realistic set, loaded idempotently."""

import io

import pytest

from apps.instruments import demo
from apps.instruments.identifiers import is_valid_cusip, is_valid_isin
from apps.instruments.models import CalendarClosure, Instrument, InstrumentHalt

pytestmark = pytest.mark.django_db


def test_demo_loads_once():
    out = io.StringIO()
    demo.load(out)
    demo.load(out)
    assert Instrument.objects.count() == len(demo.INSTRUMENTS) == 16
    assert InstrumentHalt.objects.count() == 1
    assert CalendarClosure.objects.count() == 1
    assert "16 listed (0 new)" in out.getvalue()


def test_demo_set_is_realistic():
    demo.load(io.StringIO())
    by_class = {}
    for instrument in Instrument.objects.select_related("calendar"):
        by_class.setdefault(instrument.asset_class, []).append(instrument)
        assert instrument.status == "listed"
        if instrument.isin:
            assert is_valid_isin(instrument.isin) and is_valid_cusip(instrument.cusip)
        assert instrument.reference_price % instrument.tick_size == 0
    assert len(by_class["equity"]) + len(by_class["etf"]) == 12
    assert {i.settlement_cycle for i in by_class["equity"] + by_class["etf"]} == {1}
    (bond,) = by_class["bond"]
    assert (bond.calendar.code, bond.settlement_cycle) == ("SIFMA", 1)
    assert len(by_class["fund"]) == 1
    (gold,) = by_class["commodity"]
    assert (gold.calendar.code, str(gold.lot_size.normalize()), gold.settlement_cycle) == (
        "24x7",
        "0.001",
        2,
    )
    (private,) = by_class["private"]
    assert private.accredited_only and private.settlement_cycle == 2
