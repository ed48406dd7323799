"""Writes of the settlement app: the instructions each fill creates (settlement runs come
with the settlement desk's work)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apps.settlement.models import SettlementInstruction


def instructions_create(*, fills: Sequence[Any], currency: str) -> list[SettlementInstruction]:
    """One pending instruction per fill, in bulk, inside the matching batch's transaction.

    A buy receives the shares and pays the notional and its fee; a sell delivers the shares
    and receives the notional less its fee. Quantities and cash are signed from the account's
    side."""
    rows = []
    for fill in fills:
        buy = fill.side == "buy"
        rows.append(
            SettlementInstruction(
                trade_id=fill.trade_id,
                fill_id=fill.pk,
                account_id=fill.account_id,
                instrument_id=fill.instrument_id,
                side=fill.side,
                quantity=fill.quantity if buy else -fill.quantity,
                cash_amount=-(fill.notional + fill.fee) if buy else fill.notional - fill.fee,
                currency=currency,
                trade_date=fill.trade_date,
                settlement_date=fill.settlement_date,
            )
        )
    return SettlementInstruction.objects.bulk_create(rows)
