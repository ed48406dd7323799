"""Reads of the orders app: fees, the prices a hold is sized on, a client's orders, and the
pre-trade preview."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Max, Min, QuerySet, Sum
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.core.errors import not_found
from apps.instruments.models import Instrument
from apps.ledger.money import minor_unit
from apps.orders.choices import OPEN_ORDER_STATUSES, OrderSide, OrderStatus, OrderType
from apps.orders.models import FeeSchedule, Order

ZERO = Decimal(0)


def fee_schedules() -> dict[str, FeeSchedule]:
    """The active fee schedule of each asset class."""
    return {f.asset_class: f for f in FeeSchedule.objects.filter(active=True)}


def order_fee(
    *,
    instrument: Instrument,
    notional: Decimal,
    quantity: Decimal,
    schedules: dict[str, FeeSchedule] | None = None,
) -> Decimal:
    """The whole fee of an order of ``instrument`` that traded ``quantity`` for ``notional``."""
    schedule = (schedules if schedules is not None else fee_schedules()).get(instrument.asset_class)
    if schedule is None:
        return ZERO
    return schedule.fee_for(
        notional=notional, quantity=quantity, cents=minor_unit(instrument.currency)
    )


def cash_amount(value: Decimal, currency: str) -> Decimal:
    """``value`` rounded half up to the currency's minor unit (what changes hands)."""
    return value.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def best_opposite_price(*, instrument: Instrument, side: str) -> Decimal | None:
    """The best resting limit price a ``side`` order would meet: lowest ask for a buy, highest
    bid for a sell (from the open orders, so it is current at intake)."""
    opposite = OrderSide.SELL if side == OrderSide.BUY else OrderSide.BUY
    rows = Order.objects.filter(
        instrument=instrument,
        side=opposite,
        status__in=[OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED],
        limit_price__isnull=False,
    ).exclude(type=OrderType.STOP_LIMIT, needs_match=True)
    if side == OrderSide.BUY:
        return rows.aggregate(p=Min("limit_price"))["p"]
    return rows.aggregate(p=Max("limit_price"))["p"]


def reference_price(*, instrument: Instrument) -> Decimal | None:
    """The last trade price, else the instrument's reference price."""
    # matching sits downstream of orders: read its table without importing it
    last = (
        apps.get_model("matching", "BookState")
        .objects.filter(instrument=instrument)
        .values_list("last_price", flat=True)
        .first()
    )
    return last if last is not None else instrument.reference_price


def collar_price(*, instrument: Instrument, side: str, basis: Decimal) -> Decimal:
    """The furthest a market order may trade from ``basis``: ORDER_MARKET_COLLAR_PCT above it
    for a buy (rounded up to the tick), below it for a sell (rounded down, at least a tick)."""
    pct = Decimal(str(settings.ORDER_MARKET_COLLAR_PCT)) / 100
    tick = instrument.tick_size
    if side == OrderSide.BUY:
        return (basis * (1 + pct) / tick).to_integral_value(ROUND_CEILING) * tick
    low = (basis * (1 - pct) / tick).to_integral_value(ROUND_HALF_UP) * tick
    return max(low, tick)


def trading_used_today(*, user, now: dt.datetime | None = None) -> Decimal:
    """Notional of the orders the user placed today (UTC) that counted toward the limit."""
    now = now or timezone.now()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    total = (
        Order.objects.filter(account__owner=user, created_at__gte=start)
        .exclude(status=OrderStatus.REJECTED)
        .aggregate(total=Sum("notional_estimate"))["total"]
    )
    return total or ZERO


def orders_for(
    *,
    user,
    account: TradingAccount | None = None,
    status: str | None = None,
    symbol: str | None = None,
) -> QuerySet[Order]:
    """A client's orders, newest first; ``status`` may be ``open`` for every open status."""
    rows = Order.objects.filter(account__owner=user).select_related("instrument", "account")
    if account is not None:
        rows = rows.filter(account=account)
    if status == "open":
        rows = rows.filter(status__in=OPEN_ORDER_STATUSES)
    elif status:
        rows = rows.filter(status=status)
    if symbol:
        rows = rows.filter(instrument__symbol=symbol.upper())
    return rows.order_by("-sequence")


def order_for(*, user, pk) -> Order:
    """One of the user's orders, or ``not_found`` (another client's order included)."""
    try:
        return orders_for(user=user).get(pk=int(pk))
    except (Order.DoesNotExist, ValueError, TypeError):
        raise not_found("No such order.") from None


def open_orders_waiting() -> list[dict]:
    """Per instrument: orders waiting for the matching pipeline and the oldest one's age, for
    the queue health page."""
    now = timezone.now()
    rows = (
        Order.objects.filter(needs_match=True, status__in=OPEN_ORDER_STATUSES)
        .values("instrument_id", "instrument__symbol")
        .annotate(waiting=Count("id"), oldest=Min("created_at"))
        .order_by("-waiting")
    )
    return [
        {
            "instrument_id": r["instrument_id"],
            "symbol": r["instrument__symbol"],
            "waiting": r["waiting"],
            "oldest_age_seconds": (now - r["oldest"]).total_seconds(),
        }
        for r in rows
    ]


def order_summary(order: Order) -> dict:
    """An order as a client's live stream shows it (the REST order without its fills)."""
    return {
        "id": order.pk,
        "account": order.account_id,
        "symbol": order.instrument.symbol,
        "side": order.side,
        "type": order.type,
        "status": order.status,
        "quantity": order.quantity,
        "filled_quantity": order.filled_quantity,
        "leaves_quantity": order.quantity - order.filled_quantity
        if order.status in OPEN_ORDER_STATUSES
        else ZERO,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "average_price": order.average_price,
        "fees": order.fees,
        "time_in_force": order.time_in_force,
        "client_order_id": order.client_order_id,
        "reject_reason": order.reject_reason,
        "updated_at": order.updated_at,
    }
