"""Demo instruments: US equities and ETFs, a Treasury note, a money-market fund, gold by the
gram (round the clock) and an accredited-only private company share.

Idempotent: an instrument whose symbol exists is left as it is. Identifiers are the
securities' real ISINs and CUSIPs; prices are plausible, not live.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, TextIO

from django.db import transaction
from django.utils import timezone

from apps.instruments import services
from apps.instruments.choices import AssetClass, ClosureKind, HaltKind, InstrumentStatus
from apps.instruments.models import Instrument, InstrumentHalt, TradingCalendar

D = Decimal


def _equity(symbol: str, name: str, isin: str, ref: str, prev: str, **extra: Any) -> dict:
    return {
        "symbol": symbol,
        "name": name,
        "asset_class": AssetClass.EQUITY,
        "isin": isin,
        "reference_price": D(ref),
        "previous_close": D(prev),
        "calendar": "XNYS",
        **extra,
    }


def _etf(symbol: str, name: str, isin: str, ref: str, prev: str) -> dict:
    return _equity(symbol, name, isin, ref, prev, asset_class=AssetClass.ETF)


INSTRUMENTS: list[dict[str, Any]] = [
    _equity("AAPL", "Apple Inc.", "US0378331005", "268.47", "266.25"),
    _equity("MSFT", "Microsoft Corporation", "US5949181045", "508.68", "511.14"),
    _equity("AMZN", "Amazon.com, Inc.", "US0231351067", "229.67", "226.97"),
    _equity("GOOGL", "Alphabet Inc. Class A", "US02079K3059", "278.57", "275.17"),
    _equity("NVDA", "NVIDIA Corporation", "US67066G1040", "186.26", "188.15"),
    _equity("JPM", "JPMorgan Chase & Co.", "US46625H1005", "304.52", "302.91"),
    _equity("XOM", "Exxon Mobil Corporation", "US30231G1022", "116.39", "117.08"),
    _equity("JNJ", "Johnson & Johnson", "US4781601046", "195.21", "193.84"),
    _etf("SPY", "SPDR S&P 500 ETF Trust", "US78462F1030", "671.93", "668.47"),
    _etf("QQQ", "Invesco QQQ Trust, Series 1", "US46090E1038", "611.05", "606.78"),
    _etf("IWM", "iShares Russell 2000 ETF", "US4642876555", "245.12", "243.36"),
    _etf("TLT", "iShares 20+ Year Treasury Bond ETF", "US4642874329", "89.74", "89.95"),
    {
        # Quoted per 100 of face value; one unit is 100 of face, ten units the minimum.
        "symbol": "T-4.25-2034",
        "name": "US Treasury Note 4.25% 15 Nov 2034 (per 100 face)",
        "asset_class": AssetClass.BOND,
        "isin": "US91282CLW90",
        "tick_size": D("0.001"),
        "lot_size": D("1"),
        "min_quantity": D("10"),
        "price_band_pct": D("3"),
        "reference_price": D("99.453"),
        "previous_close": D("99.516"),
        "calendar": "SIFMA",
    },
    {
        "symbol": "VMFXX",
        "name": "Vanguard Federal Money Market Fund",
        "asset_class": AssetClass.FUND,
        "isin": "US9229063006",
        "tick_size": D("0.01"),
        "lot_size": D("0.001"),
        "min_quantity": D("1"),
        "price_band_pct": D("1"),
        "reference_price": D("1.00"),
        "previous_close": D("1.00"),
        "calendar": "XNYS",
    },
    {
        # Spot gold settles T+2 (the asset class's default); trades at any hour.
        "symbol": "XAU-G",
        "name": "Gold, allocated, per gram",
        "asset_class": AssetClass.COMMODITY,
        "tick_size": D("0.01"),
        "lot_size": D("0.001"),
        "min_quantity": D("0.001"),
        "price_band_pct": D("8"),
        "reference_price": D("128.64"),
        "previous_close": D("127.91"),
        "calendar": "24x7",
    },
    {
        "symbol": "NWRB",
        "name": "Northwind Robotics, Inc. (private, common)",
        "asset_class": AssetClass.PRIVATE,
        "tick_size": D("0.01"),
        "lot_size": D("1"),
        "min_quantity": D("100"),
        "price_band_pct": D("20"),
        "reference_price": D("14.25"),
        "previous_close": D("14.25"),
        "calendar": "XNYS",
        "accredited_only": True,
    },
]


def _halt_history() -> None:
    """A volatility pause that is over, so the halt history has something to show."""
    if InstrumentHalt.objects.exists():
        return
    nvda = Instrument.objects.filter(symbol="NVDA", status=InstrumentStatus.LISTED).first()
    if nvda is None:
        return
    services.instrument_halt(
        instrument=nvda,
        actor=None,
        kind=HaltKind.VOLATILITY,
        reason="Limit up-limit down pause: the price left its band for 15 seconds.",
        enforce_permission=False,
    )
    services.instrument_resume(
        instrument=nvda,
        actor=None,
        reason="Five-minute pause over; reopened by auction.",
        enforce_permission=False,
    )


def _maintenance_window() -> None:
    """A late open on the round-the-clock calendar: the first Sunday two weeks or more ahead,
    for platform maintenance (staff closures look like this)."""
    calendar = TradingCalendar.objects.filter(code="24x7").first()
    if calendar is None or calendar.closures.exists():
        return
    day = timezone.now().date() + dt.timedelta(days=14)
    day += dt.timedelta(days=(6 - day.weekday()) % 7)
    services.calendar_closure_add(
        calendar=calendar,
        actor=None,
        date=day,
        kind=ClosureKind.LATE_OPEN,
        open_time=dt.time(6, 0),
        reason="Platform maintenance: round-the-clock trading resumes at 06:00 UTC.",
    )


def _corporate_actions() -> None:
    """An announced AAPL dividend and a reverse split of NWRB waiting for a second staff
    member's approval, entered by the operations demo user."""
    from apps.accounts.models import User
    from apps.instruments.models import CorporateAction
    from apps.instruments.selectors import add_business_days

    if CorporateAction.objects.exists():
        return
    ops = User.objects.filter(email="ops@bourse.local").first()
    aapl = Instrument.objects.filter(symbol="AAPL").first()
    if aapl is not None:
        record = add_business_days(
            calendar=aapl.calendar, start=timezone.localdate() + dt.timedelta(days=14), days=0
        )
        services.corporate_action_declare(
            actor=ops,
            instrument=aapl,
            kind="cash_dividend",
            description="Quarterly dividend",
            record_date=record,
            pay_date=add_business_days(calendar=aapl.calendar, start=record, days=3),
            amount_per_share=D("0.26"),
            announce=True,
            enforce_permission=False,
        )
    nwrb = Instrument.objects.filter(symbol="NWRB").first()
    if nwrb is not None:
        services.corporate_action_declare(
            actor=ops,
            instrument=nwrb,
            kind="reverse_split",
            description="Share consolidation ahead of a listing",
            ratio_new=1,
            ratio_old=5,
            effective_date=timezone.localdate() + dt.timedelta(days=30),
            cash_in_lieu_price=D("71.25"),
            enforce_permission=False,
        )


@transaction.atomic
def load(out: TextIO) -> None:
    services.calendars_ensure_standard()
    existing = set(Instrument.objects.values_list("symbol", flat=True))
    created = []
    for spec in INSTRUMENTS:
        if spec["symbol"] in existing:
            continue
        services.instrument_create(actor=None, reason="Demo data", **spec)
        created.append(spec["symbol"])
    _halt_history()
    _maintenance_window()
    _corporate_actions()
    total = Instrument.objects.count()
    out.write(f"Instruments: {total} listed ({len(created)} new).\n")
