"""Property tests of the order book: random order streams (limit, market, stop, stop-limit,
IOC, FOK, cancel, replace) from several accounts, checked against what the events say.

A shadow book is built from the events alone (who rests where, since when, with how much)
and every command is checked against it: the book stays uncrossed, every order's quantity
is filled + resting + given up, each fill takes the best-priority resting order at its
price, no account trades with itself, and the same commands give the same events, also on
a book rebuilt from the open orders.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.matching.book import (
    Cancel,
    Done,
    Fill,
    NewOrder,
    OrderBook,
    OrderType,
    Pending,
    Rejected,
    Replace,
    Replaced,
    Rested,
    SelfTradePrevention,
    Side,
    TimeInForce,
    Triggered,
)

BUY, SELL = Side.BUY, Side.SELL
PRICES = [D("9.95") + D("0.01") * i for i in range(11)]
ACCOUNTS = [None, "a", "b", "c"]
STPS = [None, *SelfTradePrevention]


@dataclass(frozen=True)
class Submit:
    side: Side
    quantity: int
    order_type: OrderType
    tif: TimeInForce
    price: D
    stop_price: D
    protection: D | None
    account: str | None
    stp: SelfTradePrevention | None


@dataclass(frozen=True)
class Change:
    target: int
    cancel: bool
    quantity: int | None
    price: D | None
    stop_price: D | None


submits = st.builds(
    Submit,
    side=st.sampled_from([BUY, SELL]),
    quantity=st.integers(1, 8),
    order_type=st.sampled_from(
        [OrderType.LIMIT] * 5 + [OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT]
    ),
    tif=st.sampled_from(
        [TimeInForce.GTC] * 3 + [TimeInForce.DAY, TimeInForce.IOC, TimeInForce.FOK]
    ),
    price=st.sampled_from(PRICES),
    stop_price=st.sampled_from(PRICES),
    protection=st.one_of(st.none(), st.sampled_from(PRICES)),
    account=st.sampled_from(ACCOUNTS),
    stp=st.sampled_from(STPS),
)
changes = st.builds(
    Change,
    target=st.integers(0, 1000),
    cancel=st.booleans(),
    quantity=st.one_of(st.none(), st.integers(1, 10)),
    price=st.one_of(st.none(), st.sampled_from(PRICES)),
    stop_price=st.one_of(st.none(), st.sampled_from(PRICES)),
)
streams = st.lists(st.one_of(submits, submits, submits, changes), max_size=80)
book_options = st.fixed_dictionaries(
    {
        "stp": st.sampled_from(list(SelfTradePrevention)),
        "last_price": st.one_of(st.none(), st.sampled_from(PRICES)),
    }
)


def new_book(options: dict) -> OrderBook:
    return OrderBook(tick_size=D("0.01"), lot_size=D("1"), **options)


def command_for(step, number: int, book: OrderBook, ids: list[str]):
    """Turn a drawn step into a valid command for the book as it stands."""
    if isinstance(step, Submit):
        order_type = step.order_type
        has_price = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        is_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        guarded = order_type in (OrderType.MARKET, OrderType.STOP)
        ids.append(f"o{number}")
        return NewOrder(
            ids[-1],
            step.side,
            D(step.quantity),
            step.price if has_price else None,
            order_type,
            step.tif,
            step.stop_price if is_stop else None,
            step.account,
            step.protection if guarded else None,
            step.stp,
        )
    if not ids:
        return None
    order_id = ids[step.target % len(ids)]
    if step.cancel:
        return Cancel(order_id)
    order = book.get(order_id)
    price = step.price if order is not None and order.price is not None else None
    stop_price = step.stop_price if order is not None and order.pending else None
    return Replace(order_id, None if step.quantity is None else D(step.quantity), price, stop_price)


@dataclass
class Shadow:
    """The book as the events describe it, and every order's quantities."""

    accounts: dict = field(default_factory=dict)
    total: Counter = field(default_factory=Counter)
    filled: Counter = field(default_factory=Counter)
    gave_up: Counter = field(default_factory=Counter)
    done: set = field(default_factory=set)
    resting: dict = field(default_factory=lambda: {BUY: {}, SELL: {}})  # id -> [price, t, qty]
    order_side: dict = field(default_factory=dict)
    clock: int = 0

    def side_of(self, order_id) -> Side | None:
        for side, orders in self.resting.items():
            if order_id in orders:
                return side
        return None

    def best(self, side: Side):
        orders = self.resting[side]
        if side is BUY:
            return min(orders, key=lambda oid: (-orders[oid][0], orders[oid][1]), default=None)
        return min(orders, key=lambda oid: (orders[oid][0], orders[oid][1]), default=None)

    def take_off(self, order_id) -> None:
        side = self.side_of(order_id)
        if side is not None:
            del self.resting[side][order_id]

    def follow(self, command, events: list) -> None:
        if isinstance(command, NewOrder):
            self.accounts[command.order_id] = command.account
            self.total[command.order_id] = int(command.quantity)
        side_of_new = {}
        if isinstance(command, NewOrder):
            side_of_new[command.order_id] = command.side
        for event in events:
            if isinstance(event, Fill):
                maker_side = SELL if event.aggressor is BUY else BUY
                best = self.best(maker_side)
                assert event.maker_id == best, f"fill skipped {best} for {event.maker_id}"
                maker = self.resting[maker_side][event.maker_id]
                assert event.price == maker[0], "a fill not at the resting order's price"
                maker_account = self.accounts[event.maker_id]
                assert maker_account is None or maker_account != self.accounts[event.taker_id]
                quantity = int(event.quantity)
                assert 0 < quantity <= maker[2]
                maker[2] -= quantity
                self.filled[event.maker_id] += quantity
                self.filled[event.taker_id] += quantity
            elif isinstance(event, Rested):
                side = side_of_new.get(event.order_id) or self.order_side[event.order_id]
                self.clock += 1
                self.resting[side][event.order_id] = [event.price, self.clock, int(event.quantity)]
            elif isinstance(event, Done):
                self.take_off(event.order_id)
                self.gave_up[event.order_id] += int(event.unfilled)
                self.done.add(event.order_id)
            elif isinstance(event, Replaced):
                self.replaced(event)
            else:
                assert isinstance(event, Pending | Triggered | Rejected)
        for order_id, side in side_of_new.items():
            self.order_side[order_id] = side

    def replaced(self, event: Replaced) -> None:
        order_id = event.order_id
        filled = self.filled[order_id]
        leaves = self.total[order_id] - filled - self.gave_up[order_id]
        new_leaves = int(event.quantity) - filled
        if new_leaves <= 0:
            return  # a Done(cancelled) for the old leaves follows
        if new_leaves > leaves:
            self.total[order_id] += new_leaves - leaves
        else:
            self.gave_up[order_id] += leaves - new_leaves
        if event.kept_priority:
            side = self.side_of(order_id)
            if side is not None:
                self.resting[side][order_id][2] = new_leaves
        else:
            self.take_off(order_id)

    def check(self, book: OrderBook) -> None:
        bid, ask = book.best_bid, book.best_ask
        assert bid is None or ask is None or bid < ask, f"crossed book {bid} / {ask}"
        for order_id, total in self.total.items():
            order = book.get(order_id)
            resting = 0 if order is None else int(order.leaves)
            assert total == self.filled[order_id] + resting + self.gave_up[order_id], order_id
            if order is None:
                assert order_id in self.done, f"{order_id} vanished without a Done"
            else:
                assert order_id not in self.done
                assert int(order.filled) == self.filled[order_id]
        for side, orders in self.resting.items():
            by_price: dict = {}
            for order_id, (price, since, quantity) in orders.items():
                by_price.setdefault(price, []).append((since, order_id))
                assert int(book.get(order_id).leaves) == quantity
            for price, entries in by_price.items():
                assert book.queue(side, price) == [oid for _since, oid in sorted(entries)]
        depth = book.depth(len(PRICES))
        resting_ids = {oid for orders in self.resting.values() for oid in orders}
        assert sum(level.orders for level in depth.bids + depth.asks) == len(resting_ids)


def run(options: dict, steps: list) -> tuple[OrderBook, list, list]:
    book = new_book(options)
    shadow = Shadow()
    ids: list[str] = []
    commands, results = [], []
    for number, step in enumerate(steps):
        command = command_for(step, number, book, ids)
        if command is None:
            continue
        events = book.apply(command)
        shadow.follow(command, events)
        shadow.check(book)
        commands.append(command)
        results.append(events)
    return book, commands, results


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=book_options, steps=streams)
def test_random_streams_keep_the_book_sound(options, steps):
    run(options, steps)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(options=book_options, steps=streams, cut=st.integers(0, 80))
def test_the_same_commands_give_the_same_events_on_a_rebuilt_book_too(options, steps, cut):
    book, commands, results = run(options, steps)
    again = new_book(options)
    assert [again.apply(command) for command in commands] == results
    # A book rebuilt from the open orders at any point carries on exactly as the original.
    cut = min(cut, len(commands))
    original = new_book(options)
    for command in commands[:cut]:
        original.apply(command)
    rebuilt = new_book({"stp": options["stp"]})
    rebuilt.restore(original.open_orders(), last_price=original.last_price)
    assert rebuilt.depth(len(PRICES)) == original.depth(len(PRICES))
    rest = commands[cut:]
    assert [rebuilt.apply(command) for command in rest] == results[cut:]
    assert list(rebuilt.open_orders()) == list(book.open_orders())
