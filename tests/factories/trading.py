"""Trading through the real services: instruments open around the clock, funded accounts,
shares received by transfer, orders placed and matched."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.accounts.models import TradingAccount
from apps.instruments.models import Instrument
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.services import journal_post, ledger_account_get
from apps.matching import services as matching
from apps.orders import services as orders
from apps.orders.models import Order
from apps.positions.models import LotSource
from apps.positions.services import PositionChange, positions_apply
from tests.factories.instruments import InstrumentFactory
from tests.factories.ledger import funded_account


def open_instrument(**fields: Any) -> Instrument:
    """A listed equity on the round-the-clock calendar: its market is always open."""
    fields.setdefault("calendar", "24x7")
    return InstrumentFactory(**fields)


def shares(
    account: TradingAccount,
    instrument: Instrument,
    quantity: Any,
    *,
    cost: Any = None,
    acquired_on: dt.date | None = None,
) -> None:
    """Give ``account`` settled shares from custody with a tax lot (a transfer in)."""
    quantity = Decimal(str(quantity))
    cost = Decimal(str(cost)) if cost is not None else quantity * instrument.reference_price
    journal_post(
        kind="securities_transfer",
        postings=[
            (
                ledger_account_get(
                    house=HouseAccount.CUSTODY, instrument=instrument, bucket=Bucket.SETTLED
                ),
                -quantity,
            ),
            (
                ledger_account_get(owner=account, instrument=instrument, bucket=Bucket.SETTLED),
                quantity,
            ),
        ],
        memo="test transfer in",
    )
    positions_apply(
        changes=[
            PositionChange(
                account_id=account.pk,
                instrument_id=instrument.pk,
                side="buy",
                quantity=quantity,
                amount=cost,
                on=acquired_on or timezone.localdate(),
                source=LotSource.TRANSFER_IN,
            )
        ]
    )
    from apps.positions.services import positions_settle

    positions_settle(quantities={(account.pk, instrument.pk): quantity})


def trader(cash: Any = "100000.00", **kwargs: Any) -> TradingAccount:
    return funded_account(cash, **kwargs)


def place(
    account: TradingAccount,
    instrument: Instrument,
    side: str,
    quantity: Any,
    price: Any = None,
    **kwargs: Any,
) -> Order:
    kwargs.setdefault("type", "limit" if price is not None else "market")
    kwargs.setdefault("time_in_force", "gtc" if price is not None else "ioc")
    order, _ = orders.order_place(
        account=account,
        instrument=instrument,
        side=side,
        quantity=Decimal(str(quantity)),
        limit_price=Decimal(str(price)) if price is not None else None,
        **kwargs,
    )
    return order


def match(instrument: Instrument) -> matching.BatchResult:
    return matching.match_instrument(instrument_id=instrument.pk)
