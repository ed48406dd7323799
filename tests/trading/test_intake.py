"""Order intake: each rule refuses with its API.md code, holds are sized and released exactly,
and cancel, replace and expiry keep the ledger and the book in step."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.instruments import services as instrument_services
from apps.ledger.selectors import cash_balances, ledger_integrity, security_balances
from apps.orders import services
from apps.orders.models import FeeSchedule, Order
from apps.positions.models import Position
from tests.factories import trading
from tests.factories.instruments import InstrumentFactory
from tests.factories.ledger import funded_account

pytestmark = pytest.mark.django_db


def refused(code: str, call, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.fixture
def market():
    instrument = trading.open_instrument(reference_price=Decimal("100.00"))
    FeeSchedule.objects.create(
        asset_class="equity",
        bps=Decimal("10"),
        minimum_per_order=Decimal("1.00"),
        maximum_per_order=Decimal("20.00"),
    )
    return instrument


def test_a_buy_reserves_price_times_quantity_plus_fee(market):
    account = trading.trader("10000.00")
    order = trading.place(account, market, "buy", 10, "100.00")
    # 1000.00 notional, 10 bps = 1.00 fee (the minimum)
    assert order.reserved == Decimal("1001.00") == order.hold_total
    cash = cash_balances(account=account)
    assert (cash.settled, cash.reserved) == (Decimal("8999.00"), Decimal("1001.00"))


def test_buying_power_short_is_insufficient_funds(market):
    account = trading.trader("500.00")
    error = refused("insufficient_funds", trading.place, account, market, "buy", 10, "100.00")
    assert error.details["required"] == "1001.00"
    assert not Order.objects.exists()
    assert cash_balances(account=account).settled == Decimal("500.00")


def test_cash_accounts_cannot_sell_short(market):
    account = trading.trader()
    trading.shares(account, market, 5)
    refused("insufficient_position", trading.place, account, market, "sell", 6, "100.00")
    trading.place(account, market, "sell", 5, "100.00")
    assert security_balances(account=account, instrument=market).reserved == 5


def test_no_kyc_means_kyc_required(market):
    account = funded_account("1000.00", kyc_tier=None)
    refused("kyc_required", trading.place, account, market, "buy", 1, "100.00")


def test_daily_tier_limit_counts_every_order_of_the_day(market):
    account = funded_account("5000.00", kyc_tier=1)  # 1,000 a day
    trading.place(account, market, "buy", 6, "100.00")
    error = refused("limit_exceeded", trading.place, account, market, "buy", 5, "100.00")
    assert error.details["remaining"] == "400.00"


def test_fat_finger_cap(market, settings):
    settings.ORDER_MAX_NOTIONAL = Decimal("5000")
    account = trading.trader()
    error = refused("limit_exceeded", trading.place, account, market, "buy", 60, "100.00")
    assert error.details["rule"] == "max_order_notional"


def test_halted_and_accredited_only_instruments_are_not_tradable(market):
    account = trading.trader()
    instrument_services.instrument_halt(
        instrument=market, actor=None, reason="news pending", enforce_permission=False
    )
    refused("instrument_not_tradable", trading.place, account, market, "buy", 1, "100.00")
    private = trading.open_instrument(asset_class="private", accredited_only=True)
    error = refused("instrument_not_tradable", trading.place, account, private, "buy", 1, "100.00")
    assert error.details["rule"] == "accredited_only"


def test_tick_lot_and_price_band(market):
    account = trading.trader()
    error = refused("invalid", trading.place, account, market, "buy", 1, "100.005")
    assert "limit_price" in error.details
    refused("invalid", trading.place, account, market, "buy", Decimal("1.5"), "100.00")
    error = refused("invalid", trading.place, account, market, "buy", 1, "150.00")
    assert "between" in error.details["limit_price"][0]


def test_inactive_account_is_invalid_state(market):
    account = funded_account("1000.00", status="pending", kyc_tier=None)
    refused("invalid_state", trading.place, account, market, "buy", 1, "100.00")


def test_outside_the_session_market_orders_are_refused_and_limits_wait():
    instrument = InstrumentFactory(calendar="XNYS", reference_price=Decimal("100.00"))
    account = trading.trader()
    sunday = dt.datetime(2026, 11, 22, 15, 0, tzinfo=dt.UTC)
    terms = services.OrderTerms(side="buy", type="market", quantity=Decimal(1))
    assessment = services.order_assess(
        account=account, instrument=instrument, terms=terms, now=sunday
    )
    assert assessment.error.code == "instrument_not_tradable"
    terms = services.OrderTerms(
        side="buy", type="limit", quantity=Decimal(1), limit_price=Decimal("100.00")
    )
    assessment = services.order_assess(
        account=account, instrument=instrument, terms=terms, now=sunday
    )
    assert assessment.error is None and assessment.queued
    # a DAY order placed on Sunday lives until Monday's close (21:00 UTC in November)
    assert assessment.expires_at == dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.UTC)


def test_client_order_id_is_idempotent(market):
    account = trading.trader()
    first = trading.place(account, market, "buy", 1, "100.00", client_order_id="abc-1")
    again, created = services.order_place(
        account=account,
        instrument=market,
        side="buy",
        type="limit",
        quantity=Decimal(1),
        limit_price=Decimal("100.00"),
        time_in_force="gtc",
        client_order_id="abc-1",
    )
    assert (again.pk, created) == (first.pk, False)
    refused(
        "idempotency_conflict",
        trading.place,
        account,
        market,
        "buy",
        2,
        "100.00",
        client_order_id="abc-1",
    )
    assert Order.objects.count() == 1


def test_cancel_releases_the_hold_once(market):
    account = trading.trader("10000.00")
    order = trading.place(account, market, "buy", 10, "100.00")
    trading.match(market)
    services.order_cancel(order=order, actor=account.owner)
    order.refresh_from_db()
    assert (order.status, order.reserved) == ("cancelled", 0)
    assert cash_balances(account=account).settled == Decimal("10000.00")
    refused("invalid_state", services.order_cancel, order=order, actor=account.owner)
    assert ledger_integrity().ok


def test_replace_down_keeps_priority_up_loses_it(market):
    seller_a, seller_b, buyer = trading.trader(), trading.trader(), trading.trader()
    trading.shares(seller_a, market, 100)
    trading.shares(seller_b, market, 100)
    first = trading.place(seller_a, market, "sell", 50, "101.00")
    second = trading.place(seller_b, market, "sell", 50, "101.00")
    trading.match(market)
    services.order_replace(order=first, actor=None, quantity=Decimal(40))
    first.refresh_from_db()
    assert first.reserved == 40 and not first.needs_match
    trading.place(buyer, market, "buy", 10, "101.00")
    trading.match(market)
    first.refresh_from_db()
    assert first.filled_quantity == 10  # still first in the queue
    services.order_replace(order=first, actor=None, quantity=Decimal(60))
    trading.match(market)
    trading.place(buyer, market, "buy", 10, "101.00")
    trading.match(market)
    second.refresh_from_db()
    assert second.filled_quantity == 10  # the grown order went to the back
    assert ledger_integrity().ok


def test_ioc_remainder_is_cancelled_and_released(market):
    seller, buyer = trading.trader(), trading.trader("10000.00")
    trading.shares(seller, market, 5)
    trading.place(seller, market, "sell", 5, "100.00")
    trading.match(market)
    order = trading.place(buyer, market, "buy", 8, "100.00", time_in_force="ioc")
    trading.match(market)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.reserved) == ("cancelled", 5, 0)
    assert order.cancel_source == "market"
    # paid 500.00 + fee 1.00 (minimum, once)
    assert cash_balances(account=buyer).settled == Decimal("10000.00") - Decimal("501.00")


def test_fok_that_cannot_fill_touches_nothing(market):
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, market, 5)
    trading.place(seller, market, "sell", 5, "100.00")
    trading.match(market)
    order = trading.place(buyer, market, "buy", 8, "100.00", time_in_force="fok")
    trading.match(market)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("cancelled", 0)


def test_self_trade_cancels_the_resting_order(market):
    account = trading.trader()
    trading.shares(account, market, 10)
    resting = trading.place(account, market, "sell", 10, "100.00")
    trading.match(market)
    trading.place(account, market, "buy", 10, "100.00")
    trading.match(market)
    resting.refresh_from_db()
    assert (resting.status, resting.cancel_source) == ("cancelled", "self_trade")
    assert ledger_integrity().ok


def test_market_buy_pays_within_its_collar(market):
    seller, buyer = trading.trader(), trading.trader("100000.00")
    trading.shares(seller, market, 20)
    trading.place(seller, market, "sell", 10, "100.00")
    trading.place(seller, market, "sell", 10, "109.00")
    trading.match(market)
    order = trading.place(buyer, market, "buy", 20, time_in_force="ioc")
    assert order.protection_price == Decimal("105.00")  # 5% above the best ask
    trading.match(market)
    order.refresh_from_db()
    assert (order.filled_quantity, order.status) == (10, "cancelled")


def test_stop_order_triggers_on_the_last_trade(market):
    seller, buyer, stopper = trading.trader(), trading.trader(), trading.trader()
    trading.shares(seller, market, 30)
    trading.shares(stopper, market, 10)
    stop = trading.place(
        stopper,
        market,
        "sell",
        10,
        type="stop",
        stop_price=Decimal("99.00"),
        time_in_force="gtc",
    )
    trading.place(buyer, market, "buy", 10, "98.00")
    trading.match(market)
    stop.refresh_from_db()
    assert stop.status == "pending_trigger"
    trading.place(seller, market, "sell", 5, "98.00")
    trading.match(market)  # prints 98.00: the stop triggers and sells into the 98.00 bid
    stop.refresh_from_db()
    assert stop.status == "partially_filled" or stop.status == "cancelled"
    assert stop.filled_quantity == 5
    assert ledger_integrity().ok


def test_day_and_gtd_orders_expire_and_release(market):
    account = trading.trader("10000.00")
    gtd = trading.place(
        account,
        market,
        "buy",
        1,
        "100.00",
        time_in_force="gtd",
        expire_at=timezone.now() + dt.timedelta(hours=1),
    )
    day = trading.place(account, market, "buy", 1, "100.00", time_in_force="day")
    trading.match(market)
    assert services.orders_expire_due(now=timezone.now() + dt.timedelta(hours=2)) == 1
    gtd.refresh_from_db()
    assert (gtd.status, gtd.reserved) == ("expired", 0)
    assert services.orders_expire_due(now=day.expires_at + dt.timedelta(seconds=1)) == 1
    day.refresh_from_db()
    assert day.status == "expired"
    assert cash_balances(account=account).settled == Decimal("10000.00")


def test_buying_with_unsettled_proceeds_records_it(market):
    seller, buyer = trading.trader("0.00"), trading.trader()
    trading.shares(seller, market, 10)
    trading.place(seller, market, "sell", 10, "100.00")
    trading.match(market)
    trading.place(buyer, market, "buy", 10, "100.00")
    trading.match(market)
    cash = cash_balances(account=seller)
    assert cash.unsettled == Decimal("999.00")  # 1000.00 less the 1.00 fee
    order = trading.place(seller, market, "buy", 5, "100.00")
    assert order.hold_from_unsettled == order.reserved == Decimal("501.00")
    services.order_cancel(order=order, actor=None)
    assert cash_balances(account=seller).unsettled == Decimal("999.00")


def test_lot_relief_fifo_lifo_hifo_and_specific(market):
    from apps.accounts.services import trading_account_settings_update
    from apps.positions.models import TaxLot

    old, new = timezone.localdate() - dt.timedelta(days=400), timezone.localdate()
    results = {}
    for method in ("fifo", "lifo", "hifo", "specific"):
        seller, buyer = trading.trader(), trading.trader()
        trading_account_settings_update(
            account=seller, actor=seller.owner, reason="test", lot_relief_method=method
        )
        trading.shares(seller, market, 10, cost="500.00", acquired_on=old)  # 50/share
        trading.shares(seller, market, 10, cost="1200.00", acquired_on=new)  # 120/share
        lots = list(TaxLot.objects.filter(position__account=seller).order_by("acquired_on"))
        extra = {"lot_ids": [lots[1].pk]} if method == "specific" else {}
        trading.place(seller, market, "sell", 5, "100.00", **extra)
        trading.place(buyer, market, "buy", 5, "100.00")
        trading.match(market)
        position = Position.objects.get(account=seller)
        results[method] = (position.realized_short_term, position.realized_long_term)
    # proceeds 500.00 - 1.00 fee = 499.00
    assert results["fifo"] == (0, Decimal("249.00"))  # old lot, long term: 499 - 250
    assert results["lifo"] == (Decimal("-101.00"), 0)  # new lot: 499 - 600
    assert results["hifo"] == (Decimal("-101.00"), 0)
    assert results["specific"] == (Decimal("-101.00"), 0)
