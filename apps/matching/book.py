"""The order book of one instrument: pure Python, no Django, deterministic.

The matching pipeline keeps one `OrderBook` per instrument in memory, feeds it commands one
at a time in arrival sequence and persists the events each command returns. The same
commands in the same order always give the same events.

Creating a book
    ``OrderBook(tick_size=Decimal("0.01"), lot_size=Decimal("1"), stp=..., last_price=None)``
    Prices must be positive multiples of ``tick_size`` and quantities of ``lot_size``
    (otherwise `BookError`). Inside, prices are integer ticks and quantities integer lots;
    Decimals are converted at the edges only. ``stp`` is the book's default self-trade
    prevention (`SelfTradePrevention.CANCEL_RESTING`); ``last_price`` seeds the last trade
    price that stop orders trigger on.

Commands; each returns ``list[Event]``
    ``submit(order_id, side, quantity, price=None, *, order_type=LIMIT, tif=GTC,
    stop_price=None, account=None, protection=None, stp=None, filled=None)``
        A new order. ``order_id`` is any hashable, unique among the book's open orders.
        ``side`` is a `Side` (or "buy"/"sell"), quantities and prices are Decimals.
        LIMIT needs ``price``; MARKET sweeps the other side, no further than
        ``protection`` when given (a collar: the highest price a buy may pay, the lowest a
        sell may take), and never rests. STOP and STOP_LIMIT need ``stop_price``: a buy stop
        triggers when a trade prints at or above it, a sell stop at or below it; then it
        enters as a MARKET order (STOP, with ``protection``) or a LIMIT order at ``price``
        (STOP_LIMIT), with time priority from the moment it triggered. A stop whose
        condition already holds when it arrives triggers at once; without a last trade
        price it waits. Stops triggered together enter one by one in the order they
        arrived; the stops their trades trigger queue behind them. ``tif``: DAY, GTC and
        GTD rest their remainder (expiry is the pipeline's job: it cancels), IOC ends its
        remainder, FOK fills completely or ends without touching the book. ``account``
        enables self-trade prevention: an order never trades with a resting order of the
        same account; ``stp`` (default: the book's) says whether the resting order
        (CANCEL_RESTING), the incoming one (CANCEL_INCOMING, after any fills before it) or
        both (CANCEL_BOTH) are cancelled. ``filled`` is the quantity already filled, for an
        order that traded before.
    ``cancel(order_id)``
        Ends an open order (resting or waiting for its trigger).
    ``replace(order_id, *, quantity=None, price=None, stop_price=None)``
        Changes an open order. ``quantity`` is the new total quantity (filled included).
        Lowering the quantity at the same prices keeps time priority; anything else takes
        the order off the book and enters it again as an incoming order (it may trade).
        A quantity at or below what is already filled ends the order (Done cancelled,
        giving up what was left).
    ``apply(command)``
        The same as NamedTuple commands, for a pipeline that queues them: `NewOrder` (the
        fields of ``submit``, in order), `Cancel(order_id)`, `Replace(order_id, quantity,
        price, stop_price)`.

Events (NamedTuples), in the order they happen
    ``Fill(maker_id, taker_id, price, quantity, aggressor)``: a trade at the resting
    (maker) order's price; ``aggressor`` is the taker's `Side`.
    ``Rested(order_id, price, quantity)``: the order now rests at the back of its price
    level with this quantity.
    ``Pending(order_id, stop_price)``: a stop order waits for its trigger.
    ``Triggered(order_id, last_price)``: a stop triggered; its own events follow.
    ``Replaced(order_id, price, quantity, stop_price, kept_priority)``: a replace took
    effect; the re-entered order's events follow when priority was not kept.
    ``Done(order_id, reason, unfilled)``: the order is finished; ``unfilled`` is the
    quantity it gives up (zero when filled). Reasons (`DoneReason`): filled, cancelled,
    ioc_remainder (the rest of an IOC or market order), fok_unfilled, stp.
    ``Rejected(order_id, reason)``: a cancel or replace of an order the book does not hold
    (`RejectReason.UNKNOWN_ORDER`: already finished, or never there).
    A submitted order's own events end with exactly one Rested, Pending or Done (a
    triggered stop's with Rested or Done); a maker's Done follows the Fill that finished
    it. Every order's quantity = filled + resting + unfilled. Each Rested or Pending event
    gives the order a new time priority (a replace that keeps priority emits neither), so
    a pipeline that stores the position of an order's latest one can hand the open orders
    back to `restore` in priority order.

Rebuilding and reading
    ``restore(orders, last_price=None)``: puts `NewOrder`s (their ``filled`` set) on the
    book in the given priority order without matching them: limit orders rest, stops wait
    for the next trade (a stop-limit that has triggered is restored as the LIMIT order it
    became).
    Raises `BookError` for an order that would cross the other side or cannot rest.
    ``open_orders()``: the open orders as `NewOrder`s, in priority order; restoring them
    into a new book reproduces this one.
    ``best_bid``, ``best_ask``, ``last_price`` (Decimal or None);
    ``depth(levels=10)``: `Depth(bids, asks)` of `DepthLevel(price, quantity, orders)`,
    best first; ``queue(side, price)``: the order ids at a level in time priority;
    ``get(order_id)``: an `OpenOrder` view or None; ``len(book)``, ``order_id in book``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Hashable, Iterable, Iterator
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple


class BookError(ValueError):
    """A command the book cannot take: a price off the tick, a duplicate id, a missing
    price. The pipeline validates orders before they reach the book, so this is a bug."""


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    GTD = "gtd"
    IOC = "ioc"
    FOK = "fok"


class SelfTradePrevention(StrEnum):
    CANCEL_RESTING = "cancel_resting"
    CANCEL_INCOMING = "cancel_incoming"
    CANCEL_BOTH = "cancel_both"


class DoneReason(StrEnum):
    FILLED = "filled"
    CANCELLED = "cancelled"
    IOC_REMAINDER = "ioc_remainder"
    FOK_UNFILLED = "fok_unfilled"
    STP = "stp"


class RejectReason(StrEnum):
    UNKNOWN_ORDER = "unknown_order"


ZERO = Decimal(0)


# Commands


class NewOrder(NamedTuple):
    order_id: Hashable
    side: Side
    quantity: Decimal
    price: Decimal | None = None
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    stop_price: Decimal | None = None
    account: Hashable | None = None
    protection: Decimal | None = None
    stp: SelfTradePrevention | None = None
    filled: Decimal = ZERO


class Cancel(NamedTuple):
    order_id: Hashable


class Replace(NamedTuple):
    order_id: Hashable
    quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None


# Events


class Pending(NamedTuple):
    order_id: Hashable
    stop_price: Decimal


class Triggered(NamedTuple):
    order_id: Hashable
    last_price: Decimal


class Fill(NamedTuple):
    maker_id: Hashable
    taker_id: Hashable
    price: Decimal
    quantity: Decimal
    aggressor: Side


class Rested(NamedTuple):
    order_id: Hashable
    price: Decimal
    quantity: Decimal


class Replaced(NamedTuple):
    order_id: Hashable
    price: Decimal | None
    quantity: Decimal
    stop_price: Decimal | None
    kept_priority: bool


class Done(NamedTuple):
    order_id: Hashable
    reason: DoneReason
    unfilled: Decimal


class Rejected(NamedTuple):
    order_id: Hashable
    reason: RejectReason


Event = Pending | Triggered | Fill | Rested | Replaced | Done | Rejected


# Views


class DepthLevel(NamedTuple):
    price: Decimal
    quantity: Decimal
    orders: int


class Depth(NamedTuple):
    bids: list[DepthLevel]
    asks: list[DepthLevel]


class OpenOrder(NamedTuple):
    order_id: Hashable
    side: Side
    order_type: OrderType
    tif: TimeInForce
    price: Decimal | None
    stop_price: Decimal | None
    quantity: Decimal
    filled: Decimal
    leaves: Decimal
    account: Hashable | None
    pending: bool
    priority: int


# Lookups that accept an enum member or its string value (StrEnum members hash as their
# values), faster than calling the enum.
def _lookup(enum: type[StrEnum]) -> dict[str, StrEnum]:
    return {member.value: member for member in enum}


_SIDES = _lookup(Side)
_IS_BUY = {Side.BUY.value: True, Side.SELL.value: False}
_TYPES = _lookup(OrderType)
_TIFS = _lookup(TimeInForce)
_STPS = _lookup(SelfTradePrevention)

_BUY, _SELL = Side.BUY, Side.SELL
_LIMIT, _MARKET, _STOP, _STOP_LIMIT = (
    OrderType.LIMIT,
    OrderType.MARKET,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)
_GTC, _IOC, _FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
_CANCEL_RESTING, _CANCEL_INCOMING = (
    SelfTradePrevention.CANCEL_RESTING,
    SelfTradePrevention.CANCEL_INCOMING,
)
_FILLED, _CANCELLED, _IOC_REMAINDER, _FOK_UNFILLED, _STP_DONE = (
    DoneReason.FILLED,
    DoneReason.CANCELLED,
    DoneReason.IOC_REMAINDER,
    DoneReason.FOK_UNFILLED,
    DoneReason.STP,
)
_UNKNOWN = RejectReason.UNKNOWN_ORDER

# Events on the hot path are built with tuple.__new__: a NamedTuple's own constructor is a
# Python function, twice as slow.
_event = tuple.__new__

# Below every key: a sweep without a price limit.
_NO_BOUND = -(1 << 80)
_BIG = 1 << 80
_CACHE_LIMIT = 1 << 16


class _Order:
    """An open or incoming order. Prices in ticks, quantities in lots. ``level`` is the
    level it rests on, None while it waits for its trigger (``stop`` set) or is matching;
    a stop's ``stop`` is cleared when it triggers. ``seq`` orders stops by priority."""

    __slots__ = (
        "account",
        "buy",
        "filled",
        "leaves",
        "level",
        "oid",
        "order_type",
        "price",
        "protection",
        "seq",
        "stop",
        "stp",
        "tif",
    )

    def __init__(
        self, oid, buy, order_type, tif, price, stop, protection, leaves, filled, account, stp
    ):
        self.oid = oid
        self.buy = buy
        self.order_type = order_type
        self.tif = tif
        self.price = price
        self.stop = stop
        self.protection = protection
        self.leaves = leaves
        self.filled = filled
        self.account = account
        self.stp = stp
        self.level = None
        self.seq = 0


class _Level:
    """One price: its orders in time priority and their total quantity in lots."""

    __slots__ = ("decimal", "orders", "price", "size")

    def __init__(self, price: int, decimal: Decimal) -> None:
        self.price = price
        self.decimal = decimal
        self.orders: deque[_Order] = deque()
        self.size = 0


class _Ladder:
    """One side's levels. Keys are prices for bids and negated prices for asks, so the
    best level is always the largest key, at the end of the sorted ``keys`` list."""

    __slots__ = ("keys", "levels")

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.levels: dict[int, _Level] = {}

    def remove_level(self, key: int) -> None:
        del self.levels[key]
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]


class OrderBook:
    """A price-time priority limit order book for one instrument (see the module doc)."""

    def __init__(
        self,
        *,
        tick_size: Decimal,
        lot_size: Decimal,
        stp: SelfTradePrevention = SelfTradePrevention.CANCEL_RESTING,
        last_price: Decimal | None = None,
    ) -> None:
        if not isinstance(tick_size, Decimal) or not tick_size > 0:
            raise BookError(f"tick size must be a positive Decimal, not {tick_size!r}")
        if not isinstance(lot_size, Decimal) or not lot_size > 0:
            raise BookError(f"lot size must be a positive Decimal, not {lot_size!r}")
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.stp = self._enum(_STPS, stp, "self-trade prevention")
        self._bids = _Ladder()
        self._asks = _Ladder()
        self._orders: dict[Hashable, _Order] = {}
        # Waiting stops as (stop ticks, seq, order), sorted: buys trigger from the front,
        # sells from the back.
        self._buy_stops: list[tuple[int, int, _Order]] = []
        self._sell_stops: list[tuple[int, int, _Order]] = []
        self._seq = 0
        self._last: int | None = None
        # Lowest and highest price the last matched order traded at (None: no trade). A
        # stop triggers on any price a sweep touched, not only the last one.
        self._lo: int | None = None
        self._hi: int | None = None
        self._qty_cache: dict[int, Decimal] = {}
        self._tick_cache: dict[str, int] = {}
        self._lot_cache: dict[str, int] = {}
        if last_price is not None:
            self._last = self._ticks(last_price, "last price")

    # Conversions at the edges

    # A Decimal converted once is remembered by its text: hashing a new Decimal costs more
    # than converting it, its str() much less, and equal text means an equal value.

    def _ticks(self, price: Decimal, what: str) -> int:
        if price.__class__ is Decimal:
            ticks = self._tick_cache.get(str(price))
            if ticks is not None:
                return ticks
        try:
            scaled = price / self.tick_size
            ticks = int(scaled)
        except (ArithmeticError, TypeError, ValueError):
            raise BookError(f"{what} must be a Decimal, not {price!r}") from None
        if not isinstance(price, Decimal) or ticks != scaled or ticks <= 0:
            raise BookError(f"{what} {price!r} is not a positive multiple of {self.tick_size}")
        if price.__class__ is Decimal and len(self._tick_cache) < _CACHE_LIMIT:
            self._tick_cache[str(price)] = ticks
        return ticks

    def _lots(self, quantity: Decimal, what: str, positive: bool = False) -> int:
        if quantity.__class__ is Decimal:
            lots = self._lot_cache.get(str(quantity))
            if lots is not None:
                return lots
        try:
            scaled = quantity / self.lot_size
            lots = int(scaled)
        except (ArithmeticError, TypeError, ValueError):
            raise BookError(f"{what} must be a Decimal, not {quantity!r}") from None
        if not isinstance(quantity, Decimal) or lots != scaled or lots < positive:
            raise BookError(f"{what} {quantity!r} is not a multiple of {self.lot_size}")
        if lots and quantity.__class__ is Decimal and len(self._lot_cache) < _CACHE_LIMIT:
            self._lot_cache[str(quantity)] = lots
        return lots

    def _qty(self, lots: int) -> Decimal:
        quantity = self._qty_cache.get(lots)
        if quantity is None:
            quantity = self.lot_size * lots
            if len(self._qty_cache) < _CACHE_LIMIT:
                self._qty_cache[lots] = quantity
        return quantity

    def _price(self, ticks: int | None) -> Decimal | None:
        return None if ticks is None else self.tick_size * ticks

    @staticmethod
    def _enum(table: dict, value, what: str):
        member = table.get(value)
        if member is None:
            raise BookError(f"unknown {what} {value!r}")
        return member

    # Commands

    def apply(self, command: NewOrder | Cancel | Replace) -> list[Event]:
        """Run one command; see the module doc."""
        if isinstance(command, NewOrder):
            return self._run(self._new(*command), [])
        if isinstance(command, Cancel):
            return self.cancel(command.order_id)
        if isinstance(command, Replace):
            return self.replace(
                command.order_id,
                quantity=command.quantity,
                price=command.price,
                stop_price=command.stop_price,
            )
        raise BookError(f"unknown command {command!r}")

    def submit(
        self,
        order_id: Hashable,
        side: Side,
        quantity: Decimal,
        price: Decimal | None = None,
        *,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.GTC,
        stop_price: Decimal | None = None,
        account: Hashable | None = None,
        protection: Decimal | None = None,
        stp: SelfTradePrevention | None = None,
        filled: Decimal | None = None,
    ) -> list[Event]:
        """Take a new order (the fields of `NewOrder`): match it, then rest, end or park it."""
        if (
            order_type is not _LIMIT
            or price is None
            or stop_price is not None
            or protection is not None
            or filled is not None
        ):
            order = self._new(
                order_id,
                side,
                quantity,
                price,
                order_type,
                tif,
                stop_price,
                account,
                protection,
                stp,
                filled,
            )
            return self._run(order, [])
        # A plain limit order, the bulk of the flow, on one short path: the same checks as
        # _new, and straight onto the book when it does not cross.
        orders = self._orders
        if order_id in orders:
            raise BookError(f"order {order_id!r} is already on the book")
        buy = _IS_BUY.get(side)
        if buy is None:
            raise BookError(f"order {order_id!r}: unknown side {side!r}")
        ticks = self._tick_cache.get(str(price)) if price.__class__ is Decimal else None
        if ticks is None:
            ticks = self._ticks(price, "price")
        lots = self._lot_cache.get(str(quantity)) if quantity.__class__ is Decimal else None
        if lots is None:
            lots = self._lots(quantity, "quantity", positive=True)
        if tif.__class__ is not TimeInForce:
            tif = self._enum(_TIFS, tif, "time in force")
        if stp is None:
            stp = self.stp
        elif stp.__class__ is not SelfTradePrevention:
            stp = self._enum(_STPS, stp, "self-trade prevention")
        o = _Order(order_id, buy, _LIMIT, tif, ticks, None, None, lots, 0, account, stp)
        o.seq = self._seq = self._seq + 1
        if buy:
            ladder, key, other = self._bids, ticks, self._asks.keys
        else:
            ladder, key, other = self._asks, -ticks, self._bids.keys
        if other and other[-1] >= -key:
            if self._buy_stops or self._sell_stops:
                return self._run(o, [])
            events: list[Event] = []
            self._execute(o, events)
            return events
        if tif is _IOC or tif is _FOK:
            return self._run(o, [])
        level = ladder.levels.get(key)
        if level is None:
            level = ladder.levels[key] = _Level(ticks, self.tick_size * ticks)
            keys = ladder.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.orders.append(o)
        level.size += lots
        o.level = level
        orders[order_id] = o
        return [_event(Rested, (order_id, level.decimal, quantity))]

    def _run(self, o: _Order, events: list) -> list[Event]:
        """Enter an order (new, or replaced without keeping its priority) with a new time
        priority: park a stop whose trigger has not been reached, otherwise match it, rest
        or end it, and run the stops its trades trigger."""
        o.seq = self._seq = self._seq + 1
        if o.stop is not None:
            last = self._last
            if last is None or (last < o.stop if o.buy else last > o.stop):
                self._park(o)
                events.append(_event(Pending, (o.oid, self.tick_size * o.stop)))
                return events
            o.stop = None
            events.append(_event(Triggered, (o.oid, self.tick_size * last)))
        if self._buy_stops or self._sell_stops:
            self._hi = None
            self._execute(o, events)
            if self._hi is not None:
                self._cascade(events)
        else:
            self._execute(o, events)
        return events

    def cancel(self, order_id: Hashable) -> list[Event]:
        """End an open order; `Rejected` when the book does not hold it."""
        o = self._orders.get(order_id)
        if o is None:
            return [_event(Rejected, (order_id, _UNKNOWN))]
        self._take_off(o)
        leaves = o.leaves
        quantity = self._qty_cache.get(leaves) or self._qty(leaves)
        return [_event(Done, (order_id, _CANCELLED, quantity))]

    def replace(
        self,
        order_id: Hashable,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
    ) -> list[Event]:
        """Change an open order's quantity (new total), limit price or stop price. Lowering
        the quantity at the same prices keeps time priority; anything else re-enters the
        order as an incoming one."""
        o = self._orders.get(order_id)
        if o is None:
            return [_event(Rejected, (order_id, _UNKNOWN))]
        total = o.filled + o.leaves
        new_total = total if quantity is None else self._lots(quantity, "quantity")
        new_price = o.price
        if price is not None:
            if o.price is None:
                raise BookError(f"order {order_id!r} has no limit price to replace")
            new_price = self._ticks(price, "price")
        new_stop = o.stop
        if stop_price is not None:
            if o.level is not None:
                raise BookError(f"order {order_id!r} is not a waiting stop order")
            new_stop = self._ticks(stop_price, "stop price")
        keep = new_price == o.price and new_stop == o.stop and new_total <= total
        events: list[Event] = [
            Replaced(
                order_id,
                self._price(new_price),
                self._qty(new_total),
                self._price(new_stop) if o.level is None else None,
                keep,
            )
        ]
        new_leaves = new_total - o.filled
        if new_leaves <= 0:
            leaves = o.leaves
            self._take_off(o)
            events.append(Done(order_id, _CANCELLED, self._qty(leaves)))
            return events
        if keep:
            cut = o.leaves - new_leaves
            o.leaves = new_leaves
            if o.level is not None:
                o.level.size -= cut
            return events
        self._take_off(o)
        o.price, o.stop, o.leaves = new_price, new_stop, new_leaves
        return self._run(o, events)

    def restore(self, orders: Iterable[NewOrder], *, last_price: Decimal | None = None) -> None:
        """Put open orders on the book in the given priority order, without matching: limit
        orders rest at the back of their level, stop orders wait for their trigger."""
        if last_price is not None:
            self._last = self._ticks(last_price, "last price")
        for order in orders:
            o = self._new(*order)
            o.seq = self._seq = self._seq + 1
            if o.stop is not None:
                self._park(o)
                continue
            if o.price is None or o.tif is _IOC or o.tif is _FOK:
                raise BookError(f"order {o.oid!r} cannot rest ({o.order_type}, {o.tif})")
            other = self._asks if o.buy else self._bids
            if other.keys and other.keys[-1] >= (-o.price if o.buy else o.price):
                raise BookError(f"order {o.oid!r} would cross the book at {order.price}")
            self._rest(o)

    # Reads

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, order_id: Hashable) -> bool:
        return order_id in self._orders

    @property
    def best_bid(self) -> Decimal | None:
        keys = self._bids.keys
        return self._bids.levels[keys[-1]].decimal if keys else None

    @property
    def best_ask(self) -> Decimal | None:
        keys = self._asks.keys
        return self._asks.levels[keys[-1]].decimal if keys else None

    @property
    def last_price(self) -> Decimal | None:
        return self._price(self._last)

    def depth(self, levels: int = 10) -> Depth:
        """The best ``levels`` price levels of each side, best first, aggregated."""
        return Depth(self._depth(self._bids, levels), self._depth(self._asks, levels))

    def _depth(self, ladder: _Ladder, count: int) -> list[DepthLevel]:
        out = []
        for key in reversed(ladder.keys[-count:] if count > 0 else []):
            level = ladder.levels[key]
            out.append(DepthLevel(level.decimal, self._qty(level.size), len(level.orders)))
        return out

    def queue(self, side: Side, price: Decimal) -> list[Hashable]:
        """The ids of the orders resting at one price, in time priority."""
        buy = self._enum(_SIDES, side, "side") is _BUY
        ticks = self._ticks(price, "price")
        ladder = self._bids if buy else self._asks
        level = ladder.levels.get(ticks if buy else -ticks)
        return [] if level is None else [o.oid for o in level.orders]

    def get(self, order_id: Hashable) -> OpenOrder | None:
        """The open order with this id, or None when the book does not hold it."""
        o = self._orders.get(order_id)
        return None if o is None else self._view(o)

    def open_orders(self) -> Iterator[NewOrder]:
        """Every open order, in the order `restore` needs to rebuild this book: resting
        orders by time priority, then the waiting stops by priority. A stop-limit order
        that triggered and rests is given as the LIMIT order it has become."""
        resting = []
        for ladder in (self._bids, self._asks):
            for key in reversed(ladder.keys):
                resting.extend(ladder.levels[key].orders)
        # Each level's queue is in priority order already; one order across levels keeps
        # the numbering of a rebuilt book the same.
        resting.sort(key=lambda o: o.seq)
        stops = sorted(
            (entry[2] for entry in self._buy_stops + self._sell_stops), key=lambda o: o.seq
        )
        for o in resting + stops:
            triggered = o.order_type is _STOP_LIMIT and o.stop is None
            yield NewOrder(
                o.oid,
                _BUY if o.buy else _SELL,
                self._qty(o.filled + o.leaves),
                self._price(o.price),
                _LIMIT if triggered else o.order_type,
                o.tif,
                self._price(o.stop),
                o.account,
                self._price(o.protection),
                o.stp,
                self._qty(o.filled),
            )

    def _view(self, o: _Order) -> OpenOrder:
        return OpenOrder(
            o.oid,
            _BUY if o.buy else _SELL,
            o.order_type,
            o.tif,
            self._price(o.price),
            self._price(o.stop),
            self._qty(o.filled + o.leaves),
            self._qty(o.filled),
            self._qty(o.leaves),
            o.account,
            o.level is None,
            o.seq,
        )

    # Internals

    def _new(
        self,
        oid,
        side,
        quantity,
        price,
        order_type,
        tif,
        stop_price,
        account,
        protection,
        stp,
        filled,
    ) -> _Order:
        """Validate a new order (the fields of `NewOrder`, in order) and convert it to
        ticks and lots. Plain limit orders take the shortest path."""
        if oid in self._orders:
            raise BookError(f"order {oid!r} is already on the book")
        buy = _IS_BUY.get(side)
        if buy is None:
            raise BookError(f"order {oid!r}: unknown side {side!r}")
        if tif.__class__ is not TimeInForce:
            tif = self._enum(_TIFS, tif, "time in force")
        if stp is None:
            stp = self.stp
        elif stp.__class__ is not SelfTradePrevention:
            stp = self._enum(_STPS, stp, "self-trade prevention")
        lots = self._lots(quantity, "quantity", positive=True)
        done = 0
        if filled is not None and filled:
            done = self._lots(filled, "filled quantity")
            if done >= lots:
                raise BookError(f"order {oid!r}: nothing left to fill")
        stop = guard = None
        if order_type is _LIMIT and stop_price is None and protection is None:
            if price is None:
                raise BookError(f"limit order {oid!r} needs a price")
            ticks = self._ticks(price, "price")
        else:
            order_type = self._enum(_TYPES, order_type, "order type")
            ticks, stop, guard = self._prices(oid, order_type, price, stop_price, protection)
        return _Order(
            oid, buy, order_type, tif, ticks, stop, guard, lots - done, done, account, stp
        )

    def _prices(self, oid, order_type, price, stop_price, protection):
        """The limit, stop and protection prices in ticks, checked against the type."""
        ticks = stop = guard = None
        if order_type is _LIMIT or order_type is _STOP_LIMIT:
            if price is None:
                raise BookError(f"{order_type} order {oid!r} needs a price")
            ticks = self._ticks(price, "price")
        elif price is not None:
            raise BookError(f"{order_type} order {oid!r} takes no price (use protection)")
        if order_type is _STOP or order_type is _STOP_LIMIT:
            if stop_price is None:
                raise BookError(f"{order_type} order {oid!r} needs a stop price")
            stop = self._ticks(stop_price, "stop price")
        elif stop_price is not None:
            raise BookError(f"{order_type} order {oid!r} takes no stop price")
        if protection is not None:
            if order_type is not _MARKET and order_type is not _STOP:
                raise BookError(f"{order_type} order {oid!r} takes no protection price")
            guard = self._ticks(protection, "protection price")
        return ticks, stop, guard

    def _park(self, o: _Order) -> None:
        insort(self._buy_stops if o.buy else self._sell_stops, (o.stop, o.seq, o))
        self._orders[o.oid] = o

    def _take_off(self, o: _Order) -> None:
        """Remove an open order from the book (its level or the waiting stops)."""
        del self._orders[o.oid]
        level = o.level
        if level is None:
            stops = self._buy_stops if o.buy else self._sell_stops
            del stops[bisect_left(stops, (o.stop, o.seq))]
            return
        queue = level.orders
        if queue[0] is o:
            queue.popleft()
        else:
            queue.remove(o)
        level.size -= o.leaves
        o.level = None
        if not queue:
            if o.buy:
                self._bids.remove_level(level.price)
            else:
                self._asks.remove_level(-level.price)

    def _rest(self, o: _Order) -> _Level:
        if o.buy:
            ladder, key = self._bids, o.price
        else:
            ladder, key = self._asks, -o.price
        level = ladder.levels.get(key)
        if level is None:
            level = ladder.levels[key] = _Level(o.price, self.tick_size * o.price)
            keys = ladder.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                insort(keys, key)
        level.orders.append(o)
        level.size += o.leaves
        o.level = level
        self._orders[o.oid] = o
        return level

    def _execute(self, o: _Order, events: list) -> None:
        """Match an incoming order against the other side, then rest or end it. An order
        without a limit price (market, or a triggered stop) sweeps down to its protection
        price and never rests."""
        buy, price, tif = o.buy, o.price, o.tif
        if price is None:
            guard = o.protection
            bound = _NO_BOUND if guard is None else (-guard if buy else guard)
        else:
            bound = -price if buy else price
        if tif is _FOK and not self._can_fill(o, bound):
            events.append(_event(Done, (o.oid, _FOK_UNFILLED, self._qty(o.leaves))))
            return
        keys = self._asks.keys if buy else self._bids.keys
        if keys and keys[-1] >= bound:
            if self._match(o, bound, events):
                return
            if not o.leaves:
                events.append(_event(Done, (o.oid, _FILLED, ZERO)))
                return
        leaves = o.leaves
        quantity = self._qty_cache.get(leaves) or self._qty(leaves)
        if price is None or tif is _IOC or tif is _FOK:
            events.append(_event(Done, (o.oid, _IOC_REMAINDER, quantity)))
        else:
            events.append(_event(Rested, (o.oid, self._rest(o).decimal, quantity)))

    def _can_fill(self, o: _Order, bound: int) -> bool:
        """Whether an FOK order would fill completely, without touching the book."""
        need = o.leaves
        ladder = self._asks if o.buy else self._bids
        account = o.account
        for key in reversed(ladder.keys):
            if key < bound:
                return False
            level = ladder.levels[key]
            if account is None:
                need -= level.size
            else:
                for maker in level.orders:
                    if maker.account == account:
                        if o.stp is _CANCEL_RESTING:
                            continue
                        return False
                    need -= maker.leaves
                    if need <= 0:
                        return True
            if need <= 0:
                return True
        return False

    def _match(self, o: _Order, bound: int, events: list) -> bool:
        """Trade ``o`` against the other side's levels down to ``bound`` in price-time
        priority. Returns True when self-trade prevention ended ``o``."""
        buy = o.buy
        ladder = self._asks if buy else self._bids
        keys, levels = ladder.keys, ladder.levels
        orders = self._orders
        append = events.append
        new = _event
        qty, quantities = self._qty, self._qty_cache
        taker_id, account = o.oid, o.account
        aggressor = _BUY if buy else _SELL
        leaves = o.leaves
        first = last = None
        stopped = False
        while keys:
            key = keys[-1]
            if key < bound:
                break
            level = levels[key]
            queue = level.orders
            price = level.decimal
            before = leaves
            while queue:
                maker = queue[0]
                if account is not None and maker.account == account:
                    mode = o.stp
                    if mode is not _CANCEL_INCOMING:
                        queue.popleft()
                        del orders[maker.oid]
                        level.size -= maker.leaves
                        maker.level = None
                        append(new(Done, (maker.oid, _STP_DONE, qty(maker.leaves))))
                        maker.leaves = 0
                    if mode is not _CANCEL_RESTING:
                        stopped = True
                        break
                    continue
                size = maker.leaves
                if size <= leaves:
                    # Filled: off the book, and nothing reads the object again.
                    queue.popleft()
                    del orders[maker.oid]
                    level.size -= size
                    leaves -= size
                    quantity = quantities.get(size) or qty(size)
                    append(new(Fill, (maker.oid, taker_id, price, quantity, aggressor)))
                    append(new(Done, (maker.oid, _FILLED, ZERO)))
                    if not leaves:
                        break
                else:
                    maker.leaves = size - leaves
                    maker.filled += leaves
                    level.size -= leaves
                    quantity = quantities.get(leaves) or qty(leaves)
                    append(new(Fill, (maker.oid, taker_id, price, quantity, aggressor)))
                    leaves = 0
                    break
            if leaves != before:
                last = level.price
                if first is None:
                    first = last
            if not queue:
                del levels[key]
                keys.pop()
            if stopped or not leaves:
                break
        o.filled += o.leaves - leaves
        o.leaves = leaves
        if last is not None:
            self._last = last
            self._lo, self._hi = (first, last) if first < last else (last, first)
        if stopped:
            append(new(Done, (taker_id, _STP_DONE, qty(leaves))))
        return stopped

    def _cascade(self, events: list) -> None:
        """Trigger the stops the last order's trades reached, in trigger order, each
        entering in turn; stops their trades reach join the queue behind them."""
        triggered: deque[tuple[_Order, int]] = deque()
        while True:
            if self._hi is not None:
                self._collect(triggered, self._lo, self._hi)
            if not triggered:
                return
            o, last = triggered.popleft()
            events.append(Triggered(o.oid, self.tick_size * last))
            self._hi = None
            self._execute(o, events)

    def _collect(self, triggered: deque, lo: int, hi: int) -> None:
        """Move the stops a trade between ``lo`` and ``hi`` triggered to ``triggered``,
        by priority, giving each its trigger-time priority."""
        buys, sells = self._buy_stops, self._sell_stops
        cut_buys = bisect_right(buys, (hi, _BIG))
        cut_sells = bisect_left(sells, (lo,))
        if not cut_buys and cut_sells == len(sells):
            return
        hits = [entry[2] for entry in buys[:cut_buys]] + [entry[2] for entry in sells[cut_sells:]]
        del buys[:cut_buys]
        del sells[cut_sells:]
        hits.sort(key=lambda o: o.seq)
        last = self._last
        for o in hits:
            del self._orders[o.oid]
            o.stop = None
            o.seq = self._seq = self._seq + 1
            triggered.append((o, last))
