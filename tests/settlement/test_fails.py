"""Fails: what cannot settle for a real reason fails with its reason, ages daily, and waits
for staff: retry once the cause is gone, buy in, or cancel with a second pair of eyes."""

import datetime as dt
from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import JournalEntry
from apps.ledger.services import journal_post, journal_reverse, ledger_account_get
from apps.matching.models import Trade
from apps.positions.models import LotSource
from apps.positions.services import PositionChange, positions_apply
from apps.settlement.models import FailQueue, SettlementInstruction
from apps.settlement.services import instruction_buy_in, instruction_cancel, instruction_retry
from tests.factories import trading
from tests.settlement.conftest import assert_books_clean, balance, due_date, run, trade

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(staff_factory):
    return staff_factory("broker_operations")


@pytest.fixture
def ops2(staff_factory):
    return staff_factory("broker_operations")


def _traded(market):
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, market, 10)
    trade(market, seller, buyer, 10, "100.00")
    return seller, buyer


def _suspense(market):
    return ledger_account_get(house=HouseAccount.SUSPENSE, instrument=market, bucket=Bucket.SETTLED)


def _short_delivery(account, market, quantity, *, back=False):
    """The custodian reports shares short (ops hold them in suspense), or finds them."""
    unsettled = ledger_account_get(owner=account, instrument=market, bucket=Bucket.UNSETTLED)
    sign = -1 if back else 1
    journal_post(
        kind="custody_break",
        postings=[(unsettled, -sign * quantity), (_suspense(market), sign * quantity)],
        memo="Delivery found" if back else "Delivery short",
    )


def test_missing_shares_fail_age_and_settle_on_retry(market, ops):
    seller, buyer = _traded(market)
    _short_delivery(buyer, market, Decimal(10))
    on = due_date(buyer)

    result = run(on)

    assert (result.instructions_settled, result.instructions_failed) == (1, 1)
    fail = SettlementInstruction.objects.get(account=buyer)
    assert (fail.status, fail.fail_code, fail.failed_on, fail.days_failing) == (
        "failed",
        "shares_missing",
        on,
        0,
    )
    assert "fewer shares" in fail.status_reason
    assert list(FailQueue.objects.values_list("pk", flat=True)) == [fail.pk]
    assert balance(seller, "USD") == Decimal("101000.00")  # the sale settles all the same

    run(on + dt.timedelta(days=1))
    run(on + dt.timedelta(days=2))
    fail.refresh_from_db()
    assert fail.days_failing == 2

    with pytest.raises(ApplicationError) as still:
        instruction_retry(instruction=fail, actor=ops, reason="Custodian says it delivered")
    assert still.value.code == "invalid_state"
    fail.refresh_from_db()
    assert fail.status == "failed"

    _short_delivery(buyer, market, Decimal(10), back=True)
    instruction_retry(instruction=fail, actor=ops, reason="Found in the custodian's suspense")
    fail.refresh_from_db()
    assert (fail.status, fail.resolved_by, fail.run) == ("settled", ops, None)
    assert fail.history.first().history_change_reason.startswith("Retried")
    assert balance(buyer, market) == 10
    assert_books_clean()


def test_a_buy_in_delivers_the_missing_shares_from_custody(market, ops):
    _, buyer = _traded(market)
    _short_delivery(buyer, market, Decimal(4))
    run(due_date(buyer))
    fail = SettlementInstruction.objects.get(account=buyer)
    assert fail.status == "failed"
    custody = ledger_account_get(house=HouseAccount.CUSTODY, instrument=market, bucket="settled")
    custody_before = custody.__class__.objects.get(pk=custody.pk).balance

    instruction_buy_in(instruction=fail, actor=ops, reason="Bought in at the close")

    fail.refresh_from_db()
    assert fail.status == "bought_in" and fail.resolved_by == ops
    assert balance(buyer, market) == 10 and balance(buyer, market, "unsettled") == 0
    assert custody.__class__.objects.get(pk=custody.pk).balance == custody_before - 4
    with pytest.raises(ApplicationError):
        instruction_buy_in(instruction=fail, actor=ops, reason="Twice")
    assert_books_clean()


def _reverse_trade(ops):
    entry = JournalEntry.objects.get(pk=Trade.objects.get().journal_entry_id)
    return journal_reverse(entry=entry, actor=ops, reason="Booked in error")


def test_a_reversed_trade_fails_both_sides_until_it_stands_again(market, ops):
    seller, buyer = _traded(market)
    reversal = _reverse_trade(ops)

    result = run(due_date(buyer))

    assert (result.instructions_settled, result.instructions_failed) == (0, 2)
    fails = list(SettlementInstruction.objects.order_by("side"))
    assert {f.fail_code for f in fails} == {"trade_busted"}
    assert "busted" in fails[0].status_reason
    buy = next(f for f in fails if f.side == "buy")
    with pytest.raises(ApplicationError) as refused:
        instruction_buy_in(instruction=buy, actor=ops, reason="Buy it in")
    assert refused.value.code == "invalid_state"

    journal_reverse(entry=reversal, actor=ops, reason="Reversed by mistake: the trade stands")
    for fail in fails:
        instruction_retry(instruction=fail, actor=ops, reason="The trade stands")
    assert set(SettlementInstruction.objects.values_list("status", flat=True)) == {"settled"}
    assert balance(buyer, market) == 10
    assert balance(seller, "USD") == Decimal("101000.00")
    assert_books_clean()


def test_a_cancel_needs_a_second_staff_member(market, ops, ops2):
    seller, buyer = _traded(market)
    _reverse_trade(ops)
    run(due_date(buyer))
    entries = JournalEntry.objects.count()

    for fail in SettlementInstruction.objects.order_by("pk"):
        requested = instruction_cancel(instruction=fail, actor=ops, reason="Busted with the desk")
        assert requested.status == "failed" and requested.cancel_requested_by == ops
        with pytest.raises(ApplicationError) as own:
            instruction_cancel(instruction=fail, actor=ops, reason="Confirming my own request")
        assert own.value.code == "permission_denied"
        done = instruction_cancel(instruction=fail, actor=ops2, reason="Agreed")
        assert done.status == "cancelled" and done.resolved_by == ops2

    assert JournalEntry.objects.count() == entries  # a cancel moves nothing
    assert not FailQueue.objects.exists()
    # The reversal was posted outside a bust: ops put positions and holds right by hand.
    positions_apply(
        changes=[
            PositionChange(
                account_id=buyer.pk,
                instrument_id=market.pk,
                side="sell",
                quantity=Decimal(10),
                amount=Decimal("1000.00"),
                on=dt.date.today(),
            ),
            PositionChange(
                account_id=seller.pk,
                instrument_id=market.pk,
                side="buy",
                quantity=Decimal(10),
                amount=Decimal("1000.00"),
                on=dt.date.today(),
                source=LotSource.TRANSFER_IN,
            ),
        ]
    )
    journal_post(
        kind="order_release",
        postings=[
            (ledger_account_get(owner=seller, instrument=market, bucket="reserved"), -10),
            (ledger_account_get(owner=seller, instrument=market, bucket="settled"), 10),
        ],
        memo="Hold returned after the reversal",
    )
    assert_books_clean()


def test_only_staff_with_the_role_resolve_fails(market, staff_factory):
    _, buyer = _traded(market)
    _short_delivery(buyer, market, Decimal(10))
    run(due_date(buyer))
    fail = SettlementInstruction.objects.get(status="failed")
    support = staff_factory("support")
    for service in (instruction_retry, instruction_buy_in, instruction_cancel):
        with pytest.raises(ApplicationError) as refused:
            service(instruction=fail, actor=support, reason="Trying")
        assert refused.value.code == "permission_denied"
    with pytest.raises(ApplicationError) as no_reason:
        instruction_cancel(instruction=fail, actor=staff_factory("broker_operations"), reason=" ")
    assert no_reason.value.code == "invalid"
