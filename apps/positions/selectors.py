"""Reads of the positions app: a client's positions and lots, their valuation (the portfolio),
executions, securities transfers and reconciliation breaks.

Valuation: a position is marked at its instrument's last trade price, else the instrument's
reference price. Unrealized P&L is market value less the open lots' cost (fees included);
total P&L adds what the position realized. Day P&L is what the position gained since the
previous close: the shares held at the start of the trade date against ``previous_close``,
today's buys against their price (fees included), today's sells at their price (fees
deducted) against the previous close.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.core.errors import not_found
from apps.instruments.models import Instrument
from apps.instruments.selectors import trade_date
from apps.ledger.choices import Bucket
from apps.ledger.models import LedgerAccount
from apps.ledger.money import minor_unit
from apps.matching.models import Fill, TradeStatus
from apps.matching.selectors import last_prices
from apps.positions.models import (
    Position,
    ReconciliationBreak,
    SecuritiesTransfer,
    TaxLot,
)

ZERO = Decimal(0)
LONG_TERM_AFTER = dt.timedelta(days=365)


# --- Positions and lots ---------------------------------------------------------------------


def positions_for(
    *,
    user,
    account: TradingAccount | None = None,
    symbol: str | None = None,
    include_closed: bool = False,
) -> QuerySet[Position]:
    """A client's positions (open ones unless ``include_closed``), by account then symbol."""
    rows = Position.objects.filter(account__owner=user).select_related(
        "account", "instrument", "instrument__calendar"
    )
    if account is not None:
        rows = rows.filter(account=account)
    if symbol:
        rows = rows.filter(instrument__symbol=symbol.strip().upper())
    if not include_closed:
        rows = rows.filter(quantity__gt=0)
    return rows.order_by("account__number", "instrument__symbol")


def position_for(*, user, pk) -> Position:
    """One of the client's positions, or ``not_found`` (another client's included)."""
    try:
        return positions_for(user=user, include_closed=True).get(pk=int(pk))
    except (Position.DoesNotExist, ValueError, TypeError):
        raise not_found("No such position.") from None


def lots_for(*, position: Position, include_closed: bool = False) -> QuerySet[TaxLot]:
    """A position's tax lots, oldest first (open ones unless ``include_closed``)."""
    rows = TaxLot.objects.filter(position=position)
    if not include_closed:
        rows = rows.filter(quantity__gt=0)
    return rows.order_by("acquired_on", "pk")


def lot_term(lot: TaxLot, *, on: dt.date | None = None) -> str:
    """``long`` when the lot would be held more than a year if sold ``on`` (today)."""
    on = on or timezone.localdate()
    return "long" if on - lot.acquired_on > LONG_TERM_AFTER else "short"


# --- Valuation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """The price a position is valued at, and where it came from (``last`` trade,
    ``reference`` price, or ``none``)."""

    price: Decimal | None
    source: str


def marks(*, instruments: Iterable[Instrument]) -> dict[int, Mark]:
    """Per instrument id: its last trade price, else its reference price."""
    instruments = list(instruments)
    last = last_prices(instrument_ids=[i.pk for i in instruments])
    found = {}
    for instrument in instruments:
        if instrument.pk in last:
            found[instrument.pk] = Mark(last[instrument.pk], "last")
        elif instrument.reference_price is not None:
            found[instrument.pk] = Mark(instrument.reference_price, "reference")
        else:
            found[instrument.pk] = Mark(None, "none")
    return found


@dataclass
class Valuation:
    """One position valued now (money in the instrument's currency, to its minor unit)."""

    position: Position
    mark: Mark
    market_value: Decimal
    unrealized_pnl: Decimal
    day_pnl: Decimal
    available_quantity: Decimal
    reserved_quantity: Decimal

    @property
    def instrument(self) -> Instrument:
        return self.position.instrument

    @property
    def currency(self) -> str:
        return self.position.instrument.currency

    @property
    def total_pnl(self) -> Decimal:
        return self.unrealized_pnl + self.realized_pnl

    @property
    def realized_pnl(self) -> Decimal:
        return _cash(self.position.realized_pnl, self.currency)

    @property
    def unrealized_pnl_pct(self) -> Decimal | None:
        cost = self.position.cost_basis
        if not cost:
            return None
        return (self.unrealized_pnl * 100 / cost).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _cash(value: Decimal, currency: str) -> Decimal:
    return value.quantize(minor_unit(currency), ROUND_HALF_UP)


@dataclass
class _Today:
    bought: Decimal = ZERO
    sold: Decimal = ZERO
    spent: Decimal = ZERO  # buys: notional + fee
    received: Decimal = ZERO  # sells: notional - fee


def _today_fills(positions: Sequence[Position], now: dt.datetime) -> dict[tuple[int, int], _Today]:
    """Per (account, instrument): the position's fills on its instrument's current trade date
    (only trades in force: busted ones and the originals of corrections are left out)."""
    dates: dict[int, dt.date] = {}
    for position in positions:
        instrument = position.instrument
        if instrument.pk not in dates:
            dates[instrument.pk] = trade_date(calendar=instrument.calendar, at=now)
    if not positions:
        return {}
    wanted = Q()
    for instrument_id, day in dates.items():
        wanted |= Q(instrument_id=instrument_id, trade_date=day)
    rows = Fill.objects.filter(
        wanted,
        account_id__in={p.account_id for p in positions},
        trade__status=TradeStatus.ACTIVE,
    ).values_list("account_id", "instrument_id", "side", "quantity", "notional", "fee")
    today: dict[tuple[int, int], _Today] = defaultdict(_Today)
    for account_id, instrument_id, side, quantity, notional, fee in rows:
        item = today[(account_id, instrument_id)]
        if side == "buy":
            item.bought += quantity
            item.spent += notional + fee
        else:
            item.sold += quantity
            item.received += notional - fee
    return today


def _security_buckets(positions: Sequence[Position]) -> dict[tuple[int, int], dict[str, Decimal]]:
    if not positions:
        return {}
    rows = LedgerAccount.objects.filter(
        owner_id__in={p.account_id for p in positions},
        instrument_id__in={p.instrument_id for p in positions},
    ).values_list("owner_id", "instrument_id", "bucket", "balance")
    found: dict[tuple[int, int], dict[str, Decimal]] = defaultdict(dict)
    for owner_id, instrument_id, bucket, balance in rows:
        found[(owner_id, instrument_id)][bucket] = balance
    return found


def positions_value(
    *, positions: Iterable[Position], now: dt.datetime | None = None
) -> list[Valuation]:
    """Value positions (with ``instrument`` and its calendar loaded) in a fixed number of
    queries, whatever their count."""
    now = now or timezone.now()
    positions = list(positions)
    prices = marks(instruments={p.instrument_id: p.instrument for p in positions}.values())
    today = _today_fills(positions, now)
    buckets = _security_buckets(positions)
    valued = []
    for position in positions:
        instrument = position.instrument
        currency = instrument.currency
        mark = prices[instrument.pk]
        key = (position.account_id, instrument.pk)
        fills = today.get(key, _Today())
        price = mark.price
        if price is None:  # nothing to value it at: count it at cost
            market_value = _cash(position.cost_basis, currency)
            day_pnl = ZERO
        else:
            market_value = _cash(position.quantity * price, currency)
            previous = instrument.previous_close if instrument.previous_close is not None else price
            held_at_open = position.quantity - fills.bought + fills.sold
            day_pnl = _cash(
                market_value - held_at_open * previous - fills.spent + fills.received, currency
            )
        bucket = buckets.get(key, {})
        valued.append(
            Valuation(
                position=position,
                mark=mark,
                market_value=market_value,
                unrealized_pnl=market_value - _cash(position.cost_basis, currency),
                day_pnl=day_pnl,
                available_quantity=bucket.get(Bucket.SETTLED, ZERO)
                + bucket.get(Bucket.UNSETTLED, ZERO),
                reserved_quantity=bucket.get(Bucket.RESERVED, ZERO),
            )
        )
    return valued


@dataclass
class Portfolio:
    """An account valued now: its cash (every bucket), its positions, and the P&L of
    everything it held (a position closed today counts in the day's P&L, every closed one in
    the realized P&L). Money in the account's currency."""

    account: TradingAccount
    currency: str
    cash_settled: Decimal
    cash_unsettled: Decimal
    cash_reserved: Decimal
    valuations: list[Valuation] = field(default_factory=list)
    realized_pnl: Decimal = ZERO
    as_of: dt.datetime | None = None

    @property
    def open_valuations(self) -> list[Valuation]:
        """The positions still held (the others count only for P&L)."""
        return [v for v in self.valuations if v.position.quantity > 0]

    @property
    def cash(self) -> Decimal:
        return self.cash_settled + self.cash_unsettled + self.cash_reserved

    @property
    def buying_power(self) -> Decimal:
        return self.cash_settled + self.cash_unsettled

    @property
    def positions_value(self) -> Decimal:
        return sum((v.market_value for v in self.valuations), ZERO)

    @property
    def total_value(self) -> Decimal:
        return self.cash + self.positions_value

    @property
    def day_pnl(self) -> Decimal:
        return sum((v.day_pnl for v in self.valuations), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((v.unrealized_pnl for v in self.valuations), ZERO)

    @property
    def total_pnl(self) -> Decimal:
        return self.unrealized_pnl + self.realized_pnl


def portfolio(*, account: TradingAccount, now: dt.datetime | None = None) -> Portfolio:
    """The account's portfolio now (see :class:`Portfolio`)."""
    now = now or timezone.now()
    currency = account.currency
    cash = dict(
        LedgerAccount.objects.filter(owner=account, currency=currency).values_list(
            "bucket", "balance"
        )
    )
    every = sorted(
        Position.objects.filter(account=account).select_related(
            "account", "instrument", "instrument__calendar"
        ),
        key=lambda p: p.instrument.symbol,
    )
    unit = minor_unit(currency)
    return Portfolio(
        account=account,
        currency=currency,
        cash_settled=cash.get(Bucket.SETTLED, ZERO).quantize(unit),
        cash_unsettled=cash.get(Bucket.UNSETTLED, ZERO).quantize(unit),
        cash_reserved=cash.get(Bucket.RESERVED, ZERO).quantize(unit),
        valuations=positions_value(positions=every, now=now),
        realized_pnl=sum((_cash(p.realized_pnl, p.instrument.currency) for p in every), ZERO),
        as_of=now,
    )


# --- Executions -----------------------------------------------------------------------------


def fills_for(
    *,
    user,
    account: TradingAccount | None = None,
    symbol: str | None = None,
    order_id: int | None = None,
) -> QuerySet[Fill]:
    """A client's executions (one fill per side of a trade), newest first."""
    rows = Fill.objects.filter(account__owner=user).select_related("instrument", "account", "trade")
    if account is not None:
        rows = rows.filter(account=account)
    if symbol:
        rows = rows.filter(instrument__symbol=symbol.strip().upper())
    if order_id is not None:
        rows = rows.filter(order_id=order_id)
    return rows.order_by("-executed_at", "-id")


# --- Back office ----------------------------------------------------------------------------


def securities_transfers_backoffice(*, status: str | None = None) -> QuerySet[SecuritiesTransfer]:
    rows = SecuritiesTransfer.objects.select_related(
        "account", "instrument", "requested_by", "decided_by"
    )
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-requested_at", "-id")


def securities_transfer_backoffice(*, pk) -> SecuritiesTransfer:
    try:
        return securities_transfers_backoffice().get(pk=int(pk))
    except (SecuritiesTransfer.DoesNotExist, ValueError, TypeError):
        raise not_found("No such securities transfer.") from None


def reconciliation_breaks(*, open_only: bool = False) -> QuerySet[ReconciliationBreak]:
    rows = ReconciliationBreak.objects.select_related("account", "instrument")
    if open_only:
        rows = rows.filter(resolved_at__isnull=True)
    return rows.order_by("-run_at", "id")


def reconciliation_break_get(*, pk) -> ReconciliationBreak:
    try:
        return reconciliation_breaks().get(pk=int(pk))
    except (ReconciliationBreak.DoesNotExist, ValueError, TypeError):
        raise not_found("No such reconciliation break.") from None
