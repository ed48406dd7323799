"""Settlement runs: netting, what moves from unsettled to settled (and what cannot because it
was spent or resold), withdrawable cash, idempotence, the command and the schedule."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from apps.core.errors import ApplicationError
from apps.instruments.selectors import calendar_get
from apps.ledger.models import JournalEntry, LedgerAccount
from apps.ledger.selectors import cash_balances
from apps.ledger.services import withdrawal_request
from apps.orders.services import order_cancel
from apps.positions.models import Position
from apps.settlement.models import SettlementInstruction, SettlementRun
from apps.settlement.services import business_day_ended, settlement_runs_due
from tests.factories import trading
from tests.factories.instruments import InstrumentFactory
from tests.settlement.conftest import assert_books_clean, balance, due_date, run, trade

pytestmark = pytest.mark.django_db

USD = "USD"


def _cash_total(account) -> Decimal:
    return sum(
        LedgerAccount.objects.filter(owner=account, currency=USD).values_list("balance", flat=True),
        Decimal(0),
    )


def test_netting_per_account_instrument_and_date(market):
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, market, 100)
    trade(market, seller, buyer, 30, "100.00")
    trade(market, seller, buyer, 20, "101.00")
    trade(market, buyer, seller, 10, "102.00")  # the buyer resells 10 before settlement
    on = due_date(buyer)
    assert SettlementInstruction.objects.filter(status="pending").count() == 6

    result = run(on)

    assert result.status == "completed"
    assert result.instructions_settled == 6
    assert result.groups_netted == 2  # (seller, instrument, date) and (buyer, instrument, date)
    assert result.entries_posted == 2  # one ledger entry per account
    proceeds = Decimal("3000.00") + Decimal("2020.00")
    assert balance(buyer, market) == 40 and balance(buyer, market, "unsettled") == 0
    assert balance(seller, market) == 60  # 100 - 50 sold (left at trade time) + 10 bought
    assert balance(seller, USD) == Decimal("100000.00") + proceeds - Decimal("1020.00")
    assert balance(seller, USD, "unsettled") == 0
    assert balance(buyer, USD) == Decimal("100000.00") - proceeds + Decimal("1020.00")
    assert result.cash_moved == {USD: f"{proceeds + Decimal('1020.00'):f}"}
    assert result.securities_moved == {market.symbol: "50"}  # 40 to the buyer, 10 back
    assert set(SettlementInstruction.objects.values_list("status", "run")) == {
        ("settled", result.pk)
    }
    assert Position.objects.get(account=buyer).settled_quantity == 40
    assert_books_clean()


def test_withdrawable_grows_only_when_the_proceeds_settle(market):
    seller, buyer = trading.trader("0"), trading.trader()
    trading.shares(seller, market, 10)
    trade(market, seller, buyer, 10, "100.00")
    balances = cash_balances(account=seller)
    assert (balances.withdrawable, balances.unsettled, balances.buying_power) == (
        Decimal("0.00"),
        Decimal("1000.00"),
        Decimal("1000.00"),
    )
    with pytest.raises(ApplicationError) as refused:
        withdrawal_request(account=seller, amount=Decimal("1000.00"), actor=seller.owner)
    assert refused.value.code == "insufficient_funds"

    on = due_date(seller)
    run(on - dt.timedelta(days=1))  # the day before: nothing is due yet
    assert cash_balances(account=seller).withdrawable == Decimal("0.00")

    run(on)
    assert cash_balances(account=seller).withdrawable == Decimal("1000.00")
    assert cash_balances(account=seller).unsettled == Decimal("0.00")
    withdrawal = withdrawal_request(account=seller, amount=Decimal("1000.00"), actor=seller.owner)
    assert withdrawal.status == "requested"
    # A purchase paid its cash at trade time: settlement moves only its shares.
    assert balance(buyer, USD) == Decimal("99000.00") and balance(buyer, market) == 10
    assert_books_clean()


def test_spent_unsettled_proceeds_consume_the_earliest_claim():
    """A client sells on T+1 and on T+2 and spends part of the proceeds at once: the T+1
    proceeds are taken to have been spent first, so they add nothing to withdrawable cash,
    and the T+2 ones settle whole. Nothing is overdrawn, nothing created."""
    fast = trading.open_instrument(settlement_cycle=1)
    slow = trading.open_instrument(settlement_cycle=2)
    spend = trading.open_instrument(settlement_cycle=1)
    client, dealer = trading.trader("0"), trading.trader("1000000.00")
    trading.shares(client, fast, 5)
    trading.shares(client, slow, 10)
    trading.shares(dealer, spend, 100)
    trade(fast, client, dealer, 5, "100.00")  # 500 due T+1
    trade(slow, client, dealer, 10, "100.00")  # 1000 due T+2
    trade(spend, dealer, client, 6, "100.00")  # 600 paid from unsettled proceeds
    assert cash_balances(account=client).unsettled == Decimal("900.00")
    before = _cash_total(client)
    t1 = due_date(client) - dt.timedelta(days=1)

    first = run(t1)
    assert first.instructions_settled == 4  # fast: 2 sides; spend: 2 sides
    assert cash_balances(account=client).withdrawable == Decimal("0.00")
    assert cash_balances(account=client).unsettled == Decimal("900.00")  # still claimed by T+2
    assert balance(client, spend) == 6  # the shares bought settle all the same

    run(t1 + dt.timedelta(days=1))
    assert cash_balances(account=client).withdrawable == Decimal("900.00")
    assert cash_balances(account=client).unsettled == Decimal("0.00")
    assert _cash_total(client) == before
    assert_books_clean()


def test_shares_resold_before_settlement_are_not_a_fail(market):
    seller, buyer, other = trading.trader(), trading.trader(), trading.trader()
    trading.shares(seller, market, 50)
    trade(market, seller, buyer, 50, "100.00")
    trade(market, buyer, other, 30, "100.00")  # sold from unsettled shares
    assert balance(buyer, market, "unsettled") == 20

    result = run(due_date(buyer))

    assert result.instructions_failed == 0
    assert balance(buyer, market) == 20 and balance(buyer, market, "unsettled") == 0
    assert balance(other, market) == 30
    assert Position.objects.get(account=buyer).settled_quantity == 20
    assert_books_clean()


def test_running_a_date_twice_changes_nothing(market):
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, market, 10)
    trade(market, seller, buyer, 10, "100.00")
    on = due_date(buyer)
    first = run(on)

    def snapshot():
        return (
            JournalEntry.objects.count(),
            sorted(LedgerAccount.objects.values_list("pk", "balance")),
            sorted(SettlementInstruction.objects.values_list("pk", "status", "settled_at")),
            sorted(Position.objects.values_list("pk", "quantity", "settled_quantity")),
        )

    before = snapshot()
    again = run(on)
    assert snapshot() == before
    assert again.pk == first.pk and again.attempts == 2 and again.status == "completed"
    assert again.instructions_settled == first.instructions_settled == 2
    assert SettlementRun.objects.count() == 1
    assert_books_clean()


def test_a_hold_released_after_its_proceeds_settled_is_swept_to_settled(market):
    """The unsettled proceeds were held for an open buy order when they settled, so nothing
    could move; when the order is cancelled the cash comes back to unsettled, where no
    instruction claims it any more: the next run moves it to settled."""
    client, dealer = trading.trader("0"), trading.trader()
    trading.shares(client, market, 10)
    trade(market, client, dealer, 10, "100.00")
    bid = trading.place(client, market, "buy", 10, "95.00")  # holds 950 of the proceeds
    trading.match(market)
    on = due_date(client)
    run(on)
    assert cash_balances(account=client).withdrawable == Decimal("50.00")  # what was not held

    order_cancel(order=bid, actor=client.owner)
    assert cash_balances(account=client).unsettled == Decimal("950.00")
    swept = run(on + dt.timedelta(days=1))
    assert swept.strays_swept == 1 and swept.instructions_settled == 0
    assert cash_balances(account=client).withdrawable == Decimal("1000.00")
    assert cash_balances(account=client).unsettled == Decimal("0.00")
    assert_books_clean()


def test_the_command_runs_a_date(market):
    seller, buyer = trading.trader(), trading.trader()
    trading.shares(seller, market, 10)
    trade(market, seller, buyer, 10, "100.00")
    out = io.StringIO()
    call_command(
        "run_settlement", "--date", due_date(buyer).isoformat(), "--calendar", "24x7", stdout=out
    )
    assert "2 settled, 0 failed" in out.getvalue()
    assert SettlementRun.objects.get().calendar.code == "24x7"
    with pytest.raises(CommandError):
        call_command("run_settlement", "--date", "23/11/2026")
    with pytest.raises(CommandError):
        call_command("run_settlement", "--date", "2026-11-23", "--calendar", "NOPE")
    assert_books_clean()


def test_a_second_run_waits_for_the_first(market):
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    ) as other:
        other.execute("SELECT pg_advisory_lock(7302, 0)")
        with pytest.raises(ApplicationError) as refused:
            run(dt.date(2026, 11, 23))
        assert refused.value.code == "invalid_state"
        other.execute("SELECT pg_advisory_unlock(7302, 0)")
    assert run(dt.date(2026, 11, 23)).status == "completed"


UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "code", "expected"),
    [
        (dt.datetime(2026, 11, 23, 21, 29, tzinfo=UTC), "XNYS", dt.date(2026, 11, 20)),
        (dt.datetime(2026, 11, 23, 21, 31, tzinfo=UTC), "XNYS", dt.date(2026, 11, 23)),
        (dt.datetime(2026, 11, 27, 18, 31, tzinfo=UTC), "XNYS", dt.date(2026, 11, 27)),
        (dt.datetime(2026, 11, 27, 18, 29, tzinfo=UTC), "XNYS", dt.date(2026, 11, 25)),
        (dt.datetime(2026, 11, 29, 12, 0, tzinfo=UTC), "XNYS", dt.date(2026, 11, 27)),
        (dt.datetime(2026, 11, 24, 0, 31, tzinfo=UTC), "24x7", dt.date(2026, 11, 23)),
        (dt.datetime(2026, 11, 24, 0, 29, tzinfo=UTC), "24x7", dt.date(2026, 11, 22)),
    ],
)
def test_a_business_day_ends_after_its_close_in_the_exchange_zone(now, code, expected):
    """XNYS closes 16:00 New York (13:00 on the day after Thanksgiving); runs start 30
    minutes later. The round-the-clock calendar's day ends at midnight UTC."""
    assert business_day_ended(calendar=calendar_get(code=code), now=now) == expected


def test_the_schedule_runs_each_calendar_once_after_its_close():
    nyse = InstrumentFactory(calendar="XNYS", settlement_cycle=1)
    trading.open_instrument(settlement_cycle=1)
    now = dt.datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    runs = settlement_runs_due(now=now)
    assert sorted((r.calendar.code, r.run_date, r.trigger) for r in runs) == [
        ("24x7", dt.date(2026, 11, 22), "schedule"),
        ("XNYS", dt.date(2026, 11, 23), "schedule"),
    ]
    assert settlement_runs_due(now=now + dt.timedelta(minutes=10)) == []
    assert nyse.calendar.code == "XNYS"
