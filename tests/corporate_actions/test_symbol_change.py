"""Symbol changes: same instrument, same positions, orders and history; the old symbol kept."""

from __future__ import annotations

import pytest

from apps.core.errors import ApplicationError
from apps.instruments import selectors, services
from apps.instruments.models import Instrument
from apps.positions.models import Position
from tests.corporate_actions.conftest import assert_books_clean, today
from tests.factories import trading

pytestmark = pytest.mark.django_db


def _rename(instrument, actor, new_symbol: str, **kw):
    return services.corporate_action_declare(
        actor=actor,
        instrument=instrument,
        kind="symbol_change",
        new_symbol=new_symbol,
        effective_date=today(),
        **kw,
    )


def test_a_symbol_change_keeps_the_instrument_and_its_positions(ops, ops2):
    instrument = trading.open_instrument(symbol="FBK")
    holder, other = trading.trader(), trading.trader()
    trading.shares(holder, instrument, 40)
    order = trading.place(holder, instrument, "sell", 10, "105.00")
    trading.match(instrument)
    action = _rename(instrument, ops, "meta", new_name="Meta Platforms, Inc.")
    assert action.new_symbol == "META" and action.old_symbol == "FBK"

    action = services.corporate_action_approve(action=action, actor=ops2, reason="Checked")
    action = services.corporate_action_process(action=action, actor=ops2)

    renamed = selectors.instrument_get(symbol="META")
    assert renamed.pk == instrument.pk and renamed.name == "Meta Platforms, Inc."
    assert not Instrument.objects.filter(symbol="FBK").exists()
    assert action.old_symbol == "FBK" and action.summary["old_symbol"] == "FBK"
    assert Position.objects.get(account=holder).instrument_id == instrument.pk
    assert Position.objects.get(account=holder).quantity == 40
    order.refresh_from_db()
    assert order.status == "accepted" and order.instrument_id == instrument.pk
    # The history keeps the old symbol, and the action is found under either symbol.
    symbols = list(renamed.history.order_by("history_id").values_list("symbol", flat=True))
    assert symbols[0] == "FBK" and symbols[-1] == "META"
    assert list(selectors.corporate_actions_backoffice(symbol="FBK")) == [action]
    assert list(selectors.corporate_actions_backoffice(symbol="META")) == [action]
    # Trading goes on under the new symbol.
    trading.place(other, renamed, "buy", 10, "105.00")
    assert trading.match(renamed).trades == 1
    assert_books_clean()


def test_a_symbol_in_use_is_refused(ops, ops2):
    instrument = trading.open_instrument(symbol="OLDCO")
    trading.open_instrument(symbol="TAKEN")
    with pytest.raises(ApplicationError) as refused:
        _rename(instrument, ops, "TAKEN")
    assert "new_symbol" in refused.value.details
    action = _rename(instrument, ops, "NEWCO")
    action = services.corporate_action_approve(action=action, actor=ops2, reason="Checked")
    trading.open_instrument(symbol="NEWCO")  # listed meanwhile
    with pytest.raises(ApplicationError) as refused:
        services.corporate_action_process(action=action, actor=ops2)
    assert refused.value.code == "invalid_state"
    assert Instrument.objects.get(pk=instrument.pk).symbol == "OLDCO"
