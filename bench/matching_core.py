"""The order book alone: LOBSTER replay throughput, side by side with public Python books.

Replays the LOBSTER samples (real NASDAQ order flow, /work/shared/data/lobster or
$LOBSTER_DIR) through apps/matching/book.py and, in the same run, through the public
pure-Python price-time books installed from PyPI (pyorderbook, akhil4n-orderbook). Every
engine gets the same operations (`apps.matching.lobster.operations`: the starting book, then
adds, partial cancels and deletes of the file's orders, and each visible execution as an
incoming IOC order) with prices and sizes already in its own input types, and is timed on
the operations alone, in CPU time (process_time), so other load on a shared machine does
not count. Prints operations per second per sample and engine (best of
``--runs``), the ratio of the book to the fastest peer, and the fills each engine produced
(the same replay gives the same fills).

    .venv/bin/python bench/matching_core.py [--runs 5] [--profile]

No database is needed.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.matching.book import Fill, NewOrder, OrderBook, Side, TimeInForce
from apps.matching.lobster import Operation, Sample, operations, samples

DATA = Path(os.environ.get("LOBSTER_DIR", "/work/shared/data/lobster"))
SCALE = 10_000

# A run replays the operations and returns the seconds they took; given a list, it also
# appends every fill as (quantity,) so the engines' results can be compared (untimed runs).
Run = Callable[[list[Operation], list[Operation], list | None], float]


def _decimal_prices(ops: list[Operation]) -> dict[int, Decimal]:
    return {op.price: Decimal(op.price) / SCALE for op in ops}


# Bourse's book: Decimal in, Decimal out.


def run_bourse(seed: list[Operation], ops: list[Operation], fills: list | None) -> float:
    prices = _decimal_prices(seed + ops)
    sizes = {op.size: Decimal(op.size) for op in seed + ops}
    book = OrderBook(tick_size=Decimal("0.01"), lot_size=Decimal(1))
    book.restore(NewOrder(op.order_id, op.side, sizes[op.size], prices[op.price]) for op in seed)
    prepared = [(op.kind, op.order_id, op.side, prices[op.price], sizes[op.size]) for op in ops]
    submit, cancel, replace, get = book.submit, book.cancel, book.replace, book.get
    ioc = TimeInForce.IOC
    keep = None if fills is None else fills.extend
    gc.collect()
    start = time.process_time()
    for kind, order_id, side, price, size in prepared:
        if kind == "add":
            events = submit(order_id, side, size, price)
            if keep is not None:
                keep(events)
        elif kind == "take":
            events = submit(0, side, size, price, tif=ioc)
            if keep is not None:
                keep(events)
        elif kind == "delete":
            cancel(order_id)
        else:
            order = get(order_id)
            if order is not None:
                if size < order.leaves:
                    replace(order_id, quantity=order.quantity - size)
                else:
                    cancel(order_id)
    elapsed = time.process_time() - start
    if fills is not None:
        fills[:] = [int(event.quantity) for event in fills if type(event) is Fill]
    return elapsed


# pyorderbook 0.4.9: float prices in, Decimal inside; no IOC and no partial cancel, so the
# remainder of an execution is cancelled and a partial cancel lowers the order's quantity.


def run_pyorderbook(seed: list[Operation], ops: list[Operation], fills: list | None) -> float:
    import logging

    import pyorderbook

    logging.getLogger("pyorderbook.book").setLevel(logging.WARNING)
    book = pyorderbook.Book()
    sides = {Side.BUY: pyorderbook.Side.BID, Side.SELL: pyorderbook.Side.ASK}
    order_type = pyorderbook.Order
    orders = {}
    for op in seed:
        order = order_type(sides[op.side], "X", op.price / SCALE, op.size)
        book.match(order)
        orders[op.order_id] = order
    prepared = [(op.kind, op.order_id, sides[op.side], op.price / SCALE, op.size) for op in ops]
    match, cancel, live = book.match, book.cancel, book.order_map
    keep = None if fills is None else fills.append
    gc.collect()
    start = time.process_time()
    for kind, order_id, side, price, size in prepared:
        if kind == "add":
            order = order_type(side, "X", price, size)
            blotter = match(order)
            if keep is not None:
                keep(blotter)
            orders[order_id] = order
        elif kind == "take":
            order = order_type(side, "X", price, size)
            blotter = match(order)
            if keep is not None:
                keep(blotter)
            if order.quantity:
                cancel(order)
        elif kind == "delete":
            order = orders.pop(order_id, None)
            if order is not None and order.id in live:
                cancel(order)
        else:
            order = orders.get(order_id)
            if order is not None and order.id in live:
                if size < order.quantity:
                    order.quantity -= size
                else:
                    cancel(order)
    elapsed = time.process_time() - start
    if fills is not None:
        fills[:] = [trade.fill_quantity for blotter in fills for trade in blotter.trades]
    return elapsed


# akhil4n-orderbook 0.1.1: Decimal prices; no IOC and no partial cancel, handled the same way.


def run_akhil4n(seed: list[Operation], ops: list[Operation], fills: list | None) -> float:
    import orderbook as akhil4n

    prices = _decimal_prices(seed + ops)
    book = akhil4n.OrderBook()
    sides = {Side.BUY: akhil4n.OrderSide.BID, Side.SELL: akhil4n.OrderSide.ASK}
    order_type = akhil4n.Order
    orders = {}
    for op in seed:
        order = order_type(sides[op.side], prices[op.price], op.size)
        book.add_limit_order(order)
        orders[op.order_id] = order
    prepared = [(op.kind, op.order_id, sides[op.side], prices[op.price], op.size) for op in ops]
    add, cancel, live = book.add_limit_order, book.cancel_order, book.orders
    gc.collect()
    start = time.process_time()
    for kind, order_id, side, price, size in prepared:
        if kind == "add":
            order = order_type(side, price, size)
            add(order)
            orders[order_id] = order
        elif kind == "take":
            order = order_type(side, price, size)
            add(order)
            if order.remaining_quantity:
                cancel(order.order_id)
        elif kind == "delete":
            order = orders.pop(order_id, None)
            if order is not None:
                cancel(order.order_id)
        else:
            order = orders.get(order_id)
            if order is not None and order.order_id in live:
                if size < order.remaining_quantity:
                    level, _ = live[order.order_id]
                    order.remaining_quantity -= size
                    level.total_quantity -= size
                else:
                    cancel(order.order_id)
    elapsed = time.process_time() - start
    if fills is not None:
        fills[:] = [trade.quantity_filled for trade in book.trade_log]
    return elapsed


ENGINES: dict[str, Run] = {
    "bourse book.py": run_bourse,
    "pyorderbook 0.4.9": run_pyorderbook,
    "akhil4n-orderbook 0.1.1": run_akhil4n,
}


def measure(sample: Sample, runs: int) -> dict[str, tuple[float, int, int, int]]:
    """Best time per engine (runs interleaved), with the operation count, and the number
    and volume of fills from an untimed run."""
    seed, ops = operations(sample)
    best: dict[str, float] = {}
    for _ in range(runs):
        for name, run in ENGINES.items():
            elapsed = run(seed, ops, None)
            best[name] = min(elapsed, best.get(name, elapsed))
    out = {}
    for name, run in ENGINES.items():
        fills: list = []
        run(seed, ops, fills)
        out[name] = (best[name], len(ops), len(fills), sum(fills))
    return out


def profile(sample: Sample) -> None:
    import cProfile
    import pstats

    seed, ops = operations(sample)
    profiler = cProfile.Profile()
    profiler.runcall(run_bourse, seed, ops, None)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the book's replay")
    args = parser.parse_args()
    found = samples(DATA)
    if args.profile:
        profile(max(found, key=lambda sample: sample.messages.stat().st_size))
        return
    totals: dict[str, list[float]] = {name: [0.0, 0] for name in ENGINES}
    print(f"{'sample':32} {'engine':24} {'ops':>7} {'ops/s':>10} {'fills':>6} {'volume':>8}")
    for sample in found:
        for name, (elapsed, count, fills, volume) in measure(sample, args.runs).items():
            totals[name][0] += elapsed
            totals[name][1] += count
            rate = count / elapsed
            print(f"{sample.name:32} {name:24} {count:7} {rate:10,.0f} {fills:6} {volume:8}")
    print()
    rates = {name: count / elapsed for name, (elapsed, count) in totals.items()}
    ours = rates.pop("bourse book.py")
    print(f"{'all samples':32} {'bourse book.py':24} {ours:10,.0f} ops/s")
    for name, rate in rates.items():
        print(f"{'all samples':32} {name:24} {rate:10,.0f} ops/s  book.py x{ours / rate:.2f}")
    fastest = max(rates, key=rates.get)
    print(f"\nbook.py / fastest peer ({fastest}): {ours / rates[fastest]:.2f}x")


if __name__ == "__main__":
    main()
