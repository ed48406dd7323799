"""market_data_apply: what the matching pipeline calls after each committed batch."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import transaction

from apps.marketdata import services, snapshots
from apps.marketdata.feed import BookTop, TradePrint
from apps.marketdata.models import MarketState, QuoteTick, TradeTick
from tests.factories.marketdata import T0, book, trade

pytestmark = pytest.mark.django_db


def apply(instrument, trades=(), top=None):
    return services.market_data_apply(instrument=instrument, trades=list(trades), book=top)


def test_prints_become_ticks_numbered_in_the_trades_stream(instrument):
    result = apply(instrument, [trade("100.00", 5), trade("100.50", 3, seconds=1)])
    assert result.recorded == 2
    ticks = list(TradeTick.objects.filter(instrument=instrument).order_by("seq"))
    assert [(t.price, t.quantity, t.seq) for t in ticks] == [
        (Decimal("100.00"), Decimal(5), 1),
        (Decimal("100.50"), Decimal(3), 2),
    ]
    apply(instrument, [trade("101.00", 1, seconds=2)])
    assert MarketState.objects.get(pk=instrument.pk).trades_seq == 3


def test_a_replayed_batch_changes_nothing(instrument, django_capture_on_commit_callbacks):
    batch = [trade("100.00", 5), trade("99.00", 5, seconds=1)]
    first = apply(instrument, batch, book([("98.99", "10")], [("100.01", "7")], version=4))
    before = MarketState.objects.get(pk=instrument.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        again = apply(instrument, batch, book([("98.99", "10")], [("100.01", "7")], version=4))
    after = MarketState.objects.get(pk=instrument.pk)
    assert first.recorded == 2 and again.recorded == 0
    assert not again.quote_changed and not again.depth_changed
    assert TradeTick.objects.filter(instrument=instrument).count() == 2
    assert (after.volume, after.trades_seq, after.quote_seq, after.depth_seq) == (
        before.volume,
        before.trades_seq,
        before.quote_seq,
        before.depth_seq,
    )
    assert len(callbacks) == 1  # the (empty) after-commit update publishes nothing


def test_the_day_statistics_and_change_against_the_previous_close(instrument):
    apply(instrument, [trade("100.00", 10, at=T0 - timedelta(days=1))])  # the previous session
    apply(
        instrument,
        [trade("101.00", 2), trade("103.50", 1, seconds=1), trade("102.00", 4, seconds=2)],
    )
    state = MarketState.objects.get(pk=instrument.pk)
    assert state.trading_day == T0.date()
    assert state.previous_close == Decimal("100.00")
    assert (state.open, state.high, state.low, state.last) == (
        Decimal("101.00"),
        Decimal("103.50"),
        Decimal("101.00"),
        Decimal("102.00"),
    )
    assert state.volume == Decimal(7) and state.trade_count == 3
    assert state.change == Decimal("2.00")
    assert state.change_percent == Decimal("2.0000")


def test_a_late_print_of_an_earlier_session_stays_out_of_todays_quote(instrument):
    apply(instrument, [trade("50.00", 1)])
    apply(instrument, [trade("10.00", 1, at=T0 - timedelta(days=1))])
    state = MarketState.objects.get(pk=instrument.pk)
    assert (state.last, state.low, state.volume) == (Decimal("50.00"), Decimal("50.00"), 1)
    assert TradeTick.objects.filter(instrument=instrument).count() == 2


def test_previous_close_is_read_from_the_instrument_master_when_it_has_one(instrument):
    # The instrument master may add previous_close / reference_price; read them when present.
    instrument.previous_close = Decimal("80.00")
    apply(instrument, [trade("88.00", 1)])
    state = MarketState.objects.get(pk=instrument.pk)
    assert state.previous_close == Decimal("80.00")
    assert state.change_percent == Decimal("10.0000")


def test_without_any_history_the_reference_price_is_the_base(instrument):
    instrument.reference_price = Decimal("40.00")
    apply(instrument, [trade("42.00", 1)])
    assert MarketState.objects.get(pk=instrument.pk).previous_close == Decimal("40.00")


def test_the_book_top_sets_quote_and_depth_and_records_a_quote_tick(instrument):
    result = apply(
        instrument,
        top=book([("99.98", "300"), ("99.97", "100")], [("100.02", "250")], version=1, as_of=T0),
    )
    assert result.quote_changed and result.depth_changed
    state = MarketState.objects.get(pk=instrument.pk)
    assert (state.bid, state.bid_size, state.ask, state.ask_size) == (
        Decimal("99.98"),
        Decimal(300),
        Decimal("100.02"),
        Decimal(250),
    )
    assert state.depth == {
        "bids": [["99.98", "300"], ["99.97", "100"]],
        "asks": [["100.02", "250"]],
    }
    tick = QuoteTick.objects.get(instrument=instrument)
    assert (tick.time, tick.bid, tick.ask) == (T0, Decimal("99.98"), Decimal("100.02"))

    # Deeper levels change, the top does not: depth moves, no new quote tick.
    second = apply(instrument, top=book([("99.98", "300")], [("100.02", "250")], version=2))
    assert second.depth_changed and not second.quote_changed
    assert QuoteTick.objects.filter(instrument=instrument).count() == 1


def test_an_older_book_never_replaces_a_newer_one(instrument):
    apply(instrument, top=book([("10.00", "1")], [("10.10", "1")], version=5))
    stale = apply(instrument, top=book([("9.00", "1")], [("9.10", "1")], version=4))
    assert not stale.depth_changed
    assert MarketState.objects.get(pk=instrument.pk).bid == Decimal("10.00")
    # Without versions, the instant decides.
    apply(instrument, top=book([("10.00", "1")], [("10.10", "2")], as_of=T0))
    older = apply(instrument, top=book([("8.00", "1")], [("8.10", "2")], as_of=T0 - timedelta(1)))
    assert not older.depth_changed


def test_after_commit_the_cache_holds_the_new_quote_depth_and_prints(
    instrument, django_capture_on_commit_callbacks
):
    snapshots.prints(instrument)  # a reader has primed the prints list
    with django_capture_on_commit_callbacks(execute=True):
        apply(
            instrument,
            [trade("100.00", 5, trade_id="A1"), trade("100.25", 2, seconds=1, trade_id="A2")],
            book([("100.00", "10")], [("100.50", "4")], version=1),
        )
    quote = cache.get(snapshots.QUOTE.format(instrument.pk))
    assert quote["last"] == "100.25" and quote["bid"] == "100.00" and quote["ask"] == "100.50"
    assert quote["volume"] == "7" and quote["seq"] == 1
    depth = cache.get(snapshots.DEPTH.format(instrument.pk))
    assert depth["asks"] == [["100.50", "4"]]
    prints = cache.get(snapshots.PRINTS.format(instrument.pk))
    assert [p["trade_id"] for p in prints] == ["A2", "A1"]


def test_it_refuses_to_run_inside_the_pipelines_transaction(instrument):
    with pytest.raises(RuntimeError), transaction.atomic():
        apply(instrument, [trade("1.00")])


def test_bad_input_fails_where_it_is_made():
    with pytest.raises(TypeError):
        TradePrint("X", 1.5, Decimal(1), "buy", T0)  # a float price
    with pytest.raises(ValueError, match="timezone-aware"):
        TradePrint("X", Decimal(1), Decimal(1), "buy", T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="aggressor_side"):
        TradePrint("X", Decimal(1), Decimal(1), "short", T0)
    with pytest.raises(ValueError, match="positive"):
        TradePrint("X", Decimal(0), Decimal(1), "buy", T0)
    with pytest.raises(ValueError, match="best"):
        BookTop(bids=((Decimal(1), Decimal(1)), (Decimal(2), Decimal(1))))


def test_prints_and_tops_survive_a_trip_through_a_task():
    original = trade("12.34", "0.5")
    assert TradePrint.from_json(original.to_json()) == original
    top = book([("1.00", "2")], [("1.01", "3")], version=9, as_of=T0)
    assert BookTop.from_json(top.to_json()) == top


def test_the_outbox_task_applies_a_serialised_batch(instrument):
    from apps.marketdata.tasks import market_data_apply as task

    recorded = task.apply(
        args=[instrument.pk, [trade("7.00", 3).to_json()]],
        kwargs={"book": book([("6.99", "1")], []).to_json()},
        throw=True,
    ).get()
    assert recorded == 1
    assert MarketState.objects.get(pk=instrument.pk).bid == Decimal("6.99")
