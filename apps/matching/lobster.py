"""Replaying LOBSTER sample files (real NASDAQ order flow) through the order book.

LOBSTER (lobsterdata.com) rebuilds NASDAQ's book from ITCH data. A level-N sample is a
message file (one event per row: time, type, order id, size, price x 10,000, direction) and
an orderbook file (the top N levels of each side after each message). Types: 1 new limit
order, 2 partial cancel, 3 delete, 4 visible execution of the named resting order,
5 hidden execution, 6 cross trade, 7 trading halt.

`CheckedReplay` replays a sample through `OrderBook` and checks it against NASDAQ:

- The book starts from the first orderbook row with the first message undone, one unseen
  ("anonymous") order per level: the orders resting before the window, ahead of any order
  the file adds at that price.
- Adds, partial cancels and deletes are applied. Visible executions are replayed as
  incoming opposite-side IOC orders at their price: one per aggressor and price (NASDAQ
  stamps one incoming order's executions with one time, and the file does not always list
  those of one price in the order they matched), of their total size. Every execution
  checked must get exactly its size from the order it names, at its price.
- A level-N file only reports events inside the top N levels, so a price level's queue is
  fully known only while it has stayed inside the visible depth since it was last seen
  empty there. After each message, the book's levels are compared with the orderbook row
  wherever they are known; the other levels are brought to the row's sizes (unseen
  quantity added at the back, stale quantity removed) and counted.
- An execution is checked when every order ahead of the named order is known: its level is
  known, or the order was at the head of its queue when the level left the visible depth
  (later orders can only queue behind it).
- NASDAQ itself sometimes fills an order while an earlier one rests at the same price (self-
  match prevention and order types the file does not show). Where the file alone says so
  (the earlier order has later messages, or, in a known queue, was not filled by this
  aggressor), the executions are applied to their orders directly and counted apart.

Every message ends up either checked or counted under the reason it could not be checked.
`operations` turns a sample into a plain stream of book operations for benchmarks.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from apps.matching.book import (
    Fill,
    NewOrder,
    OrderBook,
    Side,
    TimeInForce,
)

TICK = Decimal("0.01")
PRICE_SCALE = 10_000  # LOBSTER prices are dollars x 10,000
EMPTY_LEVEL = 9_999_999_999

ADD, PARTIAL_CANCEL, DELETE, EXECUTION, HIDDEN, CROSS, HALT = 1, 2, 3, 4, 5, 6, 7

_NAME = re.compile(r"^(?P<symbol>[A-Z]+)_(?P<date>[\d-]+)_\d+_\d+_message_(?P<levels>\d+)\.csv$")


class Message(NamedTuple):
    time: str
    kind: int
    order_id: int
    size: int
    price: int
    direction: int  # 1: a buy limit order, -1: a sell limit order


@dataclass(frozen=True)
class Sample:
    symbol: str
    date: str
    levels: int
    messages: Path
    orderbook: Path | None

    @property
    def name(self) -> str:
        return f"{self.symbol} {self.date} level {self.levels}"

    def read_messages(self) -> list[Message]:
        with self.messages.open(newline="") as handle:
            return [
                Message(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]))
                for row in csv.reader(handle)
            ]

    def read_orderbook(self) -> list[tuple[int, ...]]:
        if self.orderbook is None:
            raise FileNotFoundError(f"{self.name} has no orderbook file")
        with self.orderbook.open(newline="") as handle:
            return [tuple(map(int, row)) for row in csv.reader(handle)]


def samples(directory: Path) -> list[Sample]:
    """The message files in ``directory``, each with its orderbook file when present."""
    found = []
    for path in sorted(directory.glob("*_message_*.csv")):
        match = _NAME.match(path.name)
        if match is None:
            continue
        orderbook = path.with_name(path.name.replace("_message_", "_orderbook_"))
        found.append(
            Sample(
                match["symbol"],
                match["date"],
                int(match["levels"]),
                path,
                orderbook if orderbook.exists() else None,
            )
        )
    return found


_decimal_cache: dict[int, Decimal] = {}


def to_decimal(price: int) -> Decimal:
    """A LOBSTER price (dollars x 10,000) as Decimal dollars."""
    value = _decimal_cache.get(price)
    if value is None:
        value = _decimal_cache[price] = Decimal(price) / PRICE_SCALE
    return value


def side_of(direction: int) -> Side:
    return Side.BUY if direction == 1 else Side.SELL


def other_side(direction: int) -> Side:
    return Side.SELL if direction == 1 else Side.BUY


# The visible part of one side of the book


class _View:
    """One side of an orderbook row: its real levels (price -> size) and the worst price
    inside the visible depth (None when the side shows fewer than N levels: then every
    price of the side is visible)."""

    __slots__ = ("buy", "edge", "levels")

    def __init__(self, buy: bool, levels: dict[int, int], depth: int) -> None:
        self.buy = buy
        self.levels = levels
        self.edge = None
        if len(levels) >= depth:
            self.edge = min(levels) if buy else max(levels)

    @classmethod
    def from_row(cls, row: tuple[int, ...], buy: bool, depth: int) -> _View:
        levels = {}
        offset = 2 if buy else 0
        for level in range(depth):
            price, size = row[4 * level + offset], row[4 * level + offset + 1]
            if size and abs(price) != EMPTY_LEVEL:
                levels[price] = size
        return cls(buy, levels, depth)

    def visible(self, price: int) -> bool:
        edge = self.edge
        return edge is None or (price >= edge if self.buy else price <= edge)


def _undo(levels: dict[int, int], message: Message, buy: bool) -> dict[int, int]:
    """One side's levels before ``message``, given the levels after it."""
    levels = dict(levels)
    if message.kind in (ADD, PARTIAL_CANCEL, DELETE, EXECUTION) and (message.direction == 1) == buy:
        size = levels.get(message.price, 0) + (
            -message.size if message.kind == ADD else message.size
        )
        if size > 0:
            levels[message.price] = size
        else:
            levels.pop(message.price, None)
    return levels


@dataclass
class ReplayReport:
    sample: str
    messages: int = 0
    checked: Counter = field(default_factory=Counter)  # message kind -> messages checked
    unchecked: Counter = field(default_factory=Counter)  # reason -> messages not checked
    executions_checked: int = 0
    executions_agreed: int = 0
    levels_compared: int = 0
    levels_agreed: int = 0
    levels_not_compared: Counter = field(default_factory=Counter)
    corrections: Counter = field(default_factory=Counter)  # reconciling unknown levels
    notes: Counter = field(default_factory=Counter)  # figures reported, not asserted
    failures: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> int:
        return sum(self.checked.values()) + sum(self.unchecked.values())

    def fail(self, index: int, message: Message | None, text: str) -> None:
        if len(self.failures) < 50:
            self.failures.append(f"message {index} {message}: {text}")
        else:
            self.failures.append("...")

    def lines(self) -> list[str]:
        out = [
            f"{self.sample}: {self.messages} messages, "
            f"{sum(self.checked.values())} checked, {sum(self.unchecked.values())} not checked",
            f"  executions checked {self.executions_checked}, agreed {self.executions_agreed}",
            f"  book levels compared {self.levels_compared}, agreed {self.levels_agreed}",
        ]
        out += [f"  checked {KIND_NAMES[k]}: {n}" for k, n in sorted(self.checked.items())]
        out += [f"  not checked, {reason}: {n}" for reason, n in self.unchecked.most_common()]
        out += [f"  level not compared, {r}: {n}" for r, n in self.levels_not_compared.items()]
        out += [f"  correction, {reason}: {n}" for reason, n in self.corrections.most_common()]
        out += [f"  note, {text}: {n}" for text, n in self.notes.items()]
        out += [f"  FAILURE {text}" for text in self.failures[:10]]
        return out


KIND_NAMES = {
    ADD: "adds",
    PARTIAL_CANCEL: "partial cancels",
    DELETE: "deletes",
    EXECUTION: "visible executions",
    HIDDEN: "hidden executions",
    CROSS: "cross trades",
    HALT: "halts",
}

R_HIDDEN = "hidden execution (type 5): touches no visible order"
R_CROSS = "cross trade (type 6): auction, not continuous matching"
R_HALT = "trading halt (type 7)"
R_NO_ORDERBOOK = "no orderbook file: the book's state is never known"
R_BEFORE_START = "order from before the file's start (its queue place among those is unknown)"
R_UNSEEN = "order never seen: added before the start or beyond the visible depth"
R_DROPPED = (
    "order the book no longer holds: removed, or filled in another's place, "
    "at a level that had been beyond the visible depth"
)
R_QUEUE_UNKNOWN = "orders ahead of it were beyond the visible depth"
R_LEVEL_UNKNOWN = "at a level that had been beyond the visible depth"
R_SKIPPED = (
    "NASDAQ filled it ahead of an earlier order still resting at its price "
    "(not time priority, e.g. NASDAQ's self-match prevention); applied directly"
)
R_SAME_EVENT = "same aggressor as an execution out of time priority; applied directly"
R_PAST_DEPTH = "level had been beyond the visible depth"
R_IN_SWEEP = "row inside one aggressor's executions (compared after the last)"


class _Facts:
    """What the message file alone says rests at each price: the orders it added, in
    arrival order, with their sizes, and the unseen quantity of the starting book. Knows
    nothing of the book, so it can tell when NASDAQ itself skipped an earlier order."""

    def __init__(self) -> None:
        self.queues: dict[tuple[bool, int], dict[int, int]] = {}
        self.unseen: dict[tuple[bool, int], int] = {}
        self.where: dict[int, tuple[bool, int]] = {}

    def add(self, order_id: int, buy: bool, price: int, size: int) -> None:
        self.queues.setdefault((buy, price), {})[order_id] = size
        self.where[order_id] = (buy, price)

    def take(self, order_id: int, buy: bool, price: int, size: int) -> None:
        """An order lost ``size``: cancelled or executed (an unseen one when the file
        never added it)."""
        key = self.where.get(order_id)
        if key is None:
            left = self.unseen.get((buy, price), 0) - size
            self.unseen[(buy, price)] = max(left, 0)
            return
        queue = self.queues[key]
        left = queue.get(order_id, 0) - size
        if left > 0:
            queue[order_id] = left
        else:
            queue.pop(order_id, None)
            del self.where[order_id]

    def reset(self, buy: bool, price: int, keep: int | None) -> None:
        """NASDAQ showed the price empty before its latest message: whatever else the file
        left there was removed beyond the visible depth."""
        queue = self.queues.get((buy, price), {})
        for order_id in [oid for oid in queue if oid != keep]:
            del queue[order_id]
            del self.where[order_id]
        self.unseen.pop((buy, price), None)

    def ahead(self, order_id: int) -> tuple[list[tuple[int, int]], int]:
        """The file's orders ahead of ``order_id`` at its price, and the unseen quantity."""
        key = self.where[order_id]
        ahead = []
        for other, size in self.queues[key].items():
            if other == order_id:
                break
            ahead.append((other, size))
        return ahead, self.unseen.get(key, 0)


class CheckedReplay:
    """Replays one sample through a new `OrderBook`; see the module doc."""

    def __init__(self, sample: Sample, limit: int | None = None) -> None:
        self.sample = sample
        self.depth = sample.levels
        messages = sample.read_messages()
        self.messages = messages if limit is None else messages[:limit]
        self.rows = sample.read_orderbook()[: len(self.messages)] if sample.orderbook else None
        self.book = OrderBook(tick_size=TICK, lot_size=Decimal(1))
        self.report = ReplayReport(sample.name)
        self.facts = _Facts()
        self._anonymous = 0
        self._seen: set[int] = set()  # ids of the orders the file added
        self._certain_heads: set[int] = set()
        self._known: dict[bool, set[int]] = {True: set(), False: set()}
        self._views: dict[bool, _View] = {}
        self._last_message = {message.order_id: i for i, message in enumerate(self.messages)}

    def run(self) -> ReplayReport:
        if self.rows is None:
            return self._run_unchecked()
        self._seed()
        messages, count = self.messages, len(self.messages)
        index = 0
        while index < count:
            message = messages[index]
            if message.kind == EXECUTION:
                last = self._sweep_end(index)
                self._executions(index, last)
                self.report.levels_not_compared[R_IN_SWEEP] += last - index
                index = last
            else:
                self._step(index, message)
            self._compare(index, messages[index], self.rows[index])
            index += 1
        self.report.messages = count
        return self.report

    # Starting book

    def _seed(self) -> None:
        """Seed the book with the state before the first message: the first row with that
        message undone, one anonymous order per level. The visible depth is the first
        row's: below its last level nothing is known, above it every price is."""
        first, row = self.messages[0], self.rows[0]
        for buy in (True, False):
            view = _View.from_row(row, buy, self.depth)
            levels = _undo(view.levels, first, buy)
            seed_view = _View(buy, levels, self.depth)
            seed_view.edge = view.edge
            self._views[buy] = seed_view
            self._known[buy] = set(levels)
            for price, size in levels.items():
                self.facts.unseen[(buy, price)] = size
            side = Side.BUY if buy else Side.SELL
            self.book.restore(
                NewOrder(self._new_anonymous(), side, Decimal(size), to_decimal(price))
                for price, size in levels.items()
            )

    def _new_anonymous(self) -> int:
        self._anonymous += 1
        return -self._anonymous

    # Messages

    def _step(self, index: int, message: Message) -> None:
        kind = message.kind
        report = self.report
        if kind == ADD:
            self._add(index, message)
        elif kind in (PARTIAL_CANCEL, DELETE):
            self._cancel(index, message)
        elif kind == HIDDEN:
            report.unchecked[R_HIDDEN] += 1
        elif kind == CROSS:
            report.unchecked[R_CROSS] += 1
        elif kind == HALT:
            report.unchecked[R_HALT] += 1
        else:
            report.fail(index, message, f"unknown message type {kind}")

    def _level_known(self, buy: bool, price: int) -> bool:
        """Whether the book's queue at ``price`` matches NASDAQ's exactly (before the
        current message): inside the visible depth since it was last seen empty there."""
        view = self._views[buy]
        return view.visible(price) and (price not in view.levels or price in self._known[buy])

    def _add(self, index: int, message: Message) -> None:
        buy = message.direction == 1
        known = self._level_known(buy, message.price)
        self._seen.add(message.order_id)
        self.facts.add(message.order_id, buy, message.price, message.size)
        events = self.book.submit(
            message.order_id,
            side_of(message.direction),
            Decimal(message.size),
            to_decimal(message.price),
        )
        if any(isinstance(event, Fill) for event in events):
            self.report.fail(index, message, f"a new order traded: {events}")
        if known:
            self.report.checked[ADD] += 1
        else:
            self.report.unchecked[f"add {R_LEVEL_UNKNOWN}"] += 1

    def _cancel(self, index: int, message: Message) -> None:
        buy = message.direction == 1
        kind, order_id, price = message.kind, message.order_id, message.price
        known = self._level_known(buy, price)
        name = KIND_NAMES[kind][:-1]
        self.facts.take(order_id, buy, price, message.size)
        view = self.book.get(order_id)
        if view is None:
            reason = self._missing_reason(order_id, known)
            if known and order_id in self._seen:
                self.report.fail(index, message, "an order of a known queue is missing")
            if not self._cut_anonymous(buy, price, message.size):
                reason += "; no unseen quantity at its price to take it from"
                if known:
                    self.report.fail(index, message, "nothing to cancel at a known level")
            self.report.unchecked[f"{name}: {reason}"] += 1
            return
        leaves = int(view.leaves)
        if known and (to_decimal(price) != view.price or leaves < message.size):
            self.report.fail(index, message, f"the book holds {view}")
        if kind == DELETE and known and leaves != message.size:
            self.report.fail(index, message, f"delete of {message.size}, the book holds {view}")
        self._reduce(order_id, leaves if kind == DELETE else min(leaves, message.size))
        if known:
            self.report.checked[kind] += 1
        else:
            self.report.unchecked[f"{name} {R_LEVEL_UNKNOWN}"] += 1

    def _missing_reason(self, order_id: int, known: bool) -> str:
        if order_id in self._seen:
            return R_DROPPED
        return R_BEFORE_START if known else R_UNSEEN

    def _cut_anonymous(self, buy: bool, price: int, size: int) -> bool:
        """Take ``size`` from the unseen orders at ``price``, oldest first."""
        side = Side.BUY if buy else Side.SELL
        anonymous = [oid for oid in self.book.queue(side, to_decimal(price)) if oid < 0]
        available = sum(int(self.book.get(oid).leaves) for oid in anonymous)
        if available < size:
            return False
        for oid in anonymous:
            cut = min(int(self.book.get(oid).leaves), size)
            self._reduce(oid, cut)
            size -= cut
            if not size:
                break
        return True

    def _reduce(self, order_id: int, cut: int) -> None:
        view = self.book.get(order_id)
        if cut >= view.leaves:
            self.book.cancel(order_id)
            self._certain_heads.discard(order_id)
        else:
            self.book.replace(order_id, quantity=view.quantity - cut)

    # Executions

    def _sweep_end(self, first: int) -> int:
        """The last message of the run of executions that starts at ``first``: one
        aggressor's visible executions at one price, which NASDAQ stamps with one time (and
        the file does not always list in the order they matched); hidden executions of the
        same time may sit in between."""
        messages = self.messages
        head = messages[first]
        last = first
        for index in range(first + 1, len(messages)):
            message = messages[index]
            if message.time != head.time or message.kind not in (EXECUTION, HIDDEN):
                break
            if message.kind == EXECUTION:
                if message.direction != head.direction or message.price != head.price:
                    break
                last = index
        return last

    def _executions(self, first: int, last: int) -> None:
        """Replay one aggressor's visible executions at one price as one incoming IOC order
        of their total size at that price, and check that every execution whose queue is
        known got exactly its size from the order it names."""
        report = self.report
        rows: list[tuple[int, Message, str | None]] = []
        executed: Counter = Counter()  # order id (or price for unseen ones) -> size
        for index in range(first, last + 1):
            message = self.messages[index]
            if message.kind == HIDDEN:
                report.unchecked[R_HIDDEN] += 1
                continue
            buy, order_id = message.direction == 1, message.order_id
            view = self.book.get(order_id)
            known = self._level_known(buy, message.price)
            if view is None:
                reason = self._missing_reason(order_id, known)
                if known and order_id in self._seen:
                    report.fail(index, message, "an order of a known queue is missing")
            elif known or order_id in self._certain_heads:
                reason = None
            else:
                reason = R_QUEUE_UNKNOWN
            rows.append((index, message, reason))
            executed[order_id if order_id in self._seen else ("unseen", message.price)] += (
                message.size
            )
        known = self._level_known(self.messages[first].direction == 1, self.messages[first].price)
        skipped = {
            index
            for index, message, _reason in rows
            if self._skips_earlier(message, executed, known, last)
        }
        if skipped:
            self._apply_directly(rows, skipped)
        else:
            self._replay(rows)
        for _index, message, _reason in rows:
            self.facts.take(message.order_id, message.direction == 1, message.price, message.size)
            if message.order_id not in self.book:
                self._certain_heads.discard(message.order_id)

    def _skips_earlier(self, message: Message, executed: Counter, known: bool, end: int) -> bool:
        """Whether, by the file alone, NASDAQ filled this order while an order ahead of it
        at its price still rested and this aggressor left it: one the file shows alive
        after the aggressor (it has later messages), or, where the level's queue is known,
        one this aggressor did not fill completely (unseen orders from before the start
        included)."""
        if message.order_id not in self.facts.where:
            return False
        ahead, unseen = self.facts.ahead(message.order_id)
        if any(self._last_message[other] > end for other, _size in ahead):
            return True
        if not known:
            return False
        if unseen > executed[("unseen", message.price)]:
            return True
        return any(executed[other] < size for other, size in ahead)

    def _apply_directly(self, rows: list, skipped: set[int]) -> None:
        for index, message, _reason in rows:
            if index in skipped:
                self.report.unchecked[f"execution: {R_SKIPPED}"] += 1
            else:
                self.report.unchecked[f"execution: {R_SAME_EVENT}"] += 1
            view = self.book.get(message.order_id)
            if view is not None:
                self._reduce(message.order_id, min(int(view.leaves), message.size))
            else:
                self._cut_anonymous(message.direction == 1, message.price, message.size)

    def _replay(self, rows: list) -> None:
        report = self.report
        first = rows[0][1]
        total = sum(message.size for _index, message, _reason in rows)
        events = self.book.submit(
            ("taker", rows[0][0]),
            other_side(first.direction),
            Decimal(total),
            to_decimal(first.price),
            tif=TimeInForce.IOC,
        )
        got: Counter = Counter()
        for event in events:
            if isinstance(event, Fill):
                got[(event.maker_id, event.price)] += int(event.quantity)
        expected: Counter = Counter()
        for _index, message, _reason in rows:
            expected[(message.order_id, to_decimal(message.price))] += message.size
        for index, message, reason in rows:
            if reason is not None:
                report.unchecked[f"execution: {reason}"] += 1
                continue
            report.checked[EXECUTION] += 1
            report.executions_checked += 1
            key = (message.order_id, to_decimal(message.price))
            fills_elsewhere = any(
                maker == message.order_id and price != key[1] for maker, price in got
            )
            if got[key] == expected[key] and not fills_elsewhere:
                report.executions_agreed += 1
            else:
                report.fail(index, message, f"expected {expected[key]} from {key}, got {got}")

    # The orderbook row after each message

    def _our_levels(self, buy: bool, view: _View) -> dict[int, int]:
        """The book's levels of one side inside the row's visible depth (price -> size)."""
        count = len(view.levels) + 4
        while True:
            depth = self.book.depth(count)
            levels = depth.bids if buy else depth.asks
            out = {}
            for level in levels:
                price = int(level.price * PRICE_SCALE)
                if not view.visible(price):
                    return out
                out[price] = int(level.quantity)
            if len(levels) < count:
                return out
            count *= 2

    def _compare(self, index: int, message: Message, row: tuple[int, ...]) -> None:
        report = self.report
        views = {buy: _View.from_row(row, buy, self.depth) for buy in (True, False)}
        unknown: list[tuple[bool, int, int, int]] = []
        known_now: dict[bool, set[int]] = {}
        for buy in (True, False):
            view, previous = views[buy], self._views[buy]
            ours = self._our_levels(buy, view)
            known = known_now[buy] = {p for p in view.levels if self._level_known(buy, p)}
            for price, size in view.levels.items():
                if price not in known:
                    report.levels_not_compared[R_PAST_DEPTH] += 1
                    unknown.append((buy, price, size, ours.get(price, 0)))
                    continue
                if price not in previous.levels:
                    # A level NASDAQ showed empty just before: the file's stale orders
                    # there were removed beyond the visible depth.
                    self.facts.reset(buy, price, message.order_id)
                report.levels_compared += 1
                if ours.get(price, 0) == size:
                    report.levels_agreed += 1
                else:
                    side = "bid" if buy else "ask"
                    report.fail(
                        index, message, f"{side} {price}: NASDAQ {size}, the book {ours.get(price)}"
                    )
            for price in ours.keys() - view.levels.keys():
                if self._level_known(buy, price):
                    report.fail(index, message, f"the book has {price} x {ours[price]}, not NASDAQ")
                else:
                    self._purge(buy, price)
            # Known levels leaving the visible depth: only their head keeps a certain place.
            for price in self._known[buy]:
                if not view.visible(price):
                    queue = self.book.queue(Side.BUY if buy else Side.SELL, to_decimal(price))
                    if queue and queue[0] >= 0:
                        self._certain_heads.add(queue[0])
        for buy, price, size, ours in unknown:
            self._reconcile(buy, price, size, ours)
        self._views = views
        self._known = known_now

    def _purge(self, buy: bool, price: int) -> None:
        """Remove stale orders from a price NASDAQ shows empty."""
        for order_id in self.book.queue(Side.BUY if buy else Side.SELL, to_decimal(price)):
            self.book.cancel(order_id)
            self._certain_heads.discard(order_id)
            self.report.corrections["stale orders removed from a price shown empty"] += 1

    def _reconcile(self, buy: bool, price: int, size: int, ours: int) -> None:
        """Bring a level whose queue is not known to NASDAQ's size: unseen orders queue
        behind the known ones; stale quantity goes from the back."""
        side = Side.BUY if buy else Side.SELL
        if ours < size:
            self.report.corrections["unseen quantity added behind a level"] += 1
            self.book.restore(
                [NewOrder(self._new_anonymous(), side, Decimal(size - ours), to_decimal(price))]
            )
            return
        if ours == size:
            return
        self.report.corrections["stale quantity removed from a level"] += 1
        excess = ours - size
        for order_id in reversed(self.book.queue(side, to_decimal(price))):
            cut = min(int(self.book.get(order_id).leaves), excess)
            self._reduce(order_id, cut)
            excess -= cut
            if not excess:
                return

    # A message file without its orderbook

    def _run_unchecked(self) -> ReplayReport:
        """Replay every message without a starting book or rows to compare with: nothing
        can be checked, and the messages are counted as such."""
        report = self.report
        for index, message in enumerate(self.messages):
            kind = message.kind
            if kind == HIDDEN:
                report.unchecked[R_HIDDEN] += 1
                continue
            if kind == CROSS:
                report.unchecked[R_CROSS] += 1
                continue
            if kind == HALT:
                report.unchecked[R_HALT] += 1
                continue
            report.unchecked[f"{KIND_NAMES[kind][:-1]}: {R_NO_ORDERBOOK}"] += 1
            order_id = message.order_id
            if kind == ADD:
                self.book.submit(
                    order_id,
                    side_of(message.direction),
                    Decimal(message.size),
                    to_decimal(message.price),
                )
            elif kind in (PARTIAL_CANCEL, DELETE):
                view = self.book.get(order_id)
                if view is not None:
                    self._reduce(order_id, message.size if kind == PARTIAL_CANCEL else view.leaves)
            elif kind == EXECUTION:
                events = self.book.submit(
                    ("taker", index),
                    other_side(message.direction),
                    Decimal(message.size),
                    to_decimal(message.price),
                    tif=TimeInForce.IOC,
                )
                fills = [event for event in events if isinstance(event, Fill)]
                report.notes["executions that hit the order they name (not asserted)"] += (
                    len(fills) == 1 and fills[0].maker_id == order_id
                )
        report.messages = len(self.messages)
        return report


# Benchmark operations


class Operation(NamedTuple):
    """One book call of a replay: ``kind`` is "add", "reduce", "delete" or "take" (an IOC
    order of ``size`` at ``price`` on ``side``); prices in dollars x 10,000."""

    kind: str
    order_id: int
    side: Side
    price: int
    size: int


def operations(sample: Sample) -> tuple[list[Operation], list[Operation]]:
    """The seed orders and the operations of a replay, the same for every engine: adds,
    partial cancels and deletes of the orders the file adds, and each visible execution as
    an incoming IOC order. Messages about orders from before the start, hidden executions,
    cross trades and halts have no operation."""
    messages = sample.read_messages()
    seed: list[Operation] = []
    if sample.orderbook is not None:
        row = sample.read_orderbook()[0]
        first = messages[0]
        for buy in (True, False):
            levels = _undo(_View.from_row(row, buy, sample.levels).levels, first, buy)
            side = Side.BUY if buy else Side.SELL
            for price, size in levels.items():
                seed.append(Operation("add", -(len(seed) + 1), side, price, size))
    ops: list[Operation] = []
    added: set[int] = set()
    for message in messages:
        kind, order_id = message.kind, message.order_id
        if kind == ADD:
            added.add(order_id)
            ops.append(
                Operation("add", order_id, side_of(message.direction), message.price, message.size)
            )
        elif kind in (PARTIAL_CANCEL, DELETE) and order_id in added:
            ops.append(
                Operation(
                    "reduce" if kind == PARTIAL_CANCEL else "delete",
                    order_id,
                    side_of(message.direction),
                    message.price,
                    message.size,
                )
            )
        elif kind == EXECUTION:
            ops.append(
                Operation(
                    "take", order_id, other_side(message.direction), message.price, message.size
                )
            )
    return seed, ops
