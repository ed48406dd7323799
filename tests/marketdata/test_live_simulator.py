"""The market simulator: house market makers trade through the real pipeline, the books stay
balanced, and a seed makes a run repeatable."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount
from apps.kyc.choices import KycStatus
from apps.kyc.models import KycApplication
from apps.ledger.choices import DepositStatus
from apps.ledger.models import Deposit, JournalEntry
from apps.ledger.selectors import ledger_integrity
from apps.marketdata import simulator, tasks
from apps.marketdata.models import MarketState, TradeTick
from apps.marketdata.services import notification_channels
from apps.matching.models import Trade
from apps.orders.models import Order
from apps.positions.services import positions_reconcile
from tests.factories import trading

pytestmark = pytest.mark.django_db(transaction=True)


def listed(symbol: str, **fields):
    fields.setdefault("reference_price", Decimal("100.00"))
    return trading.open_instrument(symbol=symbol, **fields)


def test_the_simulator_trades_through_the_pipeline_and_the_books_balance():
    instrument = listed("SIMX")
    report = simulator.simulate(symbols=["SIMX"], steps=25, seed=11)

    assert report.instruments == ["SIMX"]
    assert report.placed >= 25 and report.trades > 0
    trades = Trade.objects.filter(instrument=instrument)
    assert trades.count() == report.trades
    # Every order came from a house market maker and went through intake and matching.
    makers = TradingAccount.objects.filter(owner__email__endswith="@house.bourse.local")
    assert set(
        Order.objects.filter(instrument=instrument).values_list("account", flat=True)
    ) <= set(makers.values_list("pk", flat=True))
    assert not Order.objects.filter(instrument=instrument, needs_match=True).exists()
    # Market data heard every print.
    assert TradeTick.objects.filter(instrument=instrument).count() == report.trades
    state = MarketState.objects.get(instrument=instrument)
    assert state.last == trades.order_by("-executed_at", "-pk").first().price
    # Cash came in by bank transfer, shares from custody; the books balance.
    assert Deposit.objects.filter(account__in=makers, status=DepositStatus.CREDITED).exists()
    assert JournalEntry.objects.filter(kind="securities_transfer").exists()
    assert ledger_integrity().ok
    assert positions_reconcile() == []


def test_house_makers_are_verified_clients_created_once():
    first = simulator.house_makers(currencies={"USD"})
    again = simulator.house_makers(currencies={"USD", "EUR"})
    assert [m.user.pk for m in first] == [m.user.pk for m in again]
    assert len(first) == simulator.MAKERS
    for maker in again:
        assert not maker.user.has_usable_password()
        # The house hears of its own fills only in the record.
        assert notification_channels(user=maker.user, event="order_fill") == {
            "in_app": False,
            "email": False,
        }
        application = KycApplication.objects.get(user=maker.user)
        assert application.status == KycStatus.APPROVED and application.tier == 3
        accounts = TradingAccount.objects.filter(owner=maker.user)
        assert sorted(accounts.values_list("currency", flat=True)) == ["EUR", "USD"]
        assert {a.status for a in accounts} == {AccountStatus.ACTIVE}


def test_a_seed_makes_the_same_decisions():
    a, b, c = listed("SEEDA"), listed("SEEDB"), listed("SEEDC")

    def decisions(instrument, seed):
        run = simulator.Simulator(instruments=[instrument], seed=seed, record=True)
        run.run(steps=8)
        return [(kind, *rest) for kind, _symbol, *rest in run.report.actions]

    same = decisions(a, 5)
    assert same == decisions(b, 5)
    assert same != decisions(c, 6)


def test_only_instruments_open_with_a_price_are_simulated():
    listed("OPEN1")
    trading.open_instrument(symbol="NOPRICE", reference_price=None, previous_close=None)
    symbols = [i.symbol for i in simulator.tradable_instruments()]
    assert "OPEN1" in symbols and "NOPRICE" not in symbols


def test_the_command_and_the_beat_task(settings):
    listed("CMDX")
    out = io.StringIO()
    call_command("simulate_market", "--symbols", "CMDX", "--steps", "6", "--seed", "3", stdout=out)
    assert "Simulated 6 steps on CMDX" in out.getvalue()

    settings.MARKETDATA_SIMULATOR_SYMBOLS = ["CMDX"]
    settings.MARKETDATA_SIMULATOR_STEPS = 4
    before = Order.objects.count()
    trades = tasks.simulate_market.apply().get()
    assert isinstance(trades, int)
    assert Order.objects.count() > before
    assert ledger_integrity().ok


def test_short_runs_take_turns_across_instruments():
    symbols = ["ROTA", "ROTB", "ROTC"]
    for symbol in symbols:
        listed(symbol)
    for seed in range(6):
        simulator.simulate(symbols=symbols, steps=1, seed=seed)
    traded = set(
        Order.objects.filter(instrument__symbol__in=symbols).values_list(
            "instrument__symbol", flat=True
        )
    )
    assert len(traded) > 1
