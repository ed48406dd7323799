"""The matching pipeline: one instrument's accepted orders through its book, and everything a
match changes, in one transaction.

:func:`match_instrument` (Celery queue ``matching.<shard>``, one worker per queue):

1. takes the instrument's advisory lock (the lock cancel, replace and expiry take too);
2. loads the book: the worker's cached :class:`~apps.matching.book.OrderBook`, unless the
   instrument's ``BookState.version`` moved (a cancel, a replace, another worker), in which
   case it is rebuilt from the open orders in time priority;
3. feeds the book every order waiting for matching (``needs_match``), in arrival sequence;
4. turns the book's events into trades, fills, order updates, one ledger entry per trade and
   the hold releases of finished orders, position and tax-lot changes, and settlement
   instructions, written with bulk statements and one ledger batch;
5. after commit, sends :data:`apps.matching.signals.batch_committed` (market data, clients'
   order streams, fill notifications).

A crash commits nothing: the orders stay ``needs_match`` and the next run, or the sweeper,
takes them; the cached book is dropped, so it is rebuilt from the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.core import context
from apps.core.bulk import update_rows
from apps.core.services import outbox_enqueue
from apps.instruments.choices import MarketState
from apps.instruments.models import Instrument
from apps.instruments.selectors import market_state, settlement_date, trade_date
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import LedgerAccount
from apps.ledger.services import EntrySpec, journal_post_batch, ledger_account_get
from apps.marketdata.feed import BookTop, TradePrint
from apps.matching import book as engine
from apps.matching.models import BookState, Fill, Trade
from apps.matching.signals import batch_committed
from apps.orders import selectors as order_selectors
from apps.orders.choices import OPEN_ORDER_STATUSES, CancelSource, OrderSide, OrderType
from apps.orders.models import Order
from apps.orders.services import book_lock, hold_accounts, hold_release_spec
from apps.orders.signals import order_changed
from apps.positions.services import PositionChange, positions_apply
from apps.settlement.services import instructions_create

logger = logging.getLogger("bourse.matching")

ZERO = Decimal(0)
MARKET_DATA_TASK = "apps.marketdata.tasks.market_data_apply"
# What a batch changes on an order.
ORDER_FIELDS = (
    "status",
    "filled_quantity",
    "average_price",
    "notional_filled",
    "fees",
    "reserved",
    "hold_from_unsettled",
    "needs_match",
    "book_priority",
    "cancel_source",
    "status_reason",
    "done_at",
    "updated_at",
)

# The worker's books: instrument id -> (book version, book).
_BOOKS: dict[int, tuple[int, engine.OrderBook]] = {}

_DONE_SOURCE = {
    engine.DoneReason.CANCELLED: CancelSource.CLIENT,
    engine.DoneReason.IOC_REMAINDER: CancelSource.MARKET,
    engine.DoneReason.FOK_UNFILLED: CancelSource.MARKET,
    engine.DoneReason.STP: CancelSource.SELF_TRADE,
}
_DONE_TEXT = {
    engine.DoneReason.IOC_REMAINDER: "Unfilled remainder of an immediate order cancelled.",
    engine.DoneReason.FOK_UNFILLED: "Fill-or-kill order could not fill completely.",
    engine.DoneReason.STP: "Cancelled to prevent a trade with the same account.",
    engine.DoneReason.CANCELLED: "Cancelled.",
}


@dataclass
class BatchResult:
    """What one run did (also what the benchmark and the status command print)."""

    instrument_id: int
    orders: int = 0
    trades: int = 0
    rebuilt: bool = False
    version: int = 0
    seconds: float = 0.0
    trade_ids: list[int] = field(default_factory=list)


def forget_books() -> None:
    """Drop every cached book (tests, and a worker after an error)."""
    _BOOKS.clear()


def _stp() -> engine.SelfTradePrevention:
    return engine.SelfTradePrevention(settings.MATCHING_SELF_TRADE)


def _new_order(order: Order, *, restoring: bool = False) -> engine.NewOrder:
    order_type = engine.OrderType(order.type)
    stop_price = order.stop_price
    if restoring and order.type == OrderType.STOP_LIMIT and order.status != "pending_trigger":
        order_type, stop_price = engine.OrderType.LIMIT, None
    return engine.NewOrder(
        order.pk,
        engine.Side(order.side),
        order.quantity,
        order.limit_price,
        order_type,
        engine.TimeInForce(order.time_in_force),
        stop_price,
        order.account_id,
        order.protection_price,
        None,
        order.filled_quantity,
    )


def _load_book(instrument: Instrument, state: BookState) -> tuple[engine.OrderBook, bool]:
    cached = _BOOKS.get(instrument.pk)
    if cached is not None and cached[0] == state.version:
        return cached[1], False
    book = engine.OrderBook(
        tick_size=instrument.tick_size,
        lot_size=instrument.lot_size,
        stp=_stp(),
        last_price=state.last_price,
    )
    resting = (
        Order.objects.filter(
            instrument=instrument, needs_match=False, status__in=OPEN_ORDER_STATUSES
        )
        .order_by("book_priority", "sequence")
        .only(
            "pk",
            "side",
            "type",
            "status",
            "quantity",
            "limit_price",
            "stop_price",
            "time_in_force",
            "account_id",
            "protection_price",
            "filled_quantity",
        )
    )
    book.restore((_new_order(o, restoring=True) for o in resting), last_price=state.last_price)
    return book, True


class _Batch:
    """The writes of one run, gathered in memory and flushed together."""

    def __init__(self, instrument: Instrument, state: BookState, now: dt.datetime) -> None:
        self.instrument = instrument
        self.state = state
        self.now = now
        self.orders: dict[int, Order] = {}
        self.touched: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self.fills: list[Fill] = []
        self.entries: list[EntrySpec] = []
        self.trade_entry_index: list[int] = []
        self.changes: list[PositionChange] = []
        self.schedules = order_selectors.fee_schedules()
        self.trade_date = trade_date(calendar=instrument.calendar, at=now)
        self.settlement_date = settlement_date(instrument=instrument, trade_date=self.trade_date)
        self.currency = instrument.currency
        self._accounts: dict[tuple, LedgerAccount] = {}
        self.lot_methods: dict[int, str] = {}

    def prefetch(self, orders: list[Order]) -> None:
        """Load the ledger buckets the batch's orders will touch in one query: each account's
        cash in the instrument's currency and its shares of the instrument."""
        owners = {o.account_id for o in orders}
        rows = LedgerAccount.objects.filter(
            Q(currency=self.currency) | Q(instrument=self.instrument),
            owner_id__in=owners,
        )
        for row in rows:
            asset = (
                ("currency", row.currency) if row.currency else ("instrument", self.instrument.pk)
            )
            key = tuple(sorted((("bucket", row.bucket), ("owner", row.owner_id), asset)))
            self._accounts[key] = row

    # ledger accounts, looked up once per batch
    def account(self, **lookup: Any) -> LedgerAccount:
        key = tuple(sorted((k, getattr(v, "pk", v)) for k, v in lookup.items()))
        # an instrument bucket's key holds the instrument's id, as prefetch() stores it
        found = self._accounts.get(key)
        if found is None:
            found = self._accounts[key] = ledger_account_get(**lookup)
        return found

    def holds(self, order: Order) -> dict[str, LedgerAccount]:
        key = ("hold", order.account_id, order.side)
        found = self._accounts.get(key)
        if found is None:
            asset: dict[str, Any] = (
                {"currency": self.currency}
                if order.side == OrderSide.BUY
                else {"instrument": self.instrument}
            )
            found = self._accounts[key] = {
                bucket: self.account(owner=order.account, bucket=bucket, **asset)
                for bucket in (Bucket.SETTLED, Bucket.UNSETTLED, Bucket.RESERVED)
            }
        return found

    def priority(self) -> int:
        value = self.state.next_priority
        self.state.next_priority += 1
        return value


def _fee_increment(batch: _Batch, order: Order, notional: Decimal, quantity: Decimal) -> Decimal:
    total = order_selectors.order_fee(
        instrument=batch.instrument,
        notional=order.notional_filled + notional,
        quantity=order.filled_quantity + quantity,
        schedules=batch.schedules,
    )
    return max(total - order.fees, ZERO)


def _apply_fill(batch: _Batch, event: engine.Fill) -> None:
    maker, taker = batch.orders[event.maker_id], batch.orders[event.taker_id]
    buyer, seller = (maker, taker) if maker.side == OrderSide.BUY else (taker, maker)
    price, quantity = event.price, event.quantity
    notional = order_selectors.cash_amount(price * quantity, batch.currency)
    buyer_fee = _fee_increment(batch, buyer, notional, quantity)
    seller_fee = min(_fee_increment(batch, seller, notional, quantity), notional)
    # Rounding guard: a buy never pays more than it still holds; the house absorbs the cent.
    paid = min(notional + buyer_fee, buyer.reserved)
    buyer_fee = paid - notional
    received = notional - seller_fee

    trade = Trade(
        instrument=batch.instrument,
        buy_order=buyer,
        sell_order=seller,
        price=price,
        quantity=quantity,
        notional=notional,
        aggressor_side=str(event.aggressor),
        trade_date=batch.trade_date,
        settlement_date=batch.settlement_date,
        executed_at=batch.now,
        match_sequence=len(batch.trades) + 1,
        batch=batch.state.version + 1,
    )
    batch.trades.append(trade)
    instrument = batch.instrument
    buyer_cash = batch.holds(buyer)
    seller_shares = batch.holds(seller)
    fees_account = batch.account(
        house=HouseAccount.FEES, currency=batch.currency, bucket=Bucket.SETTLED
    )
    postings = [
        (buyer_cash[Bucket.RESERVED], -paid),
        (
            batch.account(owner=seller.account, currency=batch.currency, bucket=Bucket.UNSETTLED),
            received,
        )
        if received
        else None,
        (fees_account, buyer_fee + seller_fee) if buyer_fee + seller_fee else None,
        (seller_shares[Bucket.RESERVED], -quantity),
        (
            batch.account(owner=buyer.account, instrument=instrument, bucket=Bucket.UNSETTLED),
            quantity,
        ),
    ]
    batch.trade_entry_index.append(len(batch.entries))
    batch.entries.append(
        EntrySpec(
            kind="trade",
            postings=[p for p in postings if p is not None],
            memo=f"{instrument.symbol} {quantity:f} @ {price:f}",
            reference=f"TRD-{instrument.pk}-{trade.batch}-{trade.match_sequence}",
            idempotency_key=f"trade:{instrument.pk}:{trade.batch}:{trade.match_sequence}",
        )
    )
    for order, fee, amount, role in (
        (buyer, buyer_fee, paid, "buy"),
        (seller, seller_fee, received, "sell"),
    ):
        order.filled_quantity += quantity
        order.notional_filled += notional
        order.fees += fee
        order.average_price = (order.notional_filled / order.filled_quantity).quantize(
            Decimal("0.00000001")
        )
        order.reserved -= amount if role == "buy" else quantity
        if order.filled_quantity < order.quantity:
            order.fill_part()
        batch.touched[order.pk] = order
        batch.fills.append(
            Fill(
                trade=trade,
                order=order,
                account_id=order.account_id,
                instrument=instrument,
                side=order.side,
                liquidity="maker" if order is maker else "taker",
                price=price,
                quantity=quantity,
                notional=notional,
                fee=fee,
                trade_date=batch.trade_date,
                settlement_date=batch.settlement_date,
                executed_at=batch.now,
            )
        )


def _apply_done(batch: _Batch, event: engine.Done) -> None:
    order = batch.orders[event.order_id]
    if event.reason == engine.DoneReason.FILLED:
        order.fill()
    else:
        order.cancel()
        order.cancel_source = _DONE_SOURCE[event.reason]
        order.status_reason = _DONE_TEXT[event.reason]
    order.needs_match = False
    order.done_at = batch.now
    release = hold_release_spec(order, order.reserved, batch.holds(order), why=order.status)
    if release is not None:
        batch.entries.append(release)
    batch.touched[order.pk] = order


def _apply(batch: _Batch, events: list[engine.Event]) -> None:
    for event in events:
        kind = type(event)
        if kind is engine.Fill:
            _apply_fill(batch, event)
        elif kind is engine.Done:
            _apply_done(batch, event)
        elif kind is engine.Rested:
            order = batch.orders[event.order_id]
            if order.status == "pending_trigger":
                order.trigger()
            order.needs_match = False
            order.book_priority = batch.priority()
            batch.touched[order.pk] = order
        elif kind is engine.Pending:
            order = batch.orders[event.order_id]
            if order.status != "pending_trigger":
                order.wait_for_trigger()
            order.needs_match = False
            order.book_priority = batch.priority()
            batch.touched[order.pk] = order
        elif kind is engine.Triggered:
            order = batch.orders[event.order_id]
            if order.status == "pending_trigger":
                order.trigger()
            batch.touched[order.pk] = order


def _lot_methods(account_ids: set[int]) -> dict[int, str]:
    return dict(
        TradingAccount.objects.filter(pk__in=account_ids).values_list("pk", "lot_relief_method")
    )


def _flush(batch: _Batch) -> None:
    entries = journal_post_batch(entries=batch.entries)
    for trade, index in zip(batch.trades, batch.trade_entry_index, strict=True):
        trade.journal_entry_id = entries[index].pk
    Trade.objects.bulk_create(batch.trades)
    for fill in batch.fills:
        fill.trade_id = fill.trade.pk
    Fill.objects.bulk_create(batch.fills)
    touched = list(batch.touched.values())
    update_rows(Order, touched, ORDER_FIELDS)
    Order.history.bulk_history_create(
        touched, update=True, default_change_reason="matching", default_date=batch.now
    )
    methods = _lot_methods({f.account_id for f in batch.fills if f.side == OrderSide.SELL})
    changes = []
    for fill in batch.fills:
        buy = fill.side == OrderSide.BUY
        changes.append(
            PositionChange(
                account_id=fill.account_id,
                instrument_id=batch.instrument.pk,
                side=fill.side,
                quantity=fill.quantity,
                amount=fill.notional + fill.fee if buy else fill.notional - fill.fee,
                on=fill.trade_date,
                reference=f"FILL-{fill.pk}",
                fill_id=fill.pk,
                lot_ids=() if buy else tuple(fill.order.lot_ids or ()),
                lot_method=methods.get(fill.account_id, "fifo"),
            )
        )
    positions_apply(changes=changes)
    instructions_create(fills=batch.fills, currency=batch.currency)


def _market_data_outbox(
    instrument: Instrument, trades: list[Trade], depth: engine.Depth, version: int
) -> None:
    """Hand the batch's prints and the book's top to market data through the outbox: the
    message commits with the batch, so no print is lost between the commit and the call."""
    prints = [
        TradePrint(
            trade_id=str(t.pk),
            price=t.price,
            quantity=t.quantity,
            aggressor_side=t.aggressor_side,
            executed_at=t.executed_at,
        ).to_json()
        for t in trades
    ]
    top = BookTop(
        bids=tuple((level.price, level.quantity) for level in depth.bids),
        asks=tuple((level.price, level.quantity) for level in depth.asks),
        version=version,
        as_of=timezone.now(),
    )
    outbox_enqueue(
        task_name=MARKET_DATA_TASK,
        args=[instrument.pk, prints, top.to_json()],
        queue="default",
    )


def match_instrument(*, instrument_id: int, limit: int | None = None) -> BatchResult:
    """Match the orders of the instrument waiting for the pipeline, up to ``limit`` (default
    ``MATCHING_BATCH_SIZE``) per transaction; a longer queue takes several runs. Small batches
    keep the clients' ledger buckets locked briefly, so intake is not held up behind them.
    Idempotent: a run with nothing waiting changes nothing."""
    started = time.perf_counter()
    limit = limit or settings.MATCHING_BATCH_SIZE
    result = BatchResult(instrument_id=instrument_id)
    if not Order.objects.filter(
        instrument_id=instrument_id, needs_match=True, status__in=OPEN_ORDER_STATUSES
    ).exists():
        return result
    instrument = Instrument.objects.select_related("calendar").get(pk=instrument_id)
    now = timezone.now()
    if market_state(instrument=instrument, at=now) != MarketState.OPEN:
        return result  # queued orders wait for the session; the sweeper comes back
    committed: dict[str, Any] = {}
    try:
        with transaction.atomic(), context.bind(actor=None):
            book_lock(instrument_id)
            state, _ = BookState.objects.get_or_create(instrument_id=instrument_id)
            state = BookState.objects.select_for_update().get(pk=state.pk)
            incoming = list(
                Order.objects.select_for_update(of=("self",))
                .select_related("account")
                .filter(
                    instrument_id=instrument_id, needs_match=True, status__in=OPEN_ORDER_STATUSES
                )
                .order_by("sequence")[:limit]
            )
            if not incoming:
                return result
            book, result.rebuilt = _load_book(instrument, state)
            batch = _Batch(instrument, state, now)
            batch.orders.update((o.pk, o) for o in incoming)
            events: list[engine.Event] = []
            for order in incoming:
                events.extend(book.apply(_new_order(order)))
            others = {
                oid
                for e in events
                for oid in ((e.maker_id,) if type(e) is engine.Fill else (e.order_id,))
                if oid not in batch.orders
            }
            if others:
                batch.orders.update(
                    (o.pk, o)
                    for o in Order.objects.select_for_update(of=("self",))
                    .select_related("account")
                    .filter(pk__in=others)
                    .order_by("pk")
                )
            for order in batch.orders.values():
                order.instrument = instrument
            batch.prefetch(list(batch.orders.values()))
            _apply(batch, events)
            if batch.trades:
                last = batch.trades[-1]
                state.last_price, state.last_quantity = last.price, last.quantity
                state.last_trade_at = now
            state.version += 1
            state.batches += 1
            state.save()
            _flush(batch)
            order_changed.send(sender=Order, orders=list(batch.touched.values()))
            _BOOKS[instrument_id] = (state.version, book)
            result.orders, result.trades = len(incoming), len(batch.trades)
            result.version = state.version
            result.trade_ids = [t.pk for t in batch.trades]
            depth = book.depth(10)
            _market_data_outbox(instrument, batch.trades, depth, state.version)
            committed.update(
                instrument=instrument,
                trades=list(batch.trades),
                fills=list(batch.fills),
                orders=list(batch.touched.values()),
                depth=depth,
            )
            transaction.on_commit(
                lambda: batch_committed.send(sender=BookState, **committed), robust=True
            )
    except Exception:
        _BOOKS.pop(instrument_id, None)
        raise
    result.seconds = time.perf_counter() - started
    return result


def instruments_waiting(*, older_than: dt.timedelta | None = None) -> list[int]:
    """Instruments with orders waiting for the pipeline (the sweeper's work list)."""
    rows = Order.objects.filter(needs_match=True, status__in=OPEN_ORDER_STATUSES)
    if older_than is not None:
        rows = rows.filter(updated_at__lte=timezone.now() - older_than)
    return sorted(set(rows.values_list("instrument_id", flat=True)))


def book_snapshot(*, instrument: Instrument, levels: int = 10) -> engine.Depth:
    """The instrument's depth as the pipeline sees it (rebuilt from the database)."""
    state = BookState.objects.filter(instrument=instrument).first() or BookState(
        instrument=instrument
    )
    book, _ = _load_book(instrument, state)
    return book.depth(levels)


# --- Trade busts and price corrections (four-eyes) -------------------------------------------
# A trade booked in error is busted (as if it never happened) or corrected to another price
# (busted, then booked again at that price: same orders, quantity, dates and time). A staff
# member with ``matching.bust_trade`` asks (trade_bust_request / trade_correction_request); a
# different one approves (trade_correction_approve), which does everything in one transaction
# under the instrument's book lock:
#
# * the trade's ledger entry is reversed; what comes back to the orders' holds is released to
#   the clients (a finished order) or stays with the order, which works on for the quantity the
#   bust gave back (an open order); a correction posts the new trade entry in the same call;
# * positions: the buyer's lot from the fill goes, the seller's relieved lots come back with
#   their cost, the realized gain is undone (apps.positions.services.positions_reverse_fills);
# * the trade's settlement instructions are cancelled (a trade that has settled can't be
#   busted: ``invalid_state``); the trade is marked busted (or corrected);
# * both orders' filled quantity, notional, fees and average price follow.
#
# Clients who no longer hold what the bust takes back (the buyer sold or reserved the shares,
# the seller spent the unsettled proceeds) make the ledger refuse: ``insufficient_position`` /
# ``insufficient_funds``, with the account named, and nothing changes.

BUST_PERMISSION = "matching.bust_trade"


def _bust_require(actor: Any) -> None:
    from apps.core.errors import permission_denied

    if actor is None or not getattr(actor, "is_authenticated", False):
        raise permission_denied("Busting trades is for staff.")
    if not actor.has_perm(BUST_PERMISSION):
        raise permission_denied("Your role may not bust or correct trades.")


def _bust_reason(reason: str | None) -> str:
    from apps.core.errors import invalid

    reason = (reason or "").strip()
    if not reason:
        raise invalid("A reason is required.", reason="This field is required.")
    return reason


def _bust_check_trade(trade: Trade) -> None:
    """Refuse a trade that is no longer active or whose settlement has begun."""
    from apps.core.errors import invalid_state
    from apps.settlement.choices import InstructionStatus
    from apps.settlement.models import SettlementInstruction

    if trade.status != "active":
        raise invalid_state(
            f"Trade {trade.pk} is already {trade.status}.", trade=trade.pk, status=trade.status
        )
    settled = (
        SettlementInstruction.objects.filter(trade_id=trade.pk)
        .exclude(status__in=[InstructionStatus.PENDING, InstructionStatus.FAILED])
        .values_list("status", flat=True)
        .first()
    )
    if settled is not None:
        raise invalid_state(
            f"Trade {trade.pk} has settled ({settled}); it can no longer be busted. "
            "Book a correcting trade or an adjustment instead.",
            trade=trade.pk,
            settlement_status=settled,
        )


def _correction_request(
    *,
    trade: Trade,
    actor: Any,
    reason: str,
    kind: str,
    price: Decimal | None,
    enforce_permission: bool = True,
) -> Any:
    from apps.core.audit import stamp
    from apps.core.errors import invalid, invalid_state
    from apps.matching.models import CorrectionStatus, TradeCorrection

    if enforce_permission:
        _bust_require(actor)
    reason = _bust_reason(reason)
    with transaction.atomic():
        trade = Trade.objects.select_for_update().select_related("instrument").get(pk=trade.pk)
        _bust_check_trade(trade)
        if price is not None:
            instrument = trade.instrument
            if price <= 0 or not instrument.is_on_tick(price):
                raise invalid(
                    f"A price is positive, in steps of {instrument.tick_size.normalize():f}.",
                    price=f"{price:f}",
                )
            if price == trade.price:
                raise invalid("The corrected price is the trade's price.", price=f"{price:f}")
        pending = TradeCorrection.objects.filter(
            trade=trade, status=CorrectionStatus.PENDING_APPROVAL
        ).first()
        if pending is not None:
            raise invalid_state(
                f"Trade {trade.pk} already has a request waiting for approval ({pending}).",
                request=pending.pk,
            )
        correction = TradeCorrection(
            trade=trade, kind=kind, price=price, reason=reason, requested_by=actor
        )
        stamp(correction, actor=actor, reason=reason)
        correction.save()
    return correction


def trade_bust_request(
    *, trade: Trade, actor: Any, reason: str, enforce_permission: bool = True
) -> Any:
    """Ask to bust ``trade``; a different staff member must approve
    (:func:`trade_correction_approve`). Raises ``permission_denied`` (needs
    ``matching.bust_trade``), ``invalid`` (no reason) and ``invalid_state`` (not active,
    settled, or a request already waiting)."""
    return _correction_request(
        trade=trade,
        actor=actor,
        reason=reason,
        kind="bust",
        price=None,
        enforce_permission=enforce_permission,
    )


def trade_correction_request(
    *, trade: Trade, actor: Any, reason: str, price: Decimal, enforce_permission: bool = True
) -> Any:
    """Ask to correct ``trade``'s price to ``price`` (same quantity, orders and dates); a
    different staff member must approve. Errors as :func:`trade_bust_request`, and ``invalid``
    for a price off the tick or equal to the trade's."""
    return _correction_request(
        trade=trade,
        actor=actor,
        reason=reason,
        kind="correction",
        price=Decimal(price),
        enforce_permission=enforce_permission,
    )


def trade_correction_reject(*, correction: Any, actor: Any, reason: str) -> Any:
    """Refuse a waiting bust or correction (its requester may withdraw it this way)."""
    from apps.core.audit import stamp
    from apps.core.errors import invalid_state
    from apps.matching.models import CorrectionStatus, TradeCorrection

    reason = _bust_reason(reason)
    if getattr(actor, "pk", None) != correction.requested_by_id:
        _bust_require(actor)
    with transaction.atomic():
        correction = TradeCorrection.objects.select_for_update().get(pk=correction.pk)
        if correction.status != CorrectionStatus.PENDING_APPROVAL:
            raise invalid_state(
                f"This request is already {correction.status}.", status=correction.status
            )
        correction.reject()
        correction.decided_by = actor
        correction.decided_at = timezone.now()
        correction.decision_reason = reason
        stamp(correction, actor=actor, reason=reason)
        correction.save()
    return correction


def trade_correction_approve(
    *, correction: Any, actor: Any, reason: str = "", enforce_permission: bool = True
) -> Any:
    """A second staff member approves a waiting bust or correction: it is applied at once, all
    or nothing (see the section's comment).

    Raises ``permission_denied`` (no ``matching.bust_trade``, or the requester approving their
    own), ``invalid_state`` (not waiting, the trade no longer active or settled),
    ``insufficient_position`` / ``insufficient_funds`` (a client no longer holds what the bust
    takes back: the request stays waiting).
    """
    from apps.core.audit import stamp
    from apps.core.errors import invalid_state, permission_denied
    from apps.matching.models import CorrectionKind, CorrectionStatus, TradeCorrection

    if enforce_permission:
        _bust_require(actor)
    elif actor is None or not getattr(actor, "pk", None):
        raise permission_denied("A bust is approved by a named staff member.")
    decision = (reason or "").strip() or "Approved"
    with transaction.atomic():
        instrument_id = Trade.objects.values_list("instrument_id", flat=True).get(
            pk=correction.trade_id
        )
        book_lock(instrument_id)
        correction = TradeCorrection.objects.select_for_update().get(pk=correction.pk)
        if correction.status != CorrectionStatus.PENDING_APPROVAL:
            raise invalid_state(
                f"This request is already {correction.status}.", status=correction.status
            )
        if correction.requested_by_id == actor.pk:
            raise permission_denied("You requested this; a different staff member must approve it.")
        corrected = correction.kind == CorrectionKind.CORRECTION
        why = (
            f"Trade {correction.trade_id} "
            f"{'corrected to ' + format(correction.price, 'f') if corrected else 'busted'}: "
            f"{correction.reason}"
        )
        reversal, replacement = _trade_unwind(
            trade_id=correction.trade_id,
            actor=actor,
            reason=why,
            price=correction.price if corrected else None,
        )
        correction.apply()
        correction.decided_by = actor
        correction.decided_at = timezone.now()
        correction.decision_reason = decision
        correction.reversal_entry_id = reversal.pk
        correction.replacement = replacement
        stamp(correction, actor=actor, reason=decision)
        correction.save()
    return correction


def _bust_refusal(exc: Any, trade: Trade, accounts: dict[int, TradingAccount]) -> Exception:
    """The ledger's refusal of a bust, said in the bust's terms (which client, what's missing)."""
    from apps.core.errors import ApplicationError

    ledger_account = LedgerAccount.objects.filter(pk=exc.details.get("ledger_account")).first()
    account = accounts.get(getattr(ledger_account, "owner_id", None))
    if account is None:
        return exc
    if exc.code == "insufficient_position":
        message = (
            f"Account {account.number} no longer holds the {trade.quantity.normalize():f} "
            f"{trade.instrument.symbol} of this trade unsettled ({exc.details.get('available')} "
            "left): they were sold or are reserved for an open sell order. Cancel that order, "
            "or bust the later trade first."
        )
    elif account.pk == trade.sell_order.account_id and ledger_account.bucket == "unsettled":
        message = (
            f"Account {account.number} has used the unsettled proceeds of this trade "
            f"({exc.details.get('available')} {trade.instrument.currency} left, "
            f"{exc.details.get('needed')} needed). Cancel its open buy orders, or settle the "
            "difference with an adjustment first."
        )
    else:
        message = (
            f"Account {account.number} lacks the cash this needs in {ledger_account.bucket} "
            f"({exc.details.get('available')} {trade.instrument.currency} left, "
            f"{exc.details.get('needed')} needed)."
        )
    return ApplicationError(exc.code, message, {**exc.details, "account": account.number})


def _trade_unwind(
    *, trade_id: int, actor: Any, reason: str, price: Decimal | None
) -> tuple[Any, Trade | None]:
    """Bust a trade (and rebook it at ``price`` when given) under the book lock the caller
    holds. Returns (the reversing ledger entry, the rebooked trade or None)."""

    from apps.core.audit import stamp
    from apps.core.errors import ApplicationError, ErrorCode, invalid_state
    from apps.ledger.choices import JournalKind
    from apps.ledger.models import JournalEntry, Posting
    from apps.positions.services import FillReversal, positions_reverse_fills
    from apps.settlement.models import SettlementInstruction

    trade = Trade.objects.select_for_update().select_related("instrument").get(pk=trade_id)
    _bust_check_trade(trade)
    instrument = trade.instrument
    if trade.journal_entry_id is None:
        raise invalid_state(f"Trade {trade.pk} has no ledger entry to reverse.")
    entry = JournalEntry.objects.get(pk=trade.journal_entry_id)
    if JournalEntry.objects.filter(reverses=entry).exists():
        raise invalid_state(f"The ledger entry of trade {trade.pk} was already reversed.")
    orders = {
        o.pk: o
        for o in Order.objects.select_for_update()
        .select_related("account", "instrument")
        .filter(pk__in=[trade.buy_order_id, trade.sell_order_id])
        .order_by("pk")
    }
    buyer, seller = orders[trade.buy_order_id], orders[trade.sell_order_id]
    fills = {f.side: f for f in Fill.objects.filter(trade=trade)}
    state, _ = BookState.objects.get_or_create(instrument_id=instrument.pk)
    state = BookState.objects.select_for_update().get(pk=state.pk)
    instructions = list(
        SettlementInstruction.objects.select_for_update().filter(trade_id=trade.pk).order_by("pk")
    )
    if any(i.status not in ("pending", "failed") for i in instructions):
        raise invalid_state(f"Trade {trade.pk} has settled; it can no longer be busted.")
    currency = instrument.currency
    q = trade.quantity
    state.version += 1  # cached books rebuild: orders and the last price change

    # The reversal, then per order: what it gets back, what a rebooked trade takes.
    lines = Posting.objects.filter(entry=entry).select_related("ledger_account")
    entries = [
        EntrySpec(
            kind=JournalKind.REVERSAL,
            postings=[(line.ledger_account, -line.amount) for line in lines],
            memo=reason,
            reference=entry.reference,
            idempotency_key=f"reversal:{entry.pk}",
            actor=actor,
            reverses=entry,
        )
    ]
    releases: list[EntrySpec] = []
    returned: dict[int, Decimal] = {}
    for order, fill in ((buyer, fills["buy"]), (seller, fills["sell"])):
        returned[order.pk] = fill.notional + fill.fee if order.is_buy else fill.quantity
        order.filled_quantity -= fill.quantity
        order.notional_filled -= fill.notional
        order.fees -= fill.fee
        order.reserved += returned[order.pk]
    rebook = None
    if price is not None:
        notional = order_selectors.cash_amount(price * q, currency)
        schedules = order_selectors.fee_schedules()

        def fee(order: Order) -> Decimal:
            total = order_selectors.order_fee(
                instrument=instrument,
                notional=order.notional_filled + notional,
                quantity=order.filled_quantity + q,
                schedules=schedules,
            )
            return max(total - order.fees, ZERO)

        buyer_fee, seller_fee = fee(buyer), min(fee(seller), notional)
        need = {buyer.pk: notional + buyer_fee, seller.pk: q}
        extra = need[buyer.pk] - returned[buyer.pk]
        if extra > 0:  # the buyer pays more than the bust gave back: from free cash
            accounts = hold_accounts(buyer)
            settled = LedgerAccount.objects.get(pk=accounts[Bucket.SETTLED].pk).balance
            unsettled = LedgerAccount.objects.get(pk=accounts[Bucket.UNSETTLED].pk).balance
            if settled + unsettled < extra:
                raise ApplicationError(
                    ErrorCode.INSUFFICIENT_FUNDS,
                    f"Account {buyer.account.number} can't pay the {extra:f} {currency} more "
                    f"that the corrected price costs ({settled + unsettled:f} available).",
                    {"account": buyer.account.number, "needed": f"{extra:f}"},
                )
            from_settled = min(settled, extra)
            postings = [(accounts[Bucket.RESERVED], extra)]
            if from_settled:
                postings.append((accounts[Bucket.SETTLED], -from_settled))
            if extra - from_settled:
                postings.append((accounts[Bucket.UNSETTLED], -(extra - from_settled)))
            buyer.reserved += extra
            buyer.hold_total += extra
            buyer.hold_from_unsettled += extra - from_settled
            entries.append(
                EntrySpec(
                    kind="order_hold",
                    postings=postings,
                    memo=f"Order {buyer.pk}: cash reserved for trade {trade.pk}'s correction",
                    reference=f"ORD-{buyer.pk}",
                    idempotency_key=f"trade-correction:{trade.pk}:hold:{buyer.pk}",
                    actor=actor,
                )
            )
        rebook = Trade(
            instrument=instrument,
            buy_order=buyer,
            sell_order=seller,
            price=price,
            quantity=q,
            notional=notional,
            aggressor_side=trade.aggressor_side,
            trade_date=trade.trade_date,
            settlement_date=trade.settlement_date,
            executed_at=trade.executed_at,
            match_sequence=1,
            batch=state.version,
            replaces=trade,
            status_reason=reason,
        )
        paid, received = notional + buyer_fee, notional - seller_fee
        fees_account = ledger_account_get(
            house=HouseAccount.FEES, currency=currency, bucket=Bucket.SETTLED
        )
        postings = [
            (hold_accounts(buyer)[Bucket.RESERVED], -paid),
            (
                ledger_account_get(
                    owner=seller.account, currency=currency, bucket=Bucket.UNSETTLED
                ),
                received,
            )
            if received
            else None,
            (fees_account, buyer_fee + seller_fee) if buyer_fee + seller_fee else None,
            (hold_accounts(seller)[Bucket.RESERVED], -q),
            (
                ledger_account_get(
                    owner=buyer.account, instrument=instrument, bucket=Bucket.UNSETTLED
                ),
                q,
            ),
        ]
        entries.append(
            EntrySpec(
                kind="trade",
                postings=[p for p in postings if p is not None],
                memo=f"{instrument.symbol} {q:f} @ {price:f} (corrects trade {trade.pk})",
                reference=f"TRD-{instrument.pk}-{rebook.batch}-1",
                idempotency_key=f"trade-correction:{trade.pk}",
                actor=actor,
            )
        )
        new_fills = []
        for order, order_fee, amount in ((buyer, buyer_fee, paid), (seller, seller_fee, q)):
            order.filled_quantity += q
            order.notional_filled += notional
            order.fees += order_fee
            order.reserved -= amount
            old = fills[order.side]
            new_fills.append(
                Fill(
                    trade=rebook,
                    order=order,
                    account_id=order.account_id,
                    instrument=instrument,
                    side=order.side,
                    liquidity=old.liquidity,
                    price=price,
                    quantity=q,
                    notional=notional,
                    fee=order_fee,
                    trade_date=trade.trade_date,
                    settlement_date=trade.settlement_date,
                    executed_at=trade.executed_at,
                )
            )
        for order in (buyer, seller):  # what the correction left over goes back
            surplus = returned[order.pk] - need[order.pk]
            if surplus > 0:
                releases.append(_bust_release(order, surplus, trade, actor))
    else:
        for order in (buyer, seller):
            # A finished order's hold goes back to the client; an open one keeps it and works
            # on for the quantity the bust gave back.
            if not order.is_open:
                releases.append(_bust_release(order, returned[order.pk], trade, actor))
    for order in (buyer, seller):
        order.average_price = (
            (order.notional_filled / order.filled_quantity).quantize(Decimal("0.00000001"))
            if order.filled_quantity
            else None
        )

    accounts_by_id = {buyer.account_id: buyer.account, seller.account_id: seller.account}
    try:
        posted = journal_post_batch(entries=[*entries, *releases])
    except ApplicationError as exc:
        if exc.code in ("insufficient_position", "insufficient_funds"):
            raise _bust_refusal(exc, trade, accounts_by_id) from exc
        raise
    reversal = posted[0]

    # Positions: undo the old fills, then (a correction) apply the new ones.
    positions_reverse_fills(
        reversals=[
            FillReversal(
                account_id=f.account_id,
                instrument_id=instrument.pk,
                side=f.side,
                quantity=f.quantity,
                fill_id=f.pk,
            )
            for f in (fills["sell"], fills["buy"])
        ],
        actor=actor,
        reason=reason,
    )
    for instruction in instructions:
        instruction.cancel()
        instruction.status_reason = reason
        stamp(instruction, actor=actor, reason=reason)
        instruction.save()
    if rebook is not None:
        rebook.journal_entry_id = posted[len(entries) - 1].pk
        stamp(rebook, actor=actor, reason=reason)
        rebook.save()
        for fill in new_fills:
            fill.trade = rebook
        Fill.objects.bulk_create(new_fills)
        method = (
            TradingAccount.objects.filter(pk=seller.account_id)
            .values_list("lot_relief_method", flat=True)
            .get()
        )
        positions_apply(
            changes=[
                PositionChange(
                    account_id=f.account_id,
                    instrument_id=instrument.pk,
                    side=f.side,
                    quantity=f.quantity,
                    amount=f.notional + f.fee if f.side == OrderSide.BUY else f.notional - f.fee,
                    on=f.trade_date,
                    reference=f"FILL-{f.pk}",
                    fill_id=f.pk,
                    lot_ids=() if f.side == OrderSide.BUY else tuple(seller.lot_ids or ()),
                    lot_method=method or "fifo",
                )
                for f in new_fills
            ]
        )
        instructions_create(fills=new_fills, currency=currency)
    for order in (buyer, seller):
        stamp(order, actor=actor, reason=reason)
        order.save()
    trade.status = "corrected" if rebook is not None else "busted"
    trade.status_reason = reason
    stamp(trade, actor=actor, reason=reason)
    trade.save(update_fields=["status", "status_reason"])
    latest = (
        Trade.objects.filter(instrument=instrument, status="active")
        .order_by("-executed_at", "-id")
        .first()
    )
    state.last_price = latest.price if latest else None
    state.last_quantity = latest.quantity if latest else None
    state.last_trade_at = latest.executed_at if latest else None
    state.save()
    order_changed.send(sender=Order, orders=[buyer, seller])
    logger.info("trade %s %s by %s", trade.pk, trade.status, getattr(actor, "pk", None))
    return reversal, rebook


def _bust_release(order: Order, amount: Decimal, trade: Trade, actor: Any) -> EntrySpec:
    """The entry giving ``amount`` of what a bust returned to ``order``'s hold back to the
    client (unsettled first, up to what the hold took from there)."""
    import dataclasses

    spec = hold_release_spec(order, amount, hold_accounts(order), why=f"trade {trade.pk} bust")
    return dataclasses.replace(
        spec, idempotency_key=f"trade-bust:{trade.pk}:release:{order.pk}", actor=actor
    )
