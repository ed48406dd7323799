"""The matching pipeline with a real Celery worker: fills conserve cash and shares, holds are
released exactly once when cancels race the worker, and a worker killed mid-batch loses and
duplicates nothing."""

from __future__ import annotations

import random
import threading
import time
from decimal import Decimal

import pytest
from django.db import close_old_connections
from django.db.models import Sum
from django.test import override_settings

from apps.core.errors import ApplicationError
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import LedgerAccount
from apps.ledger.selectors import ledger_integrity
from apps.matching.models import Fill, Trade
from apps.matching.tasks import matching_sweep
from apps.orders import services as order_services
from apps.orders.choices import OPEN_ORDER_STATUSES
from apps.orders.models import Order
from apps.positions.services import positions_reconcile
from tests.factories import trading

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("celery_worker")]

CASH = Decimal("1000000.00")


def _market(traders: int = 4, shares: int = 5000):
    instrument = trading.open_instrument(reference_price=Decimal("50.00"))
    accounts = [trading.trader(CASH) for _ in range(traders)]
    for account in accounts:
        trading.shares(account, instrument, shares, cost=Decimal(shares) * 50)
    return instrument, accounts


def _assert_books_balance(instrument, accounts, shares_each: int) -> None:
    assert ledger_integrity().ok
    assert positions_reconcile() == []
    client_cash = LedgerAccount.objects.filter(owner__in=accounts, currency="USD").aggregate(
        t=Sum("balance")
    )["t"]
    fees = LedgerAccount.objects.filter(house=HouseAccount.FEES, currency="USD").aggregate(
        t=Sum("balance")
    )["t"] or Decimal(0)
    assert client_cash + fees == CASH * len(accounts)
    client_shares = LedgerAccount.objects.filter(
        owner__in=accounts, instrument=instrument
    ).aggregate(t=Sum("balance"))["t"]
    assert client_shares == shares_each * len(accounts)
    # Every hold still reserved belongs to an open order, to the cent and the share.
    for account in accounts:
        for side, asset in (("buy", {"currency": "USD"}), ("sell", {"instrument": instrument})):
            reserved = LedgerAccount.objects.filter(
                owner=account, bucket=Bucket.RESERVED, **asset
            ).aggregate(t=Sum("balance"))["t"] or Decimal(0)
            held = Order.objects.filter(
                account=account, side=side, status__in=OPEN_ORDER_STATUSES
            ).aggregate(t=Sum("reserved"))["t"] or Decimal(0)
            assert reserved == held, (account, side)
    assert not Order.objects.exclude(status__in=OPEN_ORDER_STATUSES).exclude(reserved=0).exists()
    for order in Order.objects.all():
        fills = Fill.objects.filter(order=order).aggregate(q=Sum("quantity"))["q"] or 0
        assert fills == order.filled_quantity


def test_random_flow_conserves_cash_and_shares(celery_worker):
    instrument, accounts = _market()
    rng = random.Random(7)
    for _ in range(300):
        account = rng.choice(accounts)
        side = rng.choice(["buy", "sell"])
        price = Decimal("50.00") + Decimal(rng.randint(-20, 20)) / 100
        try:
            if rng.random() < 0.15:
                trading.place(account, instrument, side, rng.randint(1, 40))
            else:
                trading.place(account, instrument, side, rng.randint(1, 40), price)
        except ApplicationError as exc:  # e.g. shares all reserved already
            assert exc.code in ("insufficient_position", "insufficient_funds")
    celery_worker.wait_idle()
    assert Trade.objects.count() > 50
    _assert_books_balance(instrument, accounts, 5000)


def test_cancels_racing_the_worker_release_each_hold_once(celery_worker):
    instrument, accounts = _market(traders=4)
    makers, takers = accounts[:2], accounts[2:]
    resting = [
        trading.place(
            makers[n % 2], instrument, "sell", 10, Decimal("50.00") + n % 5 / Decimal(100)
        )
        for n in range(80)
    ]
    celery_worker.wait_idle()
    errors: list[Exception] = []

    def cancel_all() -> None:
        try:
            for order in resting:
                try:
                    order_services.order_cancel(order=order, actor=None)
                except ApplicationError as exc:
                    assert exc.code == "invalid_state"
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()

    def buy_all() -> None:
        try:
            for n in range(40):
                trading.place(takers[n % 2], instrument, "buy", 15, Decimal("50.10"))
        except Exception as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=cancel_all), threading.Thread(target=buy_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    celery_worker.wait_idle()
    for order in Order.objects.filter(pk__in=[o.pk for o in resting]):
        assert order.status in ("filled", "cancelled", "partially_filled")
        assert not (order.status == "cancelled" and order.reserved)
    _assert_books_balance(instrument, accounts, 5000)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(celery_worker):
    instrument, accounts = _market(traders=6, shares=20000)
    celery_worker.kill()  # orders pile up with nobody matching them
    rng = random.Random(11)
    for n in range(900):
        account = accounts[n % len(accounts)]
        side = "sell" if n % 2 else "buy"
        price = Decimal("50.00") + Decimal(rng.randint(-5, 5)) / 100
        trading.place(account, instrument, side, rng.randint(1, 20), price)
    celery_worker.start()
    time.sleep(rng.uniform(0.3, 1.2))  # somewhere inside the big batch
    celery_worker.kill()
    trades_after_kill = Trade.objects.count()
    celery_worker.start()
    # The killed worker's message stays unacknowledged until the broker's visibility timeout:
    # the sweeper finds the orders still waiting and enqueues them again.
    with override_settings(MATCHING_SWEEP_AFTER_SECONDS=0):
        matching_sweep.apply()
    celery_worker.wait_idle()
    assert Trade.objects.count() >= trades_after_kill
    assert Trade.objects.values("instrument", "batch", "match_sequence").distinct().count() == (
        Trade.objects.count()
    )
    _assert_books_balance(instrument, accounts, 20000)
