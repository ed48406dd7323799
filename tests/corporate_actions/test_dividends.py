"""Cash dividends: holders of record, withholding, one payment however often processed."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.accounts.services import trading_account_settings_update
from apps.core.errors import ApplicationError
from apps.instruments import selectors, services
from apps.instruments.models import CorporateAction, CorporateActionEntitlement
from apps.ledger.choices import HouseAccount
from apps.ledger.models import JournalEntry
from apps.ledger.services import house_account
from tests.corporate_actions.conftest import (
    approve_and_process,
    assert_books_clean,
    days,
    dividend,
    today,
)
from tests.factories import trading
from tests.factories.ledger import cash

pytestmark = pytest.mark.django_db


def _paid(account) -> Decimal:
    row = CorporateActionEntitlement.objects.filter(account=account).first()
    return row.net if row else Decimal(0)


def test_a_buy_on_the_ex_date_gets_nothing_and_its_seller_is_paid(ops, ops2):
    instrument = trading.open_instrument()
    assert instrument.settlement_cycle == 1
    holder, seller, buyer = trading.trader(), trading.trader(), trading.trader()
    trading.shares(holder, instrument, 100)
    trading.shares(seller, instrument, 50)
    # The record date is today, so with T+1 today is the ex-date: today's trades settle after it.
    action = dividend(instrument, ops, amount="0.25", record=0, pay=1)
    assert action.ex_date == action.record_date == today()
    trading.place(seller, instrument, "sell", 30, "100.00")
    trading.place(buyer, instrument, "buy", 30, "100.00")
    assert trading.match(instrument).trades == 1
    holder_cash, seller_cash, buyer_cash = cash(holder), cash(seller), cash(buyer)

    approve_and_process(action, ops2, on=1)

    assert _paid(holder) == Decimal("25.00")
    assert _paid(seller) == Decimal("12.50")  # 50 of record: the 30 sold settle tomorrow
    assert _paid(buyer) == 0
    assert not CorporateActionEntitlement.objects.filter(account=buyer).exists()
    assert cash(holder) - holder_cash == Decimal("25.00")
    assert cash(seller) - seller_cash == Decimal("12.50")
    assert cash(buyer) == buyer_cash
    assert_books_clean()


def test_a_buy_the_day_before_the_ex_date_is_paid(ops, ops2):
    instrument = trading.open_instrument()
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, instrument, 50)
    # Record date tomorrow: tomorrow is the ex-date, so today's buy settles by the record date.
    action = dividend(instrument, ops, amount="1.00", record=1, pay=3)
    assert action.ex_date == action.record_date == today() + dt.timedelta(days=1)
    trading.place(seller, instrument, "sell", 20, "100.00")
    trading.place(buyer, instrument, "buy", 20, "100.00")
    trading.match(instrument)

    approve_and_process(action, ops2, on=3)

    assert _paid(buyer) == Decimal("20.00")
    assert _paid(seller) == Decimal("30.00")
    assert_books_clean()


def test_non_residents_have_tax_withheld_into_the_house_withholding_account(ops, ops2, settings):
    settings.DIVIDEND_WITHHOLDING_RATE = Decimal("0.30")
    instrument = trading.open_instrument()
    resident, foreigner = trading.trader(), trading.trader()
    foreigner = trading_account_settings_update(
        account=foreigner, actor=ops, reason="W-8BEN on file", tax_non_resident=True
    )
    trading.shares(resident, instrument, 100)
    trading.shares(foreigner, instrument, 333)
    withholding = house_account(HouseAccount.WITHHOLDING, "USD")
    custody = house_account(HouseAccount.CUSTODY, "USD")
    before_withholding, before_custody = withholding.balance, custody.balance
    foreigner_cash = cash(foreigner)

    action = approve_and_process(dividend(instrument, ops, amount="0.37"), ops2, on=1)

    row = CorporateActionEntitlement.objects.get(action=action, account=foreigner)
    assert row.gross == Decimal("123.21")  # 333 x 0.37
    assert row.withholding_rate == Decimal("0.30")
    assert row.withholding == Decimal("36.96")  # 36.963 rounded half up
    assert row.net == Decimal("86.25")
    assert cash(foreigner) - foreigner_cash == Decimal("86.25")
    resident_row = CorporateActionEntitlement.objects.get(action=action, account=resident)
    assert (resident_row.withholding, resident_row.net) == (0, Decimal("37.00"))
    withholding.refresh_from_db()
    custody.refresh_from_db()
    assert withholding.balance - before_withholding == Decimal("36.96")
    assert before_custody - custody.balance == Decimal("160.21")  # the gross paid out
    entry = JournalEntry.objects.get(pk=row.journal_entry_id)
    assert entry.kind == "dividend" and entry.reference == action.reference
    assert action.summary["withholding"] == "36.96"
    assert_books_clean()


def test_processing_twice_pays_once(ops, ops2):
    instrument = trading.open_instrument()
    holder = trading.trader()
    trading.shares(holder, instrument, 10)
    action = approve_and_process(dividend(instrument, ops, amount="2"), ops2, on=1)
    paid_cash = cash(holder)
    entries = JournalEntry.objects.filter(kind="dividend").count()

    again = services.corporate_action_process(action=action, actor=ops2, now=days(1))
    assert again.status == "processed"
    assert services.corporate_actions_process_due(now=days(2)) == []

    assert cash(holder) == paid_cash
    assert JournalEntry.objects.filter(kind="dividend").count() == entries == 1
    assert CorporateActionEntitlement.objects.filter(action=action).count() == 1
    assert_books_clean()


@pytest.mark.django_db(transaction=True)
def test_two_processes_racing_pay_once(staff_factory):
    ops, ops2 = staff_factory("broker_operations"), staff_factory("broker_operations")
    instrument = trading.open_instrument()
    holders = [trading.trader() for _ in range(3)]
    for holder in holders:
        trading.shares(holder, instrument, 40)
    action = services.corporate_action_approve(
        action=dividend(instrument, ops, amount="0.10"), actor=ops2, reason="Checked"
    )
    barrier = threading.Barrier(2)
    outcomes: list = []

    def run() -> None:
        try:
            barrier.wait()
            done = services.corporate_action_process(action=action, actor=ops2, now=days(1))
            outcomes.append(done.status)
        except Exception as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes == ["processed", "processed"]
    assert JournalEntry.objects.filter(kind="dividend").count() == 3
    assert all(cash(h) == Decimal("100004.00") for h in holders)
    assert_books_clean()


def test_the_same_person_cannot_enter_and_approve(ops, ops2, staff_factory):
    instrument = trading.open_instrument()
    action = dividend(instrument, ops)
    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_approve(action=action, actor=ops, reason="Mine")
    assert refused.value.code == "permission_denied"
    # An editor of the terms may not approve them either.
    services.corporate_action_update(
        action=action, actor=ops2, reason="Amount corrected", amount_per_share="0.55"
    )
    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_approve(action=action, actor=ops2, reason="Looks right")
    assert refused.value.code == "permission_denied"
    # Nor a staff member without the approval permission.
    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_approve(
            action=action, actor=staff_factory("support"), reason="Fine"
        )
    assert refused.value.code == "permission_denied"
    third = staff_factory("broker_operations")
    approved = services.corporate_action_approve(action=action, actor=third, reason="Checked")
    assert approved.status == "approved" and approved.approved_by == third
    assert approved.amount_per_share == Decimal("0.55")
    # Approved terms are frozen.
    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_update(action=approved, actor=ops, reason="Late", currency="EUR")
    assert refused.value.code == "invalid_state"
    reasons = list(approved.history.values_list("history_change_reason", flat=True))
    assert "Checked" in reasons and "Amount corrected" in reasons


def test_nothing_is_paid_before_the_pay_date_or_without_approval(ops, ops2):
    instrument = trading.open_instrument()
    holder = trading.trader()
    trading.shares(holder, instrument, 10)
    action = dividend(instrument, ops, record=0, pay=2)
    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_process(action=action, actor=ops2, now=days(2))
    assert refused.value.code == "invalid_state"  # not approved
    action = services.corporate_action_approve(action=action, actor=ops2, reason="Checked")
    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_process(action=action, actor=ops2, now=days(1))
    assert refused.value.code == "invalid_state"  # pay date still to come
    assert services.corporate_actions_process_due(now=days(1)) == []
    assert services.corporate_actions_process_due(now=days(2)) == [action.reference]
    assert CorporateAction.objects.get(pk=action.pk).status == "processed"
    assert cash(holder) == Decimal("100005.00")
    assert_books_clean()


def test_terms_are_checked(ops):
    instrument = trading.open_instrument()
    with pytest.raises(ApplicationError) as refused:
        dividend(instrument, ops, record=2, pay=2)
    assert "pay_date" in refused.value.details
    with pytest.raises(ApplicationError) as refused:
        # Record date tomorrow on a T+1 calendar: the ex-date is tomorrow, not today.
        dividend(instrument, ops, record=1, pay=2, ex_date=today())
    assert refused.value.details == {"ex_date": [refused.value.details["ex_date"][0]]}
    with pytest.raises(ApplicationError) as refused:
        dividend(instrument, ops, amount="0")
    assert "amount_per_share" in refused.value.details
    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_declare(
            actor=ops, instrument=instrument, kind="cash_dividend", ratio_new=2
        )
    assert "ratio_new" in refused.value.details


def test_the_ex_date_follows_the_settlement_cycle():
    t2 = trading.open_instrument(settlement_cycle=2)
    xnys = trading.open_instrument(calendar="XNYS")
    monday = dt.date(2025, 6, 2)
    assert selectors.ex_date_for(instrument=t2, record_date=monday) == monday - dt.timedelta(1)
    # Record date on a Monday, T+1 on NYSE days: the ex-date is the Monday itself; a record
    # date on a Saturday (no trading) makes Friday the ex-date.
    assert selectors.ex_date_for(instrument=xnys, record_date=monday) == monday
    saturday = dt.date(2025, 6, 7)
    assert selectors.ex_date_for(instrument=xnys, record_date=saturday) == dt.date(2025, 6, 6)


def test_dividend_income_and_preview(ops, ops2):
    instrument = trading.open_instrument()
    holder = trading.trader()
    trading.shares(holder, instrument, 200)
    action = dividend(instrument, ops, amount="0.125")
    preview = selectors.corporate_action_preview(action=action)
    assert [(line.account_id, line.quantity, line.net) for line in preview.lines] == [
        (holder.pk, Decimal("200"), Decimal("25.00"))
    ]
    assert preview.total_gross == Decimal("25.00")
    assert not CorporateActionEntitlement.objects.exists()  # a preview writes nothing
    approve_and_process(action, ops2, on=1)
    income = selectors.dividend_income(account=holder)
    assert (income.gross, income.withholding, income.net, income.payments) == (
        Decimal("25.00"),
        Decimal("0.00"),
        Decimal("25.00"),
        1,
    )
    assert income.last_paid_on == action.pay_date


def test_a_trade_busted_before_the_record_date_ends_counts_for_nobody(ops, ops2, superuser):
    from apps.matching.models import Trade
    from apps.matching.services import trade_bust_request, trade_correction_approve

    instrument = trading.open_instrument()
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, instrument, 50)
    action = dividend(instrument, ops, amount="1.00", record=0, pay=1)
    trading.place(seller, instrument, "sell", 30, "100.00")
    trading.place(buyer, instrument, "buy", 30, "100.00")
    trading.match(instrument)
    request = trade_bust_request(trade=Trade.objects.get(), actor=ops2, reason="Erroneous print")
    trade_correction_approve(correction=request, actor=superuser, reason="Confirmed")

    approve_and_process(action, ops2, on=1)

    assert _paid(seller) == Decimal("50.00")
    assert not CorporateActionEntitlement.objects.filter(account=buyer).exists()
    assert_books_clean()
