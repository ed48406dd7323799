"""Writes of the orders app: intake (validation, pre-trade risk, the hold), cancel, replace and
expiry. The matching pipeline (apps.matching) takes accepted orders from here.

Every function runs in one transaction. Intake and replace lock the client's row (daily limits)
and the ledger buckets they hold from; cancel, replace and expiry take the instrument's advisory
lock, the same one the matching pipeline holds while it works, so an order is never both filled
and cancelled and its hold is released exactly once.

Holds: a buy moves ``limit (or collar) x quantity + the fee`` from settled, then unsettled,
cash into reserved; a sell moves the shares from settled, then unsettled, into reserved.
``Order.reserved`` is what is still held; fills consume it and whatever is left goes back
when the order ends (to unsettled first, up to what was taken from there).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount, User
from apps.core.audit import stamp
from apps.core.errors import ApplicationError, invalid, invalid_state, permission_denied
from apps.core.queues import matching_queue
from apps.instruments.choices import InstrumentStatus, MarketState
from apps.instruments.models import Instrument
from apps.instruments.selectors import instrument_get, instrument_next_session, market_state
from apps.kyc.selectors import kyc_check_daily_limit, kyc_is_accredited
from apps.ledger.choices import Bucket
from apps.ledger.models import LedgerAccount
from apps.ledger.services import EntrySpec, journal_post_batch, ledger_account_get
from apps.orders import selectors
from apps.orders.choices import (
    OPEN_ORDER_STATUSES,
    CancelSource,
    OrderSide,
    OrderType,
    TimeInForce,
)
from apps.orders.errors import OrderErrorCode
from apps.orders.models import Order

logger = logging.getLogger("bourse.orders")

ZERO = Decimal(0)
MATCH_TASK = "apps.matching.tasks.match_instrument"
# pg_advisory_xact_lock(class, instrument id): the class keeps these keys apart from others.
BOOK_LOCK_CLASS = 7301


# --- Shared with the matching pipeline ------------------------------------------------------


def book_lock(instrument_id: int) -> None:
    """Take the instrument's book lock for the rest of the transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [BOOK_LOCK_CLASS, instrument_id])


def book_changed(instrument_id: int) -> None:
    """Invalidate the workers' cached books of an instrument (a resting order changed outside
    the pipeline)."""
    from django.apps import apps

    book_state = apps.get_model("matching", "BookState")
    updated = book_state.objects.filter(instrument_id=instrument_id).update(
        version=F("version") + 1
    )
    if not updated:
        book_state.objects.get_or_create(instrument_id=instrument_id, defaults={"version": 1})


def matching_enqueue(instrument_id: int) -> None:
    """Ask the instrument's matching queue to run once the transaction commits. A lost message
    costs a few seconds: the sweeper finds orders still waiting (``needs_match``)."""

    def send() -> None:
        try:
            current_app.tasks[MATCH_TASK].apply_async(
                args=[instrument_id], queue=matching_queue(instrument_id)
            )
        except Exception:  # the broker is down: the sweeper will retry
            logger.exception("could not enqueue matching for instrument %s", instrument_id)

    transaction.on_commit(send, robust=True)


def hold_buckets(
    *, account: TradingAccount, instrument: Instrument, side: str, lock: bool = False
) -> dict[str, LedgerAccount]:
    """The settled, unsettled and reserved ledger buckets an order of ``side`` holds from: cash
    of the account's currency for a buy, the instrument's shares for a sell. With ``lock``,
    locked (in id order, as the ledger locks) with their current balances."""
    asset: dict[str, Any] = (
        {"currency": account.currency} if side == OrderSide.BUY else {"instrument": instrument}
    )
    buckets = (Bucket.SETTLED, Bucket.UNSETTLED, Bucket.RESERVED)
    rows = LedgerAccount.objects.filter(owner=account, bucket__in=buckets, **asset)
    if lock:
        rows = rows.select_for_update().order_by("pk")
    found = {row.bucket: row for row in rows}
    if len(found) < len(buckets):
        for bucket in buckets:
            ledger_account_get(owner=account, bucket=bucket, **asset)
        return hold_buckets(account=account, instrument=instrument, side=side, lock=lock)
    return found


def hold_accounts(order: Order) -> dict[str, LedgerAccount]:
    """The ledger buckets of an order's hold (see :func:`hold_buckets`)."""
    return hold_buckets(account=order.account, instrument=order.instrument, side=order.side)


def hold_release_spec(
    order: Order, amount: Decimal, accounts: dict[str, LedgerAccount], *, why: str
) -> EntrySpec | None:
    """The entry giving ``amount`` of an order's hold back: to unsettled first, up to what the
    hold took from there, the rest to settled. Lowers ``order.reserved`` (and the unsettled
    part) in memory; the caller saves the order and posts the entry."""
    if amount <= 0:
        return None
    to_unsettled = min(amount, order.hold_from_unsettled)
    to_settled = amount - to_unsettled
    postings = [(accounts[Bucket.RESERVED], -amount)]
    if to_settled:
        postings.append((accounts[Bucket.SETTLED], to_settled))
    if to_unsettled:
        postings.append((accounts[Bucket.UNSETTLED], to_unsettled))
    order.reserved -= amount
    order.hold_from_unsettled -= to_unsettled
    return EntrySpec(
        kind="order_release",
        postings=postings,
        memo=f"Order {order.pk} {why}: hold released",
        reference=f"ORD-{order.pk}",
    )


# --- Intake ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderTerms:
    """What a client asks for, checked field by field by :func:`order_terms_check`."""

    side: str
    type: str
    quantity: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: str = TimeInForce.DAY
    expire_at: dt.datetime | None = None


@dataclass(frozen=True)
class Assessment:
    """The pre-trade view of an order: what it would hold and cost, and whether it may go.

    ``price`` is the price the hold is sized on (limit, or the market collar); ``fee`` the fee
    at that price; ``hold`` cash (buy) or shares (sell); ``buying_power_after`` for a buy.
    ``error`` is the first rule that refuses it, None when it would be accepted.
    """

    price: Decimal | None
    notional: Decimal
    fee: Decimal
    hold: Decimal
    buying_power: Decimal | None
    buying_power_after: Decimal | None
    available_quantity: Decimal | None
    queued: bool
    protection_price: Decimal | None
    expires_at: dt.datetime | None
    error: ApplicationError | None


def _refuse(code: str, message: str, **details: Any) -> ApplicationError:
    return ApplicationError(code, message, details)


def order_terms_check(*, instrument: Instrument, terms: OrderTerms, now: dt.datetime) -> None:
    """The order's own fields against each other and the instrument (400 ``invalid``)."""
    errors: dict[str, str] = {}
    if terms.side not in OrderSide.values:
        errors["side"] = "Choose buy or sell."
    if terms.type not in OrderType.values:
        errors["type"] = f"Choose one of {OrderType.values}."
    if terms.time_in_force not in TimeInForce.values:
        errors["time_in_force"] = f"Choose one of {TimeInForce.values}."
    if errors:
        raise invalid("The order is not well formed.", **errors)
    needs_limit = terms.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = terms.type in (OrderType.STOP, OrderType.STOP_LIMIT)
    if needs_limit and terms.limit_price is None:
        errors["limit_price"] = "A limit or stop-limit order needs a limit price."
    if not needs_limit and terms.limit_price is not None:
        errors["limit_price"] = f"A {terms.type} order takes no limit price."
    if needs_stop and terms.stop_price is None:
        errors["stop_price"] = "A stop order needs a stop price."
    if not needs_stop and terms.stop_price is not None:
        errors["stop_price"] = f"A {terms.type} order takes no stop price."
    if terms.time_in_force == TimeInForce.GTD:
        if terms.expire_at is None:
            errors["expire_at"] = "A GTD order needs expire_at."
        elif terms.expire_at <= now:
            errors["expire_at"] = "expire_at must be in the future."
    elif terms.expire_at is not None:
        errors["expire_at"] = "Only GTD orders take expire_at."
    if terms.type == OrderType.MARKET and terms.time_in_force in (TimeInForce.GTC, TimeInForce.GTD):
        errors["time_in_force"] = "A market order is DAY, IOC or FOK."
    if terms.quantity is None or terms.quantity <= 0:
        errors["quantity"] = "The quantity must be positive."
    elif terms.quantity < instrument.min_quantity:
        errors["quantity"] = f"The minimum quantity is {instrument.min_quantity.normalize():f}."
    elif not instrument.is_on_lot(terms.quantity):
        errors["quantity"] = f"Quantities go in steps of {instrument.lot_size.normalize():f}."
    band = instrument.price_band()
    for name in ("limit_price", "stop_price"):
        price = getattr(terms, name)
        if price is None or name in errors:
            continue
        if not instrument.is_on_tick(price):
            errors[name] = f"Prices go in steps of {instrument.tick_size.normalize():f}."
        elif band is not None and not band[0] <= price <= band[1]:
            errors[name] = f"The price must be between {band[0]:f} and {band[1]:f} today."
    if errors:
        raise invalid("The order does not fit the instrument's rules.", **errors)


def _tradable(
    *, account: TradingAccount, instrument: Instrument, terms: OrderTerms, now: dt.datetime
) -> tuple[bool, dt.datetime | None]:
    """Refuse an order the market cannot take; returns (queued for the next session, when a
    DAY or GTD order expires)."""
    if account.status not in (AccountStatus.ACTIVE, AccountStatus.RESTRICTED):
        raise _refuse(
            OrderErrorCode.INVALID_STATE,
            f"Account {account.number} is {account.status}: it cannot trade.",
            account_status=account.status,
        )
    if instrument.currency != account.currency:
        raise invalid(
            f"{instrument.symbol} trades in {instrument.currency}; "
            f"account {account.number} holds {account.currency}.",
            account="Use an account in the instrument's currency.",
        )
    if instrument.status != InstrumentStatus.LISTED:
        raise _refuse(
            OrderErrorCode.INSTRUMENT_NOT_TRADABLE,
            f"{instrument.symbol} is {instrument.status}: not open for orders.",
            symbol=instrument.symbol,
            instrument_status=instrument.status,
        )
    if instrument.accredited_only and not kyc_is_accredited(user=account.owner):
        raise _refuse(
            OrderErrorCode.INSTRUMENT_NOT_TRADABLE,
            f"{instrument.symbol} is offered to accredited investors only.",
            symbol=instrument.symbol,
            rule="accredited_only",
        )
    state = market_state(instrument=instrument, at=now)
    queued = state != MarketState.OPEN
    if queued and (
        terms.type == OrderType.MARKET or terms.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)
    ):
        raise _refuse(
            OrderErrorCode.INSTRUMENT_NOT_TRADABLE,
            f"{instrument.symbol} is not in its trading session ({state}): only limit and stop "
            "orders that can wait (DAY, GTC, GTD) are taken now.",
            symbol=instrument.symbol,
            market_state=state,
        )
    expires_at = None
    if terms.time_in_force == TimeInForce.DAY:
        expires_at = instrument_next_session(instrument=instrument, after=now).close_at
    elif terms.time_in_force == TimeInForce.GTD:
        expires_at = terms.expire_at
    return queued, expires_at


def _sizing_price(*, instrument: Instrument, terms: OrderTerms) -> tuple[Decimal, Decimal | None]:
    """(price the hold is sized on, the market collar when there is one)."""
    if terms.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return terms.limit_price, None
    basis = (
        terms.stop_price
        if terms.type == OrderType.STOP
        else selectors.best_opposite_price(instrument=instrument, side=terms.side)
    )
    if basis is None:
        basis = selectors.reference_price(instrument=instrument)
    if basis is None:
        raise _refuse(
            OrderErrorCode.INSTRUMENT_NOT_TRADABLE,
            f"{instrument.symbol} has no price to protect a market order with; use a limit order.",
            symbol=instrument.symbol,
            rule="no_reference_price",
        )
    collar = selectors.collar_price(instrument=instrument, side=terms.side, basis=basis)
    return (collar if terms.side == OrderSide.BUY else basis), collar


def order_assess(
    *,
    account: TradingAccount,
    instrument: Instrument,
    terms: OrderTerms,
    now: dt.datetime | None = None,
    used_today: Decimal | None = None,
    replacing: Order | None = None,
    balances: dict[str, Decimal] | None = None,
) -> Assessment:
    """Run every intake rule without writing anything; the first refusal is in ``error``.

    The pre-trade preview of the order ticket shows this; :func:`order_place` acts on it.
    ``replacing`` is an open order whose hold the new terms would take over.
    """
    now = now or timezone.now()
    price: Decimal | None = None
    notional = fee = hold = ZERO
    buying_power = after = available = None
    queued, expires_at, collar = False, None, None
    try:
        order_terms_check(instrument=instrument, terms=terms, now=now)
        queued, expires_at = _tradable(account=account, instrument=instrument, terms=terms, now=now)
        price, collar = _sizing_price(instrument=instrument, terms=terms)
        notional = selectors.cash_amount(price * terms.quantity, instrument.currency)
        if notional > settings.ORDER_MAX_NOTIONAL:
            raise _refuse(
                OrderErrorCode.LIMIT_EXCEEDED,
                f"Orders are capped at {settings.ORDER_MAX_NOTIONAL:f} {settings.BASE_CURRENCY} "
                "notional; split it or call the desk.",
                rule="max_order_notional",
                max_notional=f"{settings.ORDER_MAX_NOTIONAL:f}",
                notional=f"{notional:f}",
            )
        if used_today is None:
            used_today = selectors.trading_used_today(user=account.owner, now=now)
        if replacing is not None:
            used_today -= replacing.notional_estimate
        kyc_check_daily_limit(
            user=account.owner, kind="trading", amount=notional, used_today=used_today
        )
        fee = selectors.order_fee(instrument=instrument, notional=notional, quantity=terms.quantity)
        if balances is None:
            balances = _balances(account, instrument, terms.side)
        credit = replacing.reserved if replacing is not None else ZERO
        if terms.side == OrderSide.BUY:
            hold = notional + fee
            settled_only = account.status == AccountStatus.RESTRICTED
            buying_power = balances[Bucket.SETTLED] + (
                ZERO if settled_only else balances[Bucket.UNSETTLED]
            )
            buying_power = selectors.cash_amount(buying_power + credit, account.currency)
            after = buying_power - hold
            if after < 0:
                raise _refuse(
                    OrderErrorCode.INSUFFICIENT_FUNDS,
                    f"This order needs {hold:f} {account.currency} (price x quantity + fee); "
                    f"buying power is {buying_power:f}."
                    + (" The account may buy with settled cash only." if settled_only else ""),
                    required=f"{hold:f}",
                    buying_power=f"{buying_power:f}",
                    settled_cash_only=settled_only,
                )
        else:
            hold = terms.quantity
            available = (balances[Bucket.SETTLED] + balances[Bucket.UNSETTLED] + credit).normalize()
            if available < hold:
                raise _refuse(
                    OrderErrorCode.INSUFFICIENT_POSITION,
                    f"You can sell at most {available.normalize():f} {instrument.symbol} "
                    "(cash accounts cannot sell short).",
                    available=f"{available.normalize():f}",
                    requested=f"{terms.quantity.normalize():f}",
                )
        error = None
    except ApplicationError as exc:
        error = exc
    return Assessment(
        price=price,
        notional=notional,
        fee=fee,
        hold=hold,
        buying_power=buying_power,
        buying_power_after=after,
        available_quantity=available,
        queued=queued,
        protection_price=collar,
        expires_at=expires_at,
        error=error,
    )


def _balances(account: TradingAccount, instrument: Instrument, side: str) -> dict[str, Decimal]:
    lookup: dict[str, Any] = (
        {"currency": account.currency} if side == OrderSide.BUY else {"instrument": instrument}
    )
    rows = LedgerAccount.objects.filter(owner=account, **lookup).values_list("bucket", "balance")
    balances = {Bucket.SETTLED: ZERO, Bucket.UNSETTLED: ZERO, Bucket.RESERVED: ZERO}
    balances.update(dict(rows))
    return balances


def _unknown_lots(account: TradingAccount, instrument: Instrument, lot_ids: list) -> set:
    """The ``lot_ids`` that are not open lots of the account's position in the instrument."""
    from django.apps import apps

    if not lot_ids:
        return set()
    try:
        wanted = {int(i) for i in lot_ids}
    except (TypeError, ValueError):
        return set(lot_ids)
    found = set(
        apps.get_model("positions", "TaxLot")
        .objects.filter(
            pk__in=wanted,
            position__account=account,
            position__instrument=instrument,
            quantity__gt=0,
        )
        .values_list("pk", flat=True)
    )
    return wanted - found


def _next_sequence() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('orders_arrival_seq')")
        return cursor.fetchone()[0]


def _same_terms(order: Order, instrument: Instrument, terms: OrderTerms) -> bool:
    return (
        order.instrument_id == instrument.pk
        and order.side == terms.side
        and order.type == terms.type
        and order.quantity == terms.quantity
        and order.limit_price == terms.limit_price
        and order.stop_price == terms.stop_price
        and order.time_in_force == terms.time_in_force
    )


def _take_hold(order: Order, accounts: dict[str, LedgerAccount], amount: Decimal) -> list:
    """Move ``amount`` more into the order's hold, settled first (in memory: the postings of
    the entry, and the order's hold fields). ``accounts`` are the hold's buckets, locked by
    :func:`hold_buckets` with their balances. Raises ``insufficient_funds`` /
    ``insufficient_position`` when settled + unsettled fall short (a restricted account buys
    from settled cash only)."""
    settled = accounts[Bucket.SETTLED].balance
    unsettled = accounts[Bucket.UNSETTLED].balance
    if order.side == OrderSide.BUY and order.account.status == AccountStatus.RESTRICTED:
        unsettled = ZERO
    if settled + unsettled < amount:
        buy = order.side == OrderSide.BUY
        raise _refuse(
            OrderErrorCode.INSUFFICIENT_FUNDS if buy else OrderErrorCode.INSUFFICIENT_POSITION,
            "Not enough buying power for this order." if buy else "Not enough shares to sell.",
            required=f"{amount.normalize():f}",
            available=f"{(settled + unsettled).normalize():f}",
        )
    from_settled = min(settled, amount)
    from_unsettled = amount - from_settled
    postings = [(accounts[Bucket.RESERVED], amount)]
    if from_settled:
        postings.append((accounts[Bucket.SETTLED], -from_settled))
    if from_unsettled:
        postings.append((accounts[Bucket.UNSETTLED], -from_unsettled))
    order.reserved += amount
    order.hold_total += amount
    order.hold_from_unsettled += from_unsettled
    return postings


def _hold_entry(order: Order, postings: list) -> EntrySpec:
    return EntrySpec(
        kind="order_hold",
        postings=postings,
        memo=f"Order {order.pk}: {'cash' if order.is_buy else 'shares'} reserved",
        reference=f"ORD-{order.pk}",
    )


def order_place(
    *,
    account: TradingAccount,
    symbol: str | None = None,
    instrument: Instrument | None = None,
    side: str,
    type: str,
    quantity: Decimal,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    time_in_force: str = TimeInForce.DAY,
    expire_at: dt.datetime | None = None,
    client_order_id: str | None = None,
    lot_ids: list[int] | None = None,
    actor: User | None = None,
) -> tuple[Order, bool]:
    """Accept an order: validate, check pre-trade risk, reserve its hold, queue it for matching.

    Returns (order, created). The same ``client_order_id`` with the same terms returns the
    first order (created False); with other terms it is ``idempotency_conflict``. Raises the
    API.md codes: ``invalid``, ``invalid_state`` (account not trading), ``kyc_required``,
    ``limit_exceeded`` (fat-finger cap, daily tier limit), ``instrument_not_tradable``,
    ``insufficient_funds``, ``insufficient_position``.
    """
    if instrument is None:
        instrument = instrument_get(symbol=symbol or "")
    else:  # its status now, not when the caller loaded it
        instrument = Instrument.objects.select_related("calendar").get(pk=instrument.pk)
    terms = OrderTerms(
        side=side,
        type=type,
        quantity=quantity,
        limit_price=limit_price,
        stop_price=stop_price,
        time_in_force=time_in_force,
        expire_at=expire_at,
    )
    now = timezone.now()
    with transaction.atomic():
        # One order at a time per client (the daily limit counts all the owner's accounts):
        # lock the owner's row while reading the account. FOR NO KEY UPDATE, so rows that
        # merely reference the user (history rows of a concurrent cancel) do not wait on it.
        account = (
            TradingAccount.objects.select_for_update(of=("owner",), no_key=True)
            .select_related("owner")
            .get(pk=account.pk)
        )
        if client_order_id:
            existing = Order.objects.filter(
                account=account, client_order_id=client_order_id
            ).first()
            if existing is not None:
                if not _same_terms(existing, instrument, terms):
                    raise _refuse(
                        OrderErrorCode.IDEMPOTENCY_CONFLICT,
                        "client_order_id was used for a different order on this account.",
                        client_order_id=client_order_id,
                        order_id=existing.pk,
                    )
                return existing, False
        buckets = hold_buckets(account=account, instrument=instrument, side=side, lock=True)
        assessment = order_assess(
            account=account,
            instrument=instrument,
            terms=terms,
            now=now,
            balances={bucket: row.balance for bucket, row in buckets.items()},
        )
        if assessment.error is not None:
            raise assessment.error
        if lot_ids and side != OrderSide.SELL:
            raise invalid("Only a sell order relieves specific lots.", lot_ids="Sell orders only.")
        unknown = _unknown_lots(account, instrument, lot_ids or [])
        if unknown:
            raise invalid(
                "Some lots are not open lots of this position.",
                lot_ids=f"Unknown or closed lots: {sorted(unknown)}.",
            )
        order = Order(
            account=account,
            instrument=instrument,
            side=side,
            type=type,
            quantity=quantity,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            expire_at=expire_at,
            expires_at=assessment.expires_at,
            client_order_id=client_order_id or None,
            sequence=_next_sequence(),
            notional_estimate=assessment.notional,
            protection_price=assessment.protection_price,
            lot_ids=list(lot_ids or []),
            placed_by=actor if actor is not None and actor.is_authenticated else None,
        )
        postings = _take_hold(order, buckets, assessment.hold)
        stamp(order, actor=actor, reason="placed")
        order.save()
        journal_post_batch(entries=[_hold_entry(order, postings)])
        matching_enqueue(instrument.pk)
    return order, True


# --- Cancel, replace, expiry ----------------------------------------------------------------


def _locked_open_order(order_id: int) -> Order:
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("account", "instrument")
        .get(pk=order_id)
    )
    if order.status not in OPEN_ORDER_STATUSES:
        raise invalid_state(
            f"Order {order.pk} is already {order.status}.", order_id=order.pk, status=order.status
        )
    return order


def _end(order: Order, *, how: str, source: str, reason: str, now: dt.datetime) -> EntrySpec | None:
    """End an open order (cancel or expire) in memory; returns the entry releasing its hold."""
    getattr(order, how)()
    order.cancel_source = source
    order.status_reason = reason
    order.done_at = now
    order.needs_match = False
    return hold_release_spec(order, order.reserved, hold_accounts(order), why=how + "led")


def order_cancel(
    *, order: Order, actor: User | None, reason: str = "", staff: bool = False
) -> Order:
    """Cancel an open order and release what is left of its hold. ``invalid_state`` (409) when
    it is already final. Staff cancels need the ``orders.cancel_any_order`` permission and a
    reason."""
    if staff:
        if actor is None or not actor.has_perm("orders.cancel_any_order"):
            raise permission_denied("Cancelling a client's order needs the orders desk role.")
        if not (reason or "").strip():
            raise invalid("Give a reason.", reason="Required for a staff cancel.")
    now = timezone.now()
    with transaction.atomic():
        book_lock(order.instrument_id)
        order = _locked_open_order(order.pk)
        was_on_book = not order.needs_match
        release = _end(
            order,
            how="cancel",
            source=CancelSource.STAFF if staff else CancelSource.CLIENT,
            reason=reason or "Cancelled by the client.",
            now=now,
        )
        stamp(order, actor=actor, reason=reason or "cancelled")
        order.save()
        if release is not None:
            journal_post_batch(entries=[release])
        if was_on_book:
            book_changed(order.instrument_id)
        _published(order)
    return order


def order_replace(
    *,
    order: Order,
    actor: User | None,
    quantity: Decimal | None = None,
    limit_price: Decimal | None = None,
) -> Order:
    """Change an open order's total quantity and/or limit price.

    Lowering the quantity at the same price keeps its time priority; anything else gives it a
    new arrival sequence and sends it through matching again (it may trade at once). The hold
    follows the new terms: more is reserved first (refused with the intake codes if the
    client cannot afford it), or the excess is released. A quantity at or below what already
    filled is ``invalid``: cancel instead.
    """
    now = timezone.now()
    with transaction.atomic():
        book_lock(order.instrument_id)
        User.objects.select_for_update(no_key=True).only("pk").get(pk=order.account.owner_id)
        order = _locked_open_order(order.pk)
        new_quantity = order.quantity if quantity is None else quantity
        new_limit = order.limit_price if limit_price is None else limit_price
        if limit_price is not None and order.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            raise invalid("Only limit and stop-limit orders have a limit price to change.")
        if new_quantity <= order.filled_quantity:
            raise invalid(
                "The new quantity must be above what has filled; cancel the order instead.",
                quantity=f"More than {order.filled_quantity.normalize():f}.",
            )
        if new_quantity == order.quantity and new_limit == order.limit_price:
            return order
        terms = OrderTerms(
            side=order.side,
            type=order.type,
            quantity=new_quantity - order.filled_quantity,
            limit_price=new_limit,
            stop_price=order.stop_price,
            time_in_force=order.time_in_force,
            expire_at=order.expire_at if order.time_in_force == TimeInForce.GTD else None,
        )
        assessment = order_assess(
            account=order.account,
            instrument=order.instrument,
            terms=terms,
            now=now,
            replacing=order,
        )
        if assessment.error is not None:
            raise assessment.error
        keeps_priority = new_limit == order.limit_price and new_quantity < order.quantity
        accounts = hold_buckets(
            account=order.account, instrument=order.instrument, side=order.side, lock=True
        )
        entries = []
        if assessment.hold > order.reserved:
            postings = _take_hold(order, accounts, assessment.hold - order.reserved)
            entries.append(_hold_entry(order, postings))
        elif assessment.hold < order.reserved:
            release = hold_release_spec(
                order, order.reserved - assessment.hold, accounts, why="replaced"
            )
            entries.append(release)
        was_on_book = not order.needs_match
        order.quantity = new_quantity
        order.limit_price = new_limit
        order.notional_estimate = assessment.notional + selectors.cash_amount(
            (order.average_price or ZERO) * order.filled_quantity, order.instrument.currency
        )
        if not keeps_priority:
            order.sequence = _next_sequence()
            order.needs_match = True
            order.book_priority = None
        stamp(order, actor=actor, reason="replaced")
        order.save()
        journal_post_batch(entries=entries)
        if was_on_book:
            book_changed(order.instrument_id)
        if order.needs_match:
            matching_enqueue(order.instrument_id)
        _published(order)
    return order


def orders_expire_due(*, now: dt.datetime | None = None, limit: int = 2000) -> int:
    """Expire open DAY orders past their session's close and GTD orders past expire_at,
    releasing their holds; one transaction per instrument. Returns how many expired."""
    now = now or timezone.now()
    due = (
        Order.objects.filter(status__in=OPEN_ORDER_STATUSES, expires_at__lte=now)
        .order_by("instrument_id")
        .values_list("instrument_id", flat=True)
        .distinct()
    )
    expired = 0
    for instrument_id in list(due)[:limit]:
        with transaction.atomic():
            book_lock(instrument_id)
            orders = list(
                Order.objects.select_for_update(of=("self",))
                .select_related("account", "instrument")
                .filter(
                    instrument_id=instrument_id,
                    status__in=OPEN_ORDER_STATUSES,
                    expires_at__lte=now,
                )
                .order_by("pk")
            )
            entries = []
            on_book = False
            for order in orders:
                on_book = on_book or not order.needs_match
                release = _end(
                    order,
                    how="expire",
                    source=CancelSource.EXPIRY,
                    reason="Time in force ended.",
                    now=now,
                )
                stamp(order, reason="expired")
                order.save()
                if release is not None:
                    entries.append(release)
                _published(order)
            journal_post_batch(entries=entries)
            if on_book:
                book_changed(instrument_id)
            expired += len(orders)
    return expired


def _published(order: Order) -> None:
    """Tell the client's open sessions the order changed (after commit)."""
    from apps.orders.signals import order_changed

    order_changed.send(sender=Order, orders=[order])


# --- Splits (corporate actions) -------------------------------------------------------------
# A split changes what every open order of the instrument means. By policy the order is either
# adjusted (limit and stop prices divided by the ratio, rounded to the tick so the order is
# never more aggressive than before: a buy's limit down, a sell's up, stops the other way; the
# unfilled quantity multiplied and rounded down to the lot; what has filled stays as it traded;
# time priority kept) or cancelled with its hold released. A buy's cash hold shrinks to what the
# adjusted order needs; if it would need more (a per-share fee on more shares), the hold stays
# and the firm absorbs the difference, as the matching pipeline's rounding guard does.


@dataclass(frozen=True)
class OrderSplitTerms:
    """An open order on the post-split basis, or why it is cancelled instead."""

    cancel: bool
    why: str = ""
    quantity: Decimal = ZERO
    leaves: Decimal = ZERO
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    protection_price: Decimal | None = None


def _split_step(value: Any, step: Decimal, *, up: bool) -> Decimal:
    """``value`` (a Fraction) rounded to a multiple of ``step``, up or down."""
    import math
    from fractions import Fraction

    units = value / Fraction(step)
    return Decimal(math.ceil(units) if up else math.floor(units)) * step


def order_split_terms(
    *, order: Order, ratio: Any, tick_size: Decimal, lot_size: Decimal, policy: str
) -> OrderSplitTerms:
    """What ``order`` becomes in a split of ``ratio`` (a Fraction: new shares per old share)
    under ``policy`` ("adjust" or "cancel"). Pure: reads the order, writes nothing."""
    from fractions import Fraction

    if policy != "adjust":
        return OrderSplitTerms(cancel=True, why="open orders are cancelled for this split")
    if order.type == OrderType.MARKET:
        return OrderSplitTerms(cancel=True, why="market orders are not carried over a split")
    leaves = _split_step(
        Fraction(order.quantity - order.filled_quantity) * ratio, lot_size, up=False
    )
    if leaves <= 0:
        return OrderSplitTerms(cancel=True, why="less than one lot is left after the split")
    buy = order.side == OrderSide.BUY

    def price(value: Decimal | None, *, up: bool) -> Decimal | None:
        if value is None:
            return None
        return _split_step(Fraction(value) / ratio, tick_size, up=up)

    limit = price(order.limit_price, up=not buy)
    stop = price(order.stop_price, up=buy)
    protection = price(order.protection_price, up=not buy)
    if any(p is not None and p <= 0 for p in (limit, stop, protection)):
        return OrderSplitTerms(cancel=True, why="its price is below one tick after the split")
    return OrderSplitTerms(
        cancel=False,
        quantity=order.filled_quantity + leaves,
        leaves=leaves,
        limit_price=limit,
        stop_price=stop,
        protection_price=protection,
    )


@dataclass
class SplitOrdersResult:
    """What :func:`orders_split_adjust` changed. ``entries`` are ledger entries the caller
    posts first in its batch (cash holds shrunk, holds of cancelled orders released);
    ``share_holds`` are, per account, the change of its reserved shares and of the part of
    them taken from unsettled shares, for the caller to book with the split's own entry."""

    adjusted: list[Order]
    cancelled: list[Order]
    entries: list[EntrySpec]
    share_holds: dict[int, tuple[Decimal, Decimal]]


def orders_split_adjust(
    *,
    instrument: Instrument,
    ratio: Any,
    tick_size: Decimal,
    policy: str,
    reference: str,
    reason: str,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> SplitOrdersResult:
    """Adjust or cancel (by ``policy``) every open order of ``instrument`` for a split of
    ``ratio`` new shares per old share (see :func:`order_split_terms`).

    Runs in the caller's transaction, which holds :func:`book_lock` for the instrument and
    posts ``entries`` before its own. Invalidates the workers' cached books, puts the book's
    last price on the new basis, and tells clients about every order changed.
    """
    from dataclasses import replace

    from django.apps import apps

    now = now or timezone.now()
    orders = list(
        Order.objects.select_for_update()
        .select_related("account", "instrument")
        .filter(instrument=instrument, status__in=OPEN_ORDER_STATUSES)
        .order_by("pk")
    )
    schedules = selectors.fee_schedules()
    result = SplitOrdersResult(adjusted=[], cancelled=[], entries=[], share_holds={})
    for order in orders:
        terms = order_split_terms(
            order=order,
            ratio=ratio,
            tick_size=tick_size,
            lot_size=instrument.lot_size,
            policy=policy,
        )
        if terms.cancel:
            release = _end(
                order,
                how="cancel",
                source=CancelSource.STAFF,
                reason=f"{reason}: {terms.why}.",
                now=now,
            )
            if release is not None:
                result.entries.append(
                    replace(release, idempotency_key=f"order:{order.pk}:{reference}:cancel")
                )
            result.cancelled.append(order)
            stamp(order, actor=actor, reason=f"{reason}: cancelled, {terms.why}")
        else:
            order.quantity = terms.quantity
            order.limit_price = terms.limit_price
            order.stop_price = terms.stop_price
            order.protection_price = terms.protection_price
            if order.side == OrderSide.BUY:
                sizing = (
                    terms.limit_price
                    if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
                    else terms.protection_price
                )
                notional = selectors.cash_amount(sizing * terms.leaves, instrument.currency)
                need = notional + selectors.order_fee(
                    instrument=instrument,
                    notional=notional,
                    quantity=terms.leaves,
                    schedules=schedules,
                )
                if need < order.reserved:
                    release = hold_release_spec(
                        order, order.reserved - need, hold_accounts(order), why="adjusted"
                    )
                    result.entries.append(
                        replace(
                            release,
                            memo=f"Order {order.pk} adjusted for a split: hold reduced",
                            idempotency_key=f"order:{order.pk}:{reference}:adjust",
                        )
                    )
            else:
                held, from_unsettled = order.reserved, order.hold_from_unsettled
                order.reserved = terms.leaves
                order.hold_total += order.reserved - held
                order.hold_from_unsettled = min(from_unsettled, order.reserved)
                reserved_change, unsettled_change = result.share_holds.get(
                    order.account_id, (ZERO, ZERO)
                )
                result.share_holds[order.account_id] = (
                    reserved_change + order.reserved - held,
                    unsettled_change + from_unsettled - order.hold_from_unsettled,
                )
            result.adjusted.append(order)
            stamp(order, actor=actor, reason=f"{reason}: adjusted")
        order.save()
        _published(order)
    book_changed(instrument.pk)
    book_state = apps.get_model("matching", "BookState")
    state = book_state.objects.select_for_update().filter(instrument_id=instrument.pk).first()
    if state is not None and state.last_price is not None:
        from fractions import Fraction

        state.last_price = _split_step(Fraction(state.last_price) / ratio, tick_size, up=False)
        if state.last_quantity is not None:
            state.last_quantity = _split_step(
                Fraction(state.last_quantity) * ratio, instrument.lot_size, up=False
            )
        state.save(update_fields=["last_price", "last_quantity", "updated_at"])
    return result
