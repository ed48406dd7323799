"""The order book's behaviour, order by order (apps/matching/book.py; no database)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from apps.matching.book import (
    BookError,
    Cancel,
    Depth,
    DepthLevel,
    Done,
    DoneReason,
    Fill,
    NewOrder,
    OrderBook,
    OrderType,
    Pending,
    Rejected,
    RejectReason,
    Replace,
    Replaced,
    Rested,
    SelfTradePrevention,
    Side,
    TimeInForce,
    Triggered,
)

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MARKET, STOP, STOP_LIMIT = (
    OrderType.LIMIT,
    OrderType.MARKET,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
)
IOC, FOK, DAY, GTD = TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY, TimeInForce.GTD
FILLED, CANCELLED, IOC_REMAINDER, FOK_UNFILLED, STP = (
    DoneReason.FILLED,
    DoneReason.CANCELLED,
    DoneReason.IOC_REMAINDER,
    DoneReason.FOK_UNFILLED,
    DoneReason.STP,
)


def make_book(**options) -> OrderBook:
    options.setdefault("tick_size", D("0.01"))
    options.setdefault("lot_size", D("1"))
    return OrderBook(**options)


def fills(events) -> list[tuple]:
    return [(e.maker_id, e.taker_id, e.price, e.quantity) for e in events if type(e) is Fill]


def rest(book: OrderBook, order_id, side, quantity, price, **options) -> None:
    events = book.submit(order_id, side, D(quantity), D(price), **options)
    assert events == [Rested(order_id, D(price), D(quantity))]


# Creating a book, converting at the edges


def test_book_needs_decimal_tick_and_lot_sizes():
    with pytest.raises(BookError):
        OrderBook(tick_size=0.01, lot_size=D(1))
    with pytest.raises(BookError):
        OrderBook(tick_size=D("0.01"), lot_size=D(0))


@pytest.mark.parametrize(
    ("quantity", "price"),
    [
        (D("10"), D("10.005")),  # off the tick
        (D("10.5"), D("10.00")),  # off the lot
        (D("0"), D("10.00")),
        (D("-5"), D("10.00")),
        (D("10"), D("0")),
        (D("10"), D("-1.00")),
        (D("10"), 10.0),  # floats never enter the book
        (10.0, D("10.00")),
        (D("10"), D("NaN")),
        (D("10"), D("Infinity")),
    ],
)
def test_prices_and_quantities_must_fit_tick_and_lot(quantity, price):
    book = make_book()
    with pytest.raises(BookError):
        book.submit("a", BUY, quantity, price)
    assert len(book) == 0


def test_a_rejected_float_is_not_taken_from_the_conversion_cache():
    book = make_book()
    rest(book, "a", BUY, "5", "10.25")
    with pytest.raises(BookError):
        book.submit("b", BUY, D(5), 10.25)
    with pytest.raises(BookError):
        book.submit("c", BUY, 5, D("10.25"))


def test_fractional_lots_and_ticks_convert_exactly():
    book = make_book(tick_size=D("0.05"), lot_size=D("0.5"))
    rest(book, "a", SELL, "2.5", "10.05")
    events = book.submit("b", BUY, D("1.0"), D("10.10"))
    assert fills(events) == [("a", "b", D("10.05"), D("1.0"))]
    assert book.depth() == Depth([], [DepthLevel(D("10.05"), D("1.5"), 1)])
    with pytest.raises(BookError):
        book.submit("c", BUY, D("0.7"), D("10.00"))
    with pytest.raises(BookError):
        book.submit("d", BUY, D("1"), D("10.02"))


def test_order_ids_are_unique_among_open_orders():
    book = make_book()
    rest(book, "a", BUY, "5", "10.00")
    with pytest.raises(BookError):
        book.submit("a", SELL, D(5), D("11.00"))
    book.cancel("a")
    rest(book, "a", SELL, "5", "11.00")


@pytest.mark.parametrize(
    "options",
    [
        {"order_type": "iceberg"},
        {"tif": "forever"},
        {"stp": "cancel_everything"},
        {"order_type": MARKET},  # a market order takes no limit price
        {"order_type": STOP},  # a stop needs a stop price
        {"stop_price": D("10.00")},  # a limit order takes no stop price
        {"protection": D("10.00")},  # nor a protection price
    ],
)
def test_malformed_orders_are_refused(options):
    book = make_book()
    with pytest.raises(BookError):
        book.submit("a", BUY, D(5), D("10.00"), **options)
    with pytest.raises(BookError):
        book.submit("b", "long", D(5), D("10.00"))
    assert len(book) == 0


def test_string_values_of_the_enums_are_accepted():
    book = make_book()
    book.submit("a", "sell", D(5), D("10.00"), tif="gtc", stp="cancel_both")
    events = book.submit("b", "buy", D(5), None, order_type="market", tif="ioc")
    assert events == [
        Fill("a", "b", D("10.00"), D(5), BUY),
        Done("a", FILLED, D(0)),
        Done("b", FILLED, D(0)),
    ]


# Limit orders: price-time priority, partial fills


def test_a_limit_order_that_does_not_cross_rests():
    book = make_book()
    rest(book, "b1", BUY, "5", "9.99")
    rest(book, "a1", SELL, "7", "10.01")
    assert book.best_bid == D("9.99")
    assert book.best_ask == D("10.01")
    assert book.last_price is None
    assert "b1" in book
    assert len(book) == 2


def test_better_prices_trade_first_at_the_resting_price():
    book = make_book()
    rest(book, "a1", SELL, "5", "10.02")
    rest(book, "a2", SELL, "5", "10.00")
    rest(book, "a3", SELL, "5", "10.01")
    events = book.submit("b", BUY, D(12), D("10.05"))
    assert fills(events) == [
        ("a2", "b", D("10.00"), D(5)),
        ("a3", "b", D("10.01"), D(5)),
        ("a1", "b", D("10.02"), D(2)),
    ]
    assert events[-1] == Done("b", FILLED, D(0))
    assert book.best_ask == D("10.02")
    assert book.last_price == D("10.02")


def test_earlier_orders_at_a_price_trade_first():
    book = make_book()
    for name in ("first", "second", "third"):
        rest(book, name, BUY, "3", "10.00")
    events = book.submit("s", SELL, D(4), D("10.00"))
    assert fills(events) == [("first", "s", D("10.00"), D(3)), ("second", "s", D("10.00"), D(1))]
    assert book.queue(BUY, D("10.00")) == ["second", "third"]
    assert book.get("second").leaves == D(2)
    assert book.get("second").filled == D(1)


def test_a_partially_filled_taker_rests_its_remainder():
    book = make_book()
    rest(book, "a", SELL, "3", "10.00")
    events = book.submit("b", BUY, D(10), D("10.00"))
    assert events == [
        Fill("a", "b", D("10.00"), D(3), BUY),
        Done("a", FILLED, D(0)),
        Rested("b", D("10.00"), D(7)),
    ]
    assert book.depth(1) == Depth([DepthLevel(D("10.00"), D(7), 1)], [])
    assert book.get("b").quantity == D(10)
    assert book.get("b").filled == D(3)


def test_a_sweep_stops_at_the_limit_price():
    book = make_book()
    rest(book, "a1", SELL, "2", "10.00")
    rest(book, "a2", SELL, "2", "10.01")
    rest(book, "a3", SELL, "2", "10.02")
    events = book.submit("b", BUY, D(10), D("10.01"))
    assert [f[0] for f in fills(events)] == ["a1", "a2"]
    assert events[-1] == Rested("b", D("10.01"), D(6))
    assert book.best_bid == D("10.01")
    assert book.best_ask == D("10.02")


def test_sell_side_aggressor_and_fill_fields():
    book = make_book()
    rest(book, "b", BUY, "4", "10.00", account="acct-1")
    (fill, maker_done, taker_done) = book.submit("s", SELL, D(4), D("9.50"), account="acct-2")
    assert fill == Fill("b", "s", D("10.00"), D(4), SELL)
    assert fill.aggressor is SELL
    assert isinstance(fill.price, D) and isinstance(fill.quantity, D)
    assert maker_done == Done("b", FILLED, D(0))
    assert taker_done == Done("s", FILLED, D(0))


@pytest.mark.parametrize("tif", [TimeInForce.GTC, DAY, GTD])
def test_day_gtc_and_gtd_orders_rest_alike(tif):
    book = make_book()
    events = book.submit("a", BUY, D(5), D("10.00"), tif=tif)
    assert events == [Rested("a", D("10.00"), D(5))]
    assert book.get("a").tif is tif


# Market orders


def test_a_market_order_sweeps_and_never_rests():
    book = make_book()
    rest(book, "a1", SELL, "2", "10.00")
    rest(book, "a2", SELL, "2", "11.00")
    events = book.submit("m", BUY, D(5), order_type=MARKET)
    assert fills(events) == [("a1", "m", D("10.00"), D(2)), ("a2", "m", D("11.00"), D(2))]
    assert events[-1] == Done("m", IOC_REMAINDER, D(1))
    assert "m" not in book
    assert book.depth() == Depth([], [])


def test_a_market_order_on_an_empty_side_ends_unfilled():
    book = make_book()
    rest(book, "b", BUY, "2", "10.00")
    assert book.submit("m", BUY, D(5), order_type=MARKET) == [Done("m", IOC_REMAINDER, D(5))]


def test_the_protection_price_collars_a_market_sweep():
    book = make_book()
    rest(book, "b1", BUY, "2", "10.00")
    rest(book, "b2", BUY, "2", "9.90")
    rest(book, "b3", BUY, "2", "9.80")
    events = book.submit("m", SELL, D(6), order_type=MARKET, protection=D("9.90"))
    assert [f[0] for f in fills(events)] == ["b1", "b2"]
    assert events[-1] == Done("m", IOC_REMAINDER, D(2))
    assert book.best_bid == D("9.80")


# IOC and FOK


def test_ioc_fills_what_it_can_and_ends_the_rest():
    book = make_book()
    rest(book, "a", SELL, "3", "10.00")
    events = book.submit("i", BUY, D(5), D("10.00"), tif=IOC)
    assert fills(events) == [("a", "i", D("10.00"), D(3))]
    assert events[-1] == Done("i", IOC_REMAINDER, D(2))
    assert "i" not in book
    assert book.submit("j", BUY, D(5), D("10.00"), tif=IOC) == [Done("j", IOC_REMAINDER, D(5))]


def test_fok_fills_completely_across_levels():
    book = make_book()
    rest(book, "a1", SELL, "3", "10.00")
    rest(book, "a2", SELL, "3", "10.01")
    events = book.submit("f", BUY, D(5), D("10.01"), tif=FOK)
    assert fills(events) == [("a1", "f", D("10.00"), D(3)), ("a2", "f", D("10.01"), D(2))]
    assert events[-1] == Done("f", FILLED, D(0))


def test_fok_that_cannot_fill_leaves_the_book_untouched():
    book = make_book()
    rest(book, "a1", SELL, "3", "10.00")
    rest(book, "a2", SELL, "3", "10.01")
    rest(book, "a3", SELL, "3", "10.05")
    before = (book.depth(), book.queue(SELL, D("10.00")), list(book.open_orders()))
    events = book.submit("f", BUY, D(7), D("10.01"), tif=FOK)
    assert events == [Done("f", FOK_UNFILLED, D(7))]
    assert (book.depth(), book.queue(SELL, D("10.00")), list(book.open_orders())) == before
    assert book.last_price is None
    market = book.submit("g", BUY, D(10), order_type=MARKET, tif=FOK)
    assert market == [Done("g", FOK_UNFILLED, D(10))]
    assert book.depth() == before[0]


def test_fok_does_not_count_own_orders_it_may_not_trade_with():
    book = make_book(stp=SelfTradePrevention.CANCEL_INCOMING)
    rest(book, "mine", SELL, "5", "10.00", account="x")
    rest(book, "theirs", SELL, "5", "10.00", account="y")
    # Cancel-incoming stops at the own order: nothing fills, so the FOK fails untouched.
    assert book.submit("f", BUY, D(5), D("10.00"), tif=FOK, account="x") == [
        Done("f", FOK_UNFILLED, D(5))
    ]
    assert book.queue(SELL, D("10.00")) == ["mine", "theirs"]
    # Cancel-resting skips (cancels) the own order and fills from the other.
    events = book.submit(
        "g", BUY, D(5), D("10.00"), tif=FOK, account="x", stp=SelfTradePrevention.CANCEL_RESTING
    )
    assert events == [
        Done("mine", STP, D(5)),
        Fill("theirs", "g", D("10.00"), D(5), BUY),
        Done("theirs", FILLED, D(0)),
        Done("g", FILLED, D(0)),
    ]


# Stops and stop-limits


def test_a_buy_stop_waits_then_enters_as_a_market_order():
    book = make_book()
    rest(book, "a1", SELL, "1", "10.00")
    rest(book, "a2", SELL, "5", "10.05")
    assert book.submit("stop", BUY, D(3), order_type=STOP, stop_price=D("10.00")) == [
        Pending("stop", D("10.00"))
    ]
    assert book.get("stop").pending
    events = book.submit("b", BUY, D(1), D("10.00"))
    assert events == [
        Fill("a1", "b", D("10.00"), D(1), BUY),
        Done("a1", FILLED, D(0)),
        Done("b", FILLED, D(0)),
        Triggered("stop", D("10.00")),
        Fill("a2", "stop", D("10.05"), D(3), BUY),
        Done("stop", FILLED, D(0)),
    ]
    assert book.last_price == D("10.05")


def test_a_sell_stop_triggers_at_or_below_its_price():
    book = make_book(last_price=D("10.50"))
    rest(book, "b1", BUY, "1", "10.10")
    rest(book, "b2", BUY, "4", "10.00")
    assert book.submit("stop", SELL, D(2), order_type=STOP, stop_price=D("10.05"))[0] == Pending(
        "stop", D("10.05")
    )
    # A trade above the stop price leaves it waiting.
    assert Triggered("stop", D("10.10")) not in book.submit("s1", SELL, D(1), D("10.10"))
    assert book.get("stop").pending
    events = book.submit("s2", SELL, D(1), D("10.00"))
    assert Triggered("stop", D("10.00")) in events
    assert fills(events)[-1] == ("b2", "stop", D("10.00"), D(2))


def test_a_stop_limit_rests_with_priority_from_its_trigger():
    book = make_book()
    assert book.submit(
        "sl", BUY, D(2), D("10.00"), order_type=STOP_LIMIT, stop_price=D("10.01")
    ) == [Pending("sl", D("10.01"))]
    rest(book, "early", BUY, "2", "10.00")
    rest(book, "later", BUY, "1", "10.00")
    rest(book, "a", SELL, "1", "10.01")
    events = book.submit("t", BUY, D(1), D("10.01"))
    assert events == [
        Fill("a", "t", D("10.01"), D(1), BUY),
        Done("a", FILLED, D(0)),
        Done("t", FILLED, D(0)),
        Triggered("sl", D("10.01")),
        Rested("sl", D("10.00"), D(2)),
    ]
    # Submitted before "early" and "later", triggered after they rested: it queues behind.
    assert book.queue(BUY, D("10.00")) == ["early", "later", "sl"]
    assert not book.get("sl").pending


def test_a_stop_limit_triggered_across_its_limit_trades_up_to_it():
    book = make_book(last_price=D("10.00"))
    book.submit("sl", BUY, D(3), D("10.03"), order_type=STOP_LIMIT, stop_price=D("10.02"))
    rest(book, "a1", SELL, "1", "10.02")
    rest(book, "a2", SELL, "2", "10.03")
    rest(book, "a3", SELL, "2", "10.04")
    events = book.submit("t", BUY, D(1), D("10.02"))
    assert events[3:] == [
        Triggered("sl", D("10.02")),
        Fill("a2", "sl", D("10.03"), D(2), BUY),
        Done("a2", FILLED, D(0)),
        Rested("sl", D("10.03"), D(1)),
    ]


def test_a_stop_whose_condition_holds_on_arrival_triggers_at_once():
    book = make_book(last_price=D("10.00"))
    rest(book, "a", SELL, "5", "10.01")
    events = book.submit("stop", BUY, D(2), order_type=STOP, stop_price=D("9.90"))
    assert events == [
        Triggered("stop", D("10.00")),
        Fill("a", "stop", D("10.01"), D(2), BUY),
        Done("stop", FILLED, D(0)),
    ]


def test_without_a_last_trade_a_stop_waits():
    book = make_book()
    assert book.submit("stop", SELL, D(2), order_type=STOP, stop_price=D("99.00")) == [
        Pending("stop", D("99.00"))
    ]


def test_a_stop_triggers_on_any_price_a_sweep_printed():
    book = make_book(last_price=D("9.90"))
    book.submit("buy-stop", BUY, D(1), order_type=STOP, stop_price=D("9.99"))
    rest(book, "b1", BUY, "1", "9.99")
    rest(book, "b2", BUY, "1", "9.97")
    rest(book, "a", SELL, "5", "10.05")
    # The sell prints 9.99 then 9.97: the last price is below the stop, but a trade
    # printed at it, so the stop triggers.
    events = book.submit("s", SELL, D(2), D("9.97"))
    assert events[-3:] == [
        Triggered("buy-stop", D("9.97")),
        Fill("a", "buy-stop", D("10.05"), D(1), BUY),
        Done("buy-stop", FILLED, D(0)),
    ]


def test_cascading_stops_trigger_in_a_deterministic_order():
    def run() -> list:
        book = make_book(last_price=D("10.00"))
        # Two stops the same trade triggers (entered out of price order) and one that only
        # the first stop's trade reaches.
        book.submit("s2", BUY, D(1), order_type=STOP, stop_price=D("10.02"))
        book.submit("s1", BUY, D(1), order_type=STOP, stop_price=D("10.01"))
        book.submit("s3", BUY, D(1), order_type=STOP, stop_price=D("10.04"))
        rest(book, "a1", SELL, "1", "10.02")
        rest(book, "a2", SELL, "1", "10.03")
        rest(book, "a3", SELL, "1", "10.05")
        rest(book, "a4", SELL, "1", "10.06")
        return book.submit("t", BUY, D(1), D("10.02"))

    events = run()
    assert [e for e in events if type(e) is Triggered] == [
        Triggered("s2", D("10.02")),  # triggered together: by arrival
        Triggered("s1", D("10.02")),
        Triggered("s3", D("10.05")),  # reached by s1's trade, queued behind it
    ]
    assert fills(events) == [
        ("a1", "t", D("10.02"), D(1)),
        ("a2", "s2", D("10.03"), D(1)),
        ("a3", "s1", D("10.05"), D(1)),
        ("a4", "s3", D("10.06"), D(1)),
    ]
    assert run() == events


def test_stops_can_be_cancelled_and_replaced_while_waiting():
    book = make_book(last_price=D("10.00"))
    book.submit("stop", BUY, D(2), order_type=STOP, stop_price=D("10.10"))
    book.submit("other", BUY, D(2), order_type=STOP, stop_price=D("10.20"))
    assert book.cancel("other") == [Done("other", CANCELLED, D(2))]
    assert book.replace("stop", stop_price=D("10.30")) == [
        Replaced("stop", None, D(2), D("10.30"), False),
        Pending("stop", D("10.30")),
    ]
    assert book.replace("stop", quantity=D(1)) == [Replaced("stop", None, D(1), D("10.30"), True)]
    rest(book, "a", SELL, "3", "10.10")
    events = book.submit("t", BUY, D(1), D("10.10"))
    assert not any(type(e) is Triggered for e in events)
    # A stop replaced to a price the last trade already reached triggers at once.
    events = book.replace("stop", stop_price=D("10.05"))
    assert events[1:] == [
        Triggered("stop", D("10.10")),
        Fill("a", "stop", D("10.10"), D(1), BUY),
        Done("stop", FILLED, D(0)),
    ]


def test_a_protected_stop_keeps_its_collar_when_triggered():
    book = make_book(last_price=D("10.00"))
    book.submit("stop", SELL, D(4), order_type=STOP, stop_price=D("9.95"), protection=D("9.90"))
    rest(book, "b1", BUY, "1", "9.95")
    rest(book, "b2", BUY, "1", "9.90")
    rest(book, "b3", BUY, "5", "9.80")
    events = book.submit("s", SELL, D(1), D("9.95"))
    assert events[-1] == Done("stop", IOC_REMAINDER, D(3))
    assert book.best_bid == D("9.80")


# Self-trade prevention


def test_by_default_the_resting_own_order_is_cancelled_and_matching_goes_on():
    book = make_book()
    rest(book, "own", SELL, "3", "10.00", account="x")
    rest(book, "other", SELL, "3", "10.00", account="y")
    events = book.submit("b", BUY, D(4), D("10.00"), account="x")
    assert events == [
        Done("own", STP, D(3)),
        Fill("other", "b", D("10.00"), D(3), BUY),
        Done("other", FILLED, D(0)),
        Rested("b", D("10.00"), D(1)),
    ]
    assert book.best_ask is None


def test_cancel_incoming_keeps_fills_made_before_the_own_order():
    book = make_book(stp=SelfTradePrevention.CANCEL_INCOMING)
    rest(book, "other", SELL, "2", "10.00", account="y")
    rest(book, "own", SELL, "3", "10.00", account="x")
    rest(book, "after", SELL, "3", "10.00", account="z")
    events = book.submit("b", BUY, D(6), D("10.00"), account="x")
    assert events == [
        Fill("other", "b", D("10.00"), D(2), BUY),
        Done("other", FILLED, D(0)),
        Done("b", STP, D(4)),
    ]
    assert book.queue(SELL, D("10.00")) == ["own", "after"]


def test_cancel_both_ends_both_orders():
    book = make_book()
    rest(book, "own", BUY, "3", "10.00", account="x")
    rest(book, "other", BUY, "3", "9.99", account="y")
    events = book.submit(
        "s", SELL, D(5), D("9.99"), account="x", stp=SelfTradePrevention.CANCEL_BOTH
    )
    assert events == [Done("own", STP, D(3)), Done("s", STP, D(5))]
    assert book.queue(BUY, D("9.99")) == ["other"]


def test_orders_without_an_account_never_count_as_self_trades():
    book = make_book()
    rest(book, "a", SELL, "3", "10.00")
    assert fills(book.submit("b", BUY, D(3), D("10.00"))) == [("a", "b", D("10.00"), D(3))]


def test_a_triggered_stop_obeys_self_trade_prevention():
    book = make_book(last_price=D("10.00"))
    book.submit("stop", BUY, D(2), order_type=STOP, stop_price=D("10.01"), account="x")
    rest(book, "a", SELL, "1", "10.01", account="y")
    rest(book, "own", SELL, "2", "10.02", account="x")
    rest(book, "b", SELL, "2", "10.03", account="y")
    events = book.submit("t", BUY, D(1), D("10.01"), account="z")
    assert events[3:] == [
        Triggered("stop", D("10.01")),
        Done("own", STP, D(2)),
        Fill("b", "stop", D("10.03"), D(2), BUY),
        Done("b", FILLED, D(0)),
        Done("stop", FILLED, D(0)),
    ]


# Cancel and replace


def test_cancel_ends_an_order_and_reports_what_it_gave_up():
    book = make_book()
    rest(book, "a", SELL, "5", "10.00")
    book.submit("b", BUY, D(2), D("10.00"))
    assert book.cancel("a") == [Done("a", CANCELLED, D(3))]
    assert book.depth() == Depth([], [])
    assert book.cancel("a") == [Rejected("a", RejectReason.UNKNOWN_ORDER)]
    assert book.cancel("never") == [Rejected("never", RejectReason.UNKNOWN_ORDER)]


def test_cancel_in_the_middle_of_a_queue_keeps_the_others_in_order():
    book = make_book()
    for name in ("a", "b", "c", "d"):
        rest(book, name, BUY, "1", "10.00")
    book.cancel("c")
    book.cancel("a")
    assert book.queue(BUY, D("10.00")) == ["b", "d"]
    assert book.depth(1).bids == [DepthLevel(D("10.00"), D(2), 2)]


def test_lowering_quantity_at_the_same_price_keeps_priority():
    book = make_book()
    for name in ("a", "b", "c"):
        rest(book, name, BUY, "5", "10.00")
    assert book.replace("a", quantity=D(2)) == [Replaced("a", D("10.00"), D(2), None, True)]
    assert book.queue(BUY, D("10.00")) == ["a", "b", "c"]
    assert book.depth(1).bids[0].quantity == D(12)
    # Same quantity, same price: nothing changes.
    assert book.replace("a", quantity=D(2), price=D("10.00"))[0].kept_priority


def test_raising_quantity_loses_priority():
    book = make_book()
    for name in ("a", "b"):
        rest(book, name, BUY, "5", "10.00")
    assert book.replace("a", quantity=D(6)) == [
        Replaced("a", D("10.00"), D(6), None, False),
        Rested("a", D("10.00"), D(6)),
    ]
    assert book.queue(BUY, D("10.00")) == ["b", "a"]


def test_changing_price_loses_priority_and_may_trade():
    book = make_book()
    rest(book, "a", BUY, "5", "10.00")
    rest(book, "b", BUY, "5", "10.00")
    rest(book, "x", SELL, "3", "10.02")
    events = book.replace("b", price=D("10.02"), quantity=D(4))
    assert events == [
        Replaced("b", D("10.02"), D(4), None, False),
        Fill("x", "b", D("10.02"), D(3), BUY),
        Done("x", FILLED, D(0)),
        Rested("b", D("10.02"), D(1)),
    ]
    book.replace("b", price=D("10.00"))
    assert book.queue(BUY, D("10.00")) == ["a", "b"]


def test_replacing_to_at_most_the_filled_quantity_ends_the_order():
    book = make_book()
    rest(book, "a", SELL, "5", "10.00")
    book.submit("b", BUY, D(3), D("10.00"))
    assert book.replace("a", quantity=D(3)) == [
        Replaced("a", D("10.00"), D(3), None, True),
        Done("a", CANCELLED, D(2)),
    ]
    assert "a" not in book
    assert book.replace("a", quantity=D(1)) == [Rejected("a", RejectReason.UNKNOWN_ORDER)]


def test_replace_keeps_quantities_counted_against_the_total():
    book = make_book()
    rest(book, "a", SELL, "10", "10.00")
    book.submit("b", BUY, D(4), D("10.00"))
    # New total 8 with 4 filled: 4 left, lowered from 6 in place.
    assert book.replace("a", quantity=D(8))[0].kept_priority
    order = book.get("a")
    assert (order.quantity, order.filled, order.leaves) == (D(8), D(4), D(4))


def test_replace_refuses_prices_the_order_does_not_have():
    book = make_book()
    rest(book, "a", SELL, "10", "10.00")
    with pytest.raises(BookError):
        book.replace("a", stop_price=D("9.00"))
    book.submit("m", BUY, D(3), order_type=STOP, stop_price=D("11.00"))
    with pytest.raises(BookError):
        book.replace("m", price=D("11.00"))
    with pytest.raises(BookError):
        book.replace("a", price=D("10.001"))


# Depth, reads


def test_depth_aggregates_the_best_levels_of_each_side():
    book = make_book()
    rest(book, "b1", BUY, "1", "9.98")
    rest(book, "b2", BUY, "2", "9.99")
    rest(book, "b3", BUY, "3", "9.99")
    rest(book, "b4", BUY, "4", "9.97")
    rest(book, "a1", SELL, "5", "10.01")
    rest(book, "a2", SELL, "6", "10.03")
    assert book.depth(2) == Depth(
        bids=[DepthLevel(D("9.99"), D(5), 2), DepthLevel(D("9.98"), D(1), 1)],
        asks=[DepthLevel(D("10.01"), D(5), 1), DepthLevel(D("10.03"), D(6), 1)],
    )
    assert len(book.depth(10).bids) == 3
    assert book.depth(0) == Depth([], [])
    assert book.queue(SELL, D("10.02")) == []


def test_get_views_an_open_order():
    book = make_book()
    book.submit("a", BUY, D(5), D("10.00"), account="acct", tif=DAY)
    order = book.get("a")
    assert order.order_id == "a"
    assert order.side is BUY
    assert (order.order_type, order.tif, order.price, order.stop_price) == (
        LIMIT,
        DAY,
        D("10.00"),
        None,
    )
    assert (order.quantity, order.filled, order.leaves) == (D(5), D(0), D(5))
    assert order.account == "acct"
    assert not order.pending
    assert book.get("missing") is None


# Rebuilding from stored open orders, and commands


def test_restore_rests_orders_in_the_given_priority_without_matching():
    book = make_book()
    book.restore(
        [
            NewOrder("b2", BUY, D(5), D("10.00"), filled=D(2)),
            NewOrder("b1", BUY, D(3), D("10.00")),
            NewOrder("a1", SELL, D(4), D("10.01")),
            NewOrder("stop", SELL, D(1), order_type=STOP, stop_price=D("9.50")),
        ],
        last_price=D("10.00"),
    )
    assert book.queue(BUY, D("10.00")) == ["b2", "b1"]
    assert book.get("b2").leaves == D(3)
    assert book.get("stop").pending
    assert book.last_price == D("10.00")
    assert book.depth(1).bids == [DepthLevel(D("10.00"), D(6), 2)]


@pytest.mark.parametrize(
    "order",
    [
        NewOrder("x", BUY, D(1), D("10.01")),  # would cross the 10.01 ask
        NewOrder("x", BUY, D(1), D("9.00"), tif=IOC),
        NewOrder("x", BUY, D(1), order_type=MARKET),
        NewOrder("x", BUY, D(2), D("9.00"), filled=D(2)),
        NewOrder("a", BUY, D(1), D("9.00")),  # a duplicate id
    ],
)
def test_restore_refuses_what_cannot_rest(order):
    book = make_book()
    book.restore([NewOrder("a", SELL, D(1), D("10.01"))])
    with pytest.raises(BookError):
        book.restore([order])


def test_a_restored_book_behaves_like_the_original():
    original = make_book(last_price=D("10.00"))
    for i, (side, price) in enumerate(
        [(BUY, "9.98"), (SELL, "10.02"), (BUY, "9.99"), (BUY, "9.98"), (SELL, "10.03")]
    ):
        original.submit(f"o{i}", side, D(3 + i), D(price), account=f"acct{i % 2}")
    original.submit("o2x", SELL, D(1), D("9.99"))
    original.replace("o0", quantity=D(2))
    original.submit("stop", BUY, D(2), order_type=STOP, stop_price=D("10.02"), account="acct0")
    copy = make_book()
    copy.restore(original.open_orders(), last_price=original.last_price)
    assert list(copy.open_orders()) == list(original.open_orders())
    assert copy.depth() == original.depth()
    follow_up = [
        NewOrder("t1", BUY, D(4), D("10.02"), account="acct1"),
        NewOrder("t2", SELL, D(9), D("9.98"), account="acct1"),
        Replace("o1", quantity=D(2)),
        Cancel("o3"),
    ]
    assert [original.apply(c) for c in follow_up] == [copy.apply(c) for c in follow_up]


def test_apply_runs_each_kind_of_command():
    book = make_book()
    assert book.apply(NewOrder("a", SELL, D(2), D("10.00"))) == [Rested("a", D("10.00"), D(2))]
    assert book.apply(Replace("a", quantity=D(1))) == [Replaced("a", D("10.00"), D(1), None, True)]
    assert book.apply(Cancel("a")) == [Done("a", CANCELLED, D(1))]
    with pytest.raises(BookError):
        book.apply(("a", SELL))


def test_the_same_commands_give_the_same_events():
    commands = [
        NewOrder("a", SELL, D(3), D("10.01"), account="x"),
        NewOrder("b", SELL, D(2), D("10.00"), account="y"),
        NewOrder("s", BUY, D(2), order_type=STOP, stop_price=D("10.01"), account="z"),
        NewOrder("c", BUY, D(4), D("10.01"), account="x"),
        NewOrder("d", SELL, D(5), order_type=MARKET, protection=D("9.00")),
        Replace("c", quantity=D(8)),
        Cancel("a"),
    ]

    def run():
        book = make_book()
        return [book.apply(command) for command in commands], list(book.open_orders())

    assert run() == run()


def test_the_book_module_imports_nothing_from_django():
    import subprocess
    import sys

    code = (
        "import sys, apps.matching.book, apps.matching.lobster;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_triggered_stop_limit_is_restored_as_the_limit_order_it_became():
    book = make_book(last_price=D("10.00"))
    book.submit("sl", SELL, D(3), D("9.95"), order_type=STOP_LIMIT, stop_price=D("9.98"))
    book.submit("waiting", SELL, D(1), D("9.90"), order_type=STOP_LIMIT, stop_price=D("9.00"))
    rest(book, "b", BUY, "1", "9.98")
    book.submit("s", SELL, D(1), D("9.98"))
    order = book.get("sl")
    assert (order.order_type, order.stop_price, order.pending) == (STOP_LIMIT, None, False)
    resting = SelfTradePrevention.CANCEL_RESTING
    assert list(book.open_orders()) == [
        NewOrder("sl", SELL, D(3), D("9.95"), LIMIT, stp=resting),
        NewOrder("waiting", SELL, D(1), D("9.90"), STOP_LIMIT, stop_price=D("9.00"), stp=resting),
    ]


def test_restored_stops_wait_for_the_next_trade():
    book = make_book()
    book.restore(
        [NewOrder("stop", BUY, D(1), order_type=STOP, stop_price=D("9.00"))],
        last_price=D("10.00"),
    )
    assert book.get("stop").pending
    rest(book, "a1", SELL, "1", "10.00")
    rest(book, "a2", SELL, "1", "10.01")
    events = book.submit("t", BUY, D(1), D("10.00"))
    assert events[3:] == [
        Triggered("stop", D("10.00")),
        Fill("a2", "stop", D("10.01"), D(1), BUY),
        Done("a2", FILLED, D(0)),
        Done("stop", FILLED, D(0)),
    ]


def test_a_triggered_fok_stop_limit_that_cannot_fill_touches_nothing():
    book = make_book(last_price=D("10.00"))
    book.submit("sl", BUY, D(5), D("10.02"), order_type=STOP_LIMIT, stop_price=D("10.01"), tif=FOK)
    rest(book, "a1", SELL, "1", "10.01")
    rest(book, "a2", SELL, "3", "10.02")
    events = book.submit("t", BUY, D(1), D("10.01"))
    assert events[3:] == [Triggered("sl", D("10.01")), Done("sl", FOK_UNFILLED, D(5))]
    assert book.depth().asks == [DepthLevel(D("10.02"), D(3), 1)]


def test_a_waiting_stop_limit_can_take_a_new_limit_price():
    book = make_book()
    book.submit("sl", BUY, D(2), D("10.05"), order_type=STOP_LIMIT, stop_price=D("10.04"))
    assert book.replace("sl", price=D("10.06")) == [
        Replaced("sl", D("10.06"), D(2), D("10.04"), False),
        Pending("sl", D("10.04")),
    ]
    assert book.get("sl").price == D("10.06")


def test_a_market_buy_stops_at_its_protection_price():
    book = make_book()
    rest(book, "a1", SELL, "2", "10.00")
    rest(book, "a2", SELL, "2", "10.50")
    events = book.submit("m", BUY, D(4), order_type=MARKET, protection=D("10.10"))
    assert fills(events) == [("a1", "m", D("10.00"), D(2))]
    assert events[-1] == Done("m", IOC_REMAINDER, D(2))
