"""Fixtures of the instruments tests: the standard calendars and a few instruments."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories.instruments import InstrumentFactory, calendar

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def nyse(db):
    return calendar("XNYS")


@pytest.fixture
def bonds(db):
    return calendar("SIFMA")


@pytest.fixture
def always(db):
    return calendar("24x7")


@pytest.fixture
def stock(db):
    return InstrumentFactory(symbol="ACME", name="Acme Corporation")


@pytest.fixture
def gold(db):
    return InstrumentFactory(
        symbol="XAU-G",
        name="Gold, per gram",
        asset_class="commodity",
        isin="",
        calendar="24x7",
        lot_size="0.001",
        reference_price="128.64",
        previous_close="127.91",
    )
