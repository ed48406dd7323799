"""Splits and reverse splits: positions and lots on the new basis with the cost kept, cash in
lieu of fractions, the ledger's buckets, open orders, the book and reference prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.instruments import selectors, services
from apps.instruments.models import CorporateAction, CorporateActionEntitlement, Instrument
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import JournalEntry, LedgerAccount
from apps.ledger.selectors import security_balances
from apps.ledger.services import ledger_account_get
from apps.matching.models import BookState
from apps.orders.models import Order
from apps.positions.models import LotRelief, Position, TaxLot
from apps.settlement.services import settlement_run
from tests.corporate_actions.conftest import (
    approve_and_process,
    assert_books_clean,
    split,
    today,
)
from tests.factories import trading
from tests.factories.ledger import cash

pytestmark = pytest.mark.django_db


def _position(account, instrument) -> Position:
    return Position.objects.get(account=account, instrument=instrument)


def _lots(account, instrument) -> list[tuple[Decimal, Decimal]]:
    return [
        (lot.quantity, lot.cost)
        for lot in TaxLot.objects.filter(
            position__account=account, position__instrument=instrument
        ).order_by("acquired_on", "pk")
    ]


def test_three_for_two_pays_the_fraction_in_cash_and_keeps_the_cost(ops, ops2):
    instrument = trading.open_instrument()  # reference 100.00, previous close 99.00
    holder, other = trading.trader(), trading.trader()
    trading.shares(holder, instrument, 51, cost="5100", acquired_on=today() - dt.timedelta(800))
    trading.shares(holder, instrument, 50, cost="5000", acquired_on=today() - dt.timedelta(10))
    trading.shares(other, instrument, 10, cost="990")
    custody = ledger_account_get(
        house=HouseAccount.CUSTODY, instrument=instrument, bucket=Bucket.SETTLED
    )
    custody_before = custody.balance
    holder_cash = cash(holder)

    action = split(instrument, ops, 3, 2, cash_in_lieu_price="66.67")
    preview = selectors.corporate_action_preview(action=action)
    assert [
        (line.quantity, line.new_quantity, line.fraction, line.net) for line in preview.lines
    ] == [
        (Decimal(101), Decimal(151), Decimal("0.5"), Decimal("33.34")),
        (Decimal(10), Decimal(15), Decimal(0), Decimal(0)),
    ]
    action = approve_and_process(action, ops2)

    position = _position(holder, instrument)
    assert (position.quantity, position.settled_quantity) == (151, 151)
    # 101 shares cost 10,100: the 151 left cost that less what the half share gave up.
    relief = LotRelief.objects.get(position=position)
    assert (relief.quantity, relief.cost, relief.proceeds) == (
        Decimal("0.5"),
        Decimal("33.33333333"),
        Decimal("33.34"),
    )
    assert relief.gain == Decimal("0.00666667") and relief.term == "long"
    assert relief.reference == action.reference
    assert position.cost_basis + relief.cost == Decimal("10100")
    assert position.average_cost == Decimal("66.66666667")
    assert position.realized_long_term == position.realized_pnl == relief.gain
    assert _lots(holder, instrument) == [
        (Decimal("76"), Decimal("5066.66666667")),
        (Decimal("75"), Decimal("5000")),
    ]
    assert _lots(other, instrument) == [(Decimal("15"), Decimal("990"))]
    assert _position(other, instrument).average_cost == Decimal("66")
    # The ledger: shares from custody, the half share's cash to the holder's settled cash.
    assert security_balances(account=holder, instrument=instrument).settled == 151
    custody.refresh_from_db()
    assert custody_before - custody.balance == Decimal(50 + 5)
    assert cash(holder) - holder_cash == Decimal("33.34")
    kinds = sorted(
        JournalEntry.objects.filter(reference=action.reference).values_list("kind", flat=True)
    )
    assert kinds == ["cash_in_lieu", "split", "split"]
    row = CorporateActionEntitlement.objects.get(action=action, account=holder)
    assert (row.quantity, row.new_quantity, row.fraction, row.net) == (
        101,
        151,
        Decimal("0.5"),
        Decimal("33.34"),
    )
    instrument.refresh_from_db()
    assert (instrument.reference_price, instrument.previous_close) == (
        Decimal("66.67"),
        Decimal("66.00"),
    )
    assert action.summary["cash_in_lieu"] == "33.34"
    assert_books_clean()


def test_a_reverse_split_cancels_open_orders_and_pays_the_fraction(ops, ops2, settings):
    settings.CORPORATE_ACTION_OPEN_ORDERS = {"split": "adjust", "reverse_split": "cancel"}
    instrument = trading.open_instrument()
    holder, bidder, small = trading.trader(), trading.trader(), trading.trader()
    trading.shares(holder, instrument, 105, cost="10500")
    trading.shares(small, instrument, 7, cost="630", acquired_on=today() - dt.timedelta(30))
    ask = trading.place(holder, instrument, "sell", 50, "101.00")
    bid = trading.place(bidder, instrument, "buy", 20, "99.00")
    trading.match(instrument)
    bidder_cash = cash(bidder)
    assert bidder_cash == Decimal("100000.00") - Decimal("1980.00")
    holder_cash = cash(holder)

    action = approve_and_process(split(instrument, ops, 1, 10, cash_in_lieu_price="1000.00"), ops2)

    for order in (ask, bid):
        order.refresh_from_db()
        assert order.status == "cancelled" and order.reserved == 0
        assert action.reference in order.status_reason or "split" in order.status_reason
    assert cash(bidder) == Decimal("100000.00")
    balances = security_balances(account=holder, instrument=instrument)
    assert (balances.settled, balances.reserved, balances.unsettled) == (10, 0, 0)
    position = _position(holder, instrument)
    assert (position.quantity, position.settled_quantity) == (10, 10)
    assert position.cost_basis == Decimal("10000")  # 10,500 less the half share's 500
    assert position.average_cost == Decimal("1000")
    assert cash(holder) - holder_cash == Decimal("500.00")
    assert position.realized_pnl == 0
    instrument.refresh_from_db()
    assert instrument.reference_price == Decimal("1000.00")
    assert action.summary["orders_cancelled"] == 2
    # Seven shares make 0.7 of a new share: all of it paid in cash, the position closed.
    gone = _position(small, instrument)
    assert (gone.quantity, gone.settled_quantity, gone.cost_basis) == (0, 0, 0)
    assert gone.realized_short_term == Decimal("70.00")  # 700.00 for what cost 630
    assert cash(small) == Decimal("100700.00")
    assert security_balances(account=small, instrument=instrument).total == 0
    assert_books_clean()


def test_open_orders_are_adjusted_and_trade_on_the_new_basis(ops, ops2, settings):
    settings.CORPORATE_ACTION_OPEN_ORDERS = {"split": "adjust", "reverse_split": "cancel"}
    instrument = trading.open_instrument()
    seller, buyer, bidder, taker = (trading.trader() for _ in range(4))
    trading.shares(seller, instrument, 100)
    ask = trading.place(seller, instrument, "sell", 60, "101.00")
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", 20, "101.00")
    trading.match(instrument)  # the ask is partly filled: 40 left
    bid = trading.place(bidder, instrument, "buy", 10, "100.01")
    trading.match(instrument)
    bidder_cash = cash(bidder)

    action = approve_and_process(split(instrument, ops, 2, 1), ops2)

    ask.refresh_from_db()
    bid.refresh_from_db()
    assert ask.status == "partially_filled"
    assert (ask.quantity, ask.filled_quantity, ask.limit_price, ask.reserved) == (
        100,  # 20 traded before the split + 40 x 2 still to sell
        20,
        Decimal("50.50"),
        80,
    )
    assert (bid.quantity, bid.limit_price) == (20, Decimal("50.00"))  # 50.005 rounded down
    assert bid.reserved == Decimal("1000.00")  # 20 x 50.00: the 0.10 left over went back
    assert cash(bidder) - bidder_cash == Decimal("0.10")
    seller_books = security_balances(account=seller, instrument=instrument)
    assert (seller_books.settled, seller_books.reserved) == (80, 80)
    # The buyer's 20 are still to settle: they stay unsettled, the split's 20 more are settled.
    buyer_books = security_balances(account=buyer, instrument=instrument)
    assert (buyer_books.unsettled, buyer_books.settled) == (20, 20)
    assert _position(buyer, instrument).settled_quantity == 20
    assert BookState.objects.get(instrument=instrument).last_price == Decimal("50.50")
    assert action.summary["orders_adjusted"] == 2
    assert_books_clean()

    # The adjusted ask trades on the new basis, from the rebuilt book.
    trading.place(taker, instrument, "buy", 80, "50.50")
    assert trading.match(instrument).trades == 1
    ask.refresh_from_db()
    assert ask.status == "filled" and ask.reserved == 0
    assert _position(taker, instrument).quantity == 80
    assert _position(seller, instrument).quantity == 80  # 200 after the split, 120 sold
    assert_books_clean()

    # The buyer's trade settles its traded 20 shares; the books stay in step.
    settlement_run(run_date=today() + dt.timedelta(days=1))
    buyer_books = security_balances(account=buyer, instrument=instrument)
    assert (buyer_books.unsettled, buyer_books.settled) == (0, 40)
    assert _position(buyer, instrument).settled_quantity == 40
    assert_books_clean()


def test_a_reverse_split_waits_for_receipts_bigger_than_the_new_holding(ops, ops2):
    instrument = trading.open_instrument()
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, instrument, 100)
    trading.place(seller, instrument, "sell", 100, "100.00")
    trading.place(buyer, instrument, "buy", 100, "100.00")
    trading.match(instrument)
    action = split(instrument, ops, 1, 10, cash_in_lieu_price="1000.00")
    action = services.corporate_action_approve(action=action, actor=ops2, reason="Checked")
    preview = selectors.corporate_action_preview(action=action)
    assert [line.account_id for line in preview.lines if line.blocked] == [buyer.pk]

    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_process(action=action, actor=ops2)
    assert refused.value.code == "invalid_state"
    assert refused.value.details["accounts"] == [buyer.number]
    assert CorporateAction.objects.get(pk=action.pk).status == "approved"
    assert _position(buyer, instrument).quantity == 100  # nothing moved
    assert_books_clean()

    settlement_run(run_date=today() + dt.timedelta(days=1))
    services.corporate_action_process(action=action, actor=ops2)
    position = _position(buyer, instrument)
    assert (position.quantity, position.settled_quantity) == (10, 10)
    assert_books_clean()


def test_processing_a_split_twice_splits_once(ops, ops2):
    instrument = trading.open_instrument()
    holder = trading.trader()
    trading.shares(holder, instrument, 7, cost="700")
    action = approve_and_process(split(instrument, ops, 2, 1), ops2)
    services.corporate_action_process(action=action, actor=ops2)
    assert services.corporate_actions_process_due() == []
    assert _position(holder, instrument).quantity == 14
    assert security_balances(account=holder, instrument=instrument).settled == 14
    assert Instrument.objects.get(pk=instrument.pk).reference_price == Decimal("50.00")
    assert LedgerAccount.objects.filter(owner=holder, instrument=instrument).count() >= 1
    assert_books_clean()


def test_a_new_tick_size_comes_with_the_split(ops, ops2):
    instrument = trading.open_instrument(tick_size=Decimal("0.0001"), reference_price="0.5123")
    holder = trading.trader()
    trading.shares(holder, instrument, 1000, cost="512.30")
    approve_and_process(
        split(instrument, ops, 1, 20, cash_in_lieu_price="10.25", new_tick_size="0.01"), ops2
    )
    instrument.refresh_from_db()
    assert instrument.tick_size == Decimal("0.01")
    assert instrument.reference_price == Decimal("10.25")  # 10.246 to the nearest cent
    assert _position(holder, instrument).quantity == 50
    assert_books_clean()
    assert Order.objects.count() == 0
