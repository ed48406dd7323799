"""Trade busts and price corrections: four-eyes, and the books, positions, orders and
settlement left as if the trade had never happened (or had happened at the corrected price)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from apps.core.errors import ApplicationError
from apps.ledger.models import JournalEntry
from apps.ledger.selectors import cash_balances, ledger_integrity, security_balances
from apps.matching import services
from apps.matching.models import BookState, Fill, Trade, TradeCorrection
from apps.orders.models import FeeSchedule
from apps.positions.models import LotRelief, Position, TaxLot
from apps.positions.services import positions_reconcile
from apps.settlement.models import SettlementInstruction
from tests.factories import trading
from tests.factories.accounts import StaffFactory

pytestmark = pytest.mark.django_db

D = Decimal


def desk(**kwargs) -> object:
    """A staff member allowed to bust and correct trades."""
    staff = StaffFactory(**kwargs)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="matching", codename="bust_trade")
    )
    return type(staff).objects.get(pk=staff.pk)  # fresh permission cache


@pytest.fixture
def fees(db) -> FeeSchedule:
    return FeeSchedule.objects.create(
        asset_class="equity", bps=D("10"), minimum_per_order=D("1.00"), maximum_per_order=D("50")
    )


@pytest.fixture
def booked(fees):
    """Seller (100 shares at 80.00 each) sells 60 at 100.00 to a buyer bidding 101.00 for 100:
    the ask fills, the bid rests partially filled."""
    instrument = trading.open_instrument(reference_price=D("100.00"))
    seller, buyer = trading.trader("1000.00"), trading.trader("20000.00")
    trading.shares(seller, instrument, 100, cost="8000.00")
    ask = trading.place(seller, instrument, "sell", 60, "100.00")
    trading.match(instrument)
    bid = trading.place(buyer, instrument, "buy", 100, "101.00")
    trading.match(instrument)
    return instrument, seller, buyer, ask, bid, Trade.objects.get()


def approve(trade, *, price=None):
    asker, approver = desk(), desk()
    if price is None:
        request = services.trade_bust_request(trade=trade, actor=asker, reason="Wrong price")
    else:
        request = services.trade_correction_request(
            trade=trade, actor=asker, reason="Price off the market", price=D(price)
        )
    return services.trade_correction_approve(correction=request, actor=approver)


def assert_books_clean() -> None:
    assert ledger_integrity().ok
    breaks = positions_reconcile()
    assert breaks == [], [
        (b.account_id, b.position_quantity, b.ledger_quantity, b.position_settled, b.ledger_settled)
        for b in breaks
    ]


def test_the_requester_cannot_approve_their_own_bust(booked):
    *_, trade = booked
    asker = desk()
    request = services.trade_bust_request(trade=trade, actor=asker, reason="Fat finger")
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_approve(correction=request, actor=asker)
    assert refused.value.code == "permission_denied"
    trade.refresh_from_db()
    request.refresh_from_db()
    assert trade.status == "active" and request.status == "pending_approval"


def test_staff_without_the_permission_can_neither_ask_nor_approve(booked):
    *_, trade = booked
    with pytest.raises(ApplicationError) as refused:
        services.trade_bust_request(trade=trade, actor=StaffFactory(), reason="x")
    assert refused.value.code == "permission_denied"
    request = services.trade_bust_request(trade=trade, actor=desk(), reason="Fat finger")
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_approve(correction=request, actor=StaffFactory())
    assert refused.value.code == "permission_denied"


def test_one_waiting_request_per_trade_and_a_reason_is_required(booked):
    *_, trade = booked
    with pytest.raises(ApplicationError) as refused:
        services.trade_bust_request(trade=trade, actor=desk(), reason="  ")
    assert refused.value.code == "invalid"
    services.trade_bust_request(trade=trade, actor=desk(), reason="Fat finger")
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_request(trade=trade, actor=desk(), reason="x", price=D("99"))
    assert refused.value.code == "invalid_state"


def test_a_bust_undoes_the_trade_everywhere(booked):
    instrument, seller, buyer, ask, bid, trade = booked
    entries_before = JournalEntry.objects.count()
    correction = approve(trade)

    assert correction.status == "applied" and correction.reversal_entry_id
    trade.refresh_from_db()
    assert trade.status == "busted"
    reversal = JournalEntry.objects.get(pk=correction.reversal_entry_id)
    assert reversal.reverses_id == trade.journal_entry_id
    # the reversal and the seller's hold release, in one ledger call
    assert JournalEntry.objects.count() == entries_before + 2

    # cash and shares as before the trade; the buyer's bid works on for all 100
    assert cash_balances(account=seller).settled == D("1000.00")
    assert cash_balances(account=seller).unsettled == 0
    assert security_balances(account=seller, instrument=instrument).settled == 100
    assert security_balances(account=buyer, instrument=instrument).unsettled == 0
    bid.refresh_from_db()
    ask.refresh_from_db()
    assert bid.filled_quantity == 0 and bid.notional_filled == 0 and bid.fees == 0
    assert bid.average_price is None and bid.status == "partially_filled"
    assert bid.reserved == cash_balances(account=buyer).reserved
    assert bid.reserved == D("100") * D("101.00") + D("10.10")  # the hold of the whole bid
    assert ask.filled_quantity == 0 and ask.fees == 0 and ask.reserved == 0

    # positions: buyer's lot gone, seller's lot whole again with its cost, no gain
    assert not TaxLot.objects.filter(position__account=buyer).exists()
    lot = TaxLot.objects.get(position__account=seller)
    assert lot.quantity == 100 and lot.cost == D("8000.00")
    assert not LotRelief.objects.exists()
    position = Position.objects.get(account=seller)
    assert position.quantity == 100 and position.realized_pnl == 0
    assert position.realized_short_term == 0 and position.average_cost == D("80")
    assert Position.objects.get(account=buyer).quantity == 0

    assert set(SettlementInstruction.objects.values_list("status", flat=True)) == {"cancelled"}
    assert BookState.objects.get(instrument=instrument).last_price is None
    assert_books_clean()


def test_the_reinstated_bid_trades_again(booked):
    instrument, _, buyer, _, bid, trade = booked
    approve(trade)
    other = trading.trader()
    trading.shares(other, instrument, 100)
    trading.place(other, instrument, "sell", 100, "101.00")
    trading.match(instrument)
    bid.refresh_from_db()
    assert bid.status == "filled" and bid.filled_quantity == 100
    assert cash_balances(account=buyer).reserved == 0
    assert_books_clean()


def test_a_bust_is_refused_while_the_buyer_has_the_shares_on_a_sell_order(booked):
    instrument, _, buyer, _, _, trade = booked
    trading.place(buyer, instrument, "sell", 60, "105.00")
    request = services.trade_bust_request(trade=trade, actor=desk(), reason="Wrong price")
    entries = JournalEntry.objects.count()
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_approve(correction=request, actor=desk())
    assert refused.value.code == "insufficient_position"
    assert buyer.number in refused.value.message and "sell order" in refused.value.message
    request.refresh_from_db()
    trade.refresh_from_db()
    assert request.status == "pending_approval" and trade.status == "active"
    assert JournalEntry.objects.count() == entries
    assert Position.objects.get(account=buyer).quantity == 60


def test_a_bust_is_refused_once_the_buyer_sold_from_the_lot(booked):
    instrument, _, buyer, _, bid, trade = booked
    from apps.orders.services import order_cancel

    order_cancel(order=bid, actor=buyer.owner)
    taker = trading.trader()
    trading.place(buyer, instrument, "sell", 10, "100.00")
    trading.match(instrument)
    trading.place(taker, instrument, "buy", 10, "100.00")
    trading.match(instrument)
    request = services.trade_bust_request(trade=trade, actor=desk(), reason="Wrong price")
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_approve(correction=request, actor=desk())
    assert refused.value.code == "insufficient_position"
    assert buyer.number in refused.value.message


def test_a_bust_is_refused_once_the_seller_spent_the_proceeds(booked):
    _, seller, *_, trade = booked
    other = trading.open_instrument(reference_price=D("100.00"))
    trading.place(seller, other, "buy", 60, "100.00")  # 6006.00: settled, then unsettled cash
    request = services.trade_bust_request(trade=trade, actor=desk(), reason="Wrong price")
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_approve(correction=request, actor=desk())
    assert refused.value.code == "insufficient_funds"
    assert f"Account {seller.number} has used the unsettled proceeds" in refused.value.message


def test_a_settled_trade_cannot_be_busted(booked):
    *_, trade = booked
    request = services.trade_bust_request(trade=trade, actor=desk(), reason="Wrong price")
    for instruction in SettlementInstruction.objects.filter(trade_id=trade.pk):
        instruction.settle()  # as the settlement run does
        instruction.save()
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_approve(correction=request, actor=desk())
    assert refused.value.code == "invalid_state"
    with pytest.raises(ApplicationError) as refused:
        services.trade_bust_request(trade=trade, actor=desk(), reason="Again")
    assert refused.value.code == "invalid_state"


def test_a_trade_is_busted_once(booked):
    *_, trade = booked
    request = services.trade_bust_request(trade=trade, actor=desk(), reason="Wrong price")
    services.trade_correction_approve(correction=request, actor=desk())
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_approve(correction=request, actor=desk())
    assert refused.value.code == "invalid_state"
    with pytest.raises(ApplicationError) as refused:
        services.trade_bust_request(trade=trade, actor=desk(), reason="Again")
    assert refused.value.code == "invalid_state"


def test_a_rejected_request_changes_nothing(booked):
    *_, trade = booked
    asker = desk()
    request = services.trade_bust_request(trade=trade, actor=asker, reason="Wrong price")
    services.trade_correction_reject(correction=request, actor=asker, reason="My mistake")
    request.refresh_from_db()
    trade.refresh_from_db()
    assert request.status == "rejected" and trade.status == "active"
    assert request.history.first().history_change_reason == "My mistake"


def test_a_correction_rebooks_the_trade_at_the_new_price(booked):
    instrument, seller, buyer, ask, bid, trade = booked
    buyer_cash = cash_balances(account=buyer)
    correction = approve(trade, price="99.00")

    trade.refresh_from_db()
    new = correction.replacement
    assert trade.status == "corrected" and new.status == "active" and new.replaces == trade
    assert new.price == D("99.00") and new.quantity == 60 and new.notional == D("5940.00")
    assert new.trade_date == trade.trade_date and new.executed_at == trade.executed_at
    buy_fill, sell_fill = (
        Fill.objects.get(trade=new, side="buy"),
        Fill.objects.get(trade=new, side="sell"),
    )
    assert buy_fill.fee == D("5.94") and sell_fill.fee == D("5.94")
    bid.refresh_from_db()
    ask.refresh_from_db()
    assert bid.filled_quantity == 60 and bid.average_price == D("99.00")
    assert bid.fees == D("5.94") and ask.fees == D("5.94")
    assert ask.notional_filled == D("5940.00") and ask.status == "filled"
    # the buyer's order still holds what its 40 open shares need; it paid 60.06 less
    assert bid.reserved == D("4104.10")  # what it held for its 40 open shares, as before
    after = cash_balances(account=buyer)
    assert after.settled + after.reserved == buyer_cash.settled + buyer_cash.reserved + D("60.06")
    assert cash_balances(account=seller).unsettled == D("5934.06")
    seller_position = Position.objects.get(account=seller)
    assert seller_position.realized_pnl == D("5934.06") - D("4800.00")
    assert Position.objects.get(account=buyer).cost_basis == D("5945.94")
    instructions = SettlementInstruction.objects.filter(trade_id=new.pk)
    assert sorted(i.cash_amount for i in instructions) == [D("-5945.94"), D("5934.06")]
    assert set(
        SettlementInstruction.objects.filter(trade_id=trade.pk).values_list("status", flat=True)
    ) == {"cancelled"}
    assert BookState.objects.get(instrument=instrument).last_price == D("99.00")
    assert_books_clean()


def test_a_correction_upward_takes_the_difference_from_the_buyers_cash(fees):
    instrument = trading.open_instrument(reference_price=D("100.00"))
    seller, buyer = trading.trader("1.00"), trading.trader("10000.00")
    trading.shares(seller, instrument, 10, cost="900.00")
    trading.place(seller, instrument, "sell", 10, "100.00")
    trading.match(instrument)
    bid = trading.place(buyer, instrument, "buy", 10, "100.00")
    trading.match(instrument)
    trade = Trade.objects.get()
    paid_before = D("10000.00") - cash_balances(account=buyer).settled
    assert paid_before == D("1001.00")
    approve(trade, price="102.00")
    assert D("10000.00") - cash_balances(account=buyer).settled == D("1021.02")
    assert cash_balances(account=buyer).reserved == 0
    bid.refresh_from_db()
    assert bid.reserved == 0 and bid.average_price == D("102.00") and bid.fees == D("1.02")
    assert cash_balances(account=seller).unsettled == D("1018.98")
    assert_books_clean()


def test_a_correction_the_buyer_cannot_afford_is_refused(fees):
    instrument = trading.open_instrument(reference_price=D("100.00"))
    seller, buyer = trading.trader("1.00"), trading.trader("1001.00")
    trading.shares(seller, instrument, 10)
    trading.place(seller, instrument, "sell", 10, "100.00")
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", 10, "100.00")
    trading.match(instrument)
    trade = Trade.objects.get()
    asker = desk()
    request = services.trade_correction_request(
        trade=trade, actor=asker, reason="Off market", price=D("110.00")
    )
    with pytest.raises(ApplicationError) as refused:
        services.trade_correction_approve(correction=request, actor=desk())
    assert refused.value.code == "insufficient_funds"
    assert buyer.number in refused.value.message
    assert TradeCorrection.objects.get().status == "pending_approval"


def test_a_correction_price_must_be_on_the_tick_and_new(booked):
    *_, trade = booked
    for price in ("99.001", "100.00", "0"):
        with pytest.raises(ApplicationError) as refused:
            services.trade_correction_request(trade=trade, actor=desk(), reason="x", price=D(price))
        assert refused.value.code == "invalid"


@pytest.mark.django_db(transaction=True)
def test_racing_approvals_apply_a_bust_once():
    import threading

    from django.db import connection

    FeeSchedule.objects.create(asset_class="equity", bps=D("10"), minimum_per_order=D("1.00"))
    instrument = trading.open_instrument(reference_price=D("100.00"))
    seller, buyer = trading.trader("10.00"), trading.trader("5000.00")
    trading.shares(seller, instrument, 10)
    trading.place(seller, instrument, "sell", 10, "100.00")
    trading.match(instrument)
    trading.place(buyer, instrument, "buy", 10, "100.00")
    trading.match(instrument)
    request = services.trade_bust_request(
        trade=Trade.objects.get(), actor=desk(), reason="Wrong price"
    )
    approvers = [desk() for _ in range(4)]
    outcomes: list[str] = []
    unexpected: list[BaseException] = []
    barrier = threading.Barrier(len(approvers))

    def approve_it(approver) -> None:
        try:
            barrier.wait()
            services.trade_correction_approve(correction=request, actor=approver)
            outcomes.append("applied")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        except BaseException as exc:  # pragma: no cover - reported below
            unexpected.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve_it, args=(a,)) for a in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not unexpected, unexpected
    assert sorted(outcomes) == ["applied"] + ["invalid_state"] * 3
    assert JournalEntry.objects.filter(kind="reversal").count() == 1
    assert cash_balances(account=buyer).settled == D("5000.00")
    assert security_balances(account=seller, instrument=instrument).settled == 10
    assert_books_clean()
