"""Reads of the instruments app: instruments, market state, sessions and business days.

These are the functions order intake, settlement and the portal call:

* :func:`instrument_get` (``not_found`` when absent), :func:`instruments_list`;
* :func:`market_state` (closed | pre_open | open | halted) of an instrument at an instant;
* :func:`next_session`, :func:`session_on`, :func:`is_business_day`, :func:`add_business_days`,
  :func:`trade_date`, :func:`settlement_date` on a trading calendar;
* :func:`instrument_check_order_terms` for an order's quantity and price.

Schedules are cached per process by (calendar, rules_version), so asking for the market state
of a page of instruments costs no query beyond loading them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field as dc_field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from apps.core.errors import ApplicationError, ErrorCode, invalid, not_found
from apps.instruments.choices import InstrumentStatus, MarketState
from apps.instruments.models import CalendarClosure, Instrument, InstrumentHalt, TradingCalendar
from apps.instruments.schedule import Closure, Schedule, Session

# --- Calendars ------------------------------------------------------------------------------


@lru_cache(maxsize=128)
def _closures(calendar_pk: int, rules_version: object) -> dict[dt.date, Closure]:
    rows = CalendarClosure.objects.filter(calendar_id=calendar_pk).values_list(
        "date", "kind", "description", "open_time", "close_time"
    )
    return {
        day: Closure(kind=kind, reason=reason, open_time=o, close_time=c, staff=True)
        for day, kind, reason, o, c in rows
    }


def schedule_for(calendar: TradingCalendar) -> Schedule:
    """The session arithmetic of ``calendar`` with its staff closures (cached per version)."""
    return Schedule(
        zone=ZoneInfo(calendar.timezone),
        trading_weekdays=calendar.trading_weekdays,
        round_the_clock=calendar.round_the_clock,
        open_time=calendar.open_time,
        close_time=calendar.close_time,
        pre_open_time=calendar.pre_open_time,
        early_close_time=calendar.early_close_time,
        holiday_source=calendar.holiday_source,
        closures=_closures(calendar.pk, calendar.rules_version),
    )


def calendar_get(*, code: str) -> TradingCalendar:
    calendar = TradingCalendar.objects.filter(code__iexact=(code or "").strip()).first()
    if calendar is None:
        raise not_found(f"No trading calendar {code!r}.")
    return calendar


def calendars_list() -> QuerySet[TradingCalendar]:
    return TradingCalendar.objects.order_by("code")


def is_business_day(*, calendar: TradingCalendar, day: dt.date) -> bool:
    """Whether ``day`` is a trading day of ``calendar`` (early closes count)."""
    return schedule_for(calendar).is_business_day(day)


def add_business_days(*, calendar: TradingCalendar, start: dt.date, days: int) -> dt.date:
    """The date ``days`` business days of ``calendar`` after ``start`` (T+n).

    Negative ``days`` count back. ``start`` need not be a business day; ``days == 0`` gives
    ``start`` when it is one, else the next business day.
    """
    return schedule_for(calendar).add_business_days(start, days)


def session_on(*, calendar: TradingCalendar, day: dt.date) -> Session | None:
    """The session on an exchange-zone date (open, close, pre-open in UTC), or None."""
    return schedule_for(calendar).session(day)


def next_session(
    *, calendar: TradingCalendar, after: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """(open_at, close_at) in UTC of the session in progress at ``after``, else the next one."""
    session = schedule_for(calendar).next_session(after)
    return session.open_at, session.close_at


def upcoming_sessions(
    *, calendar: TradingCalendar, after: dt.datetime | None = None, count: int = 5
) -> list[Session]:
    schedule = schedule_for(calendar)
    after = after or timezone.now()
    sessions = []
    for session in schedule.sessions_from(schedule.trade_date(after)):
        if session.close_at > after:
            sessions.append(session)
        if len(sessions) == count:
            break
    return sessions


def special_days(
    *, calendar: TradingCalendar, start: dt.date, end: dt.date
) -> list[tuple[dt.date, Closure]]:
    """Holidays, early closes, late opens and staff closures in [start, end]."""
    return schedule_for(calendar).special_days(start, end)


def trade_date(*, calendar: TradingCalendar, at: dt.datetime | None = None) -> dt.date:
    """The trade date of an instant: its date in the exchange's time zone."""
    return schedule_for(calendar).trade_date(at or timezone.now())


def calendar_closures(*, calendar: TradingCalendar) -> QuerySet[CalendarClosure]:
    return calendar.closures.select_related("calendar", "created_by").order_by("date")


# --- Instruments ----------------------------------------------------------------------------


def _open_halts() -> Prefetch:
    return Prefetch(
        "halts",
        queryset=InstrumentHalt.objects.filter(ended_at__isnull=True),
        to_attr="open_halts",
    )


def instruments_list(
    *,
    search: str = "",
    asset_class: str = "",
    status: str = "",
    currency: str = "",
) -> QuerySet[Instrument]:
    """Instruments with their calendar and open halt, filtered; symbol order."""
    qs = Instrument.objects.select_related("calendar").prefetch_related(_open_halts())
    search = (search or "").strip()
    if search:
        qs = qs.filter(Q(symbol__icontains=search) | Q(name__icontains=search))
    if asset_class:
        qs = qs.filter(asset_class=asset_class)
    if status:
        qs = qs.filter(status=status)
    if currency:
        qs = qs.filter(currency=currency.upper())
    return qs.order_by("symbol")


def instrument_get(*, symbol: str) -> Instrument:
    """The instrument with this symbol (case-insensitive), with its calendar and open halt.

    Raises ``not_found`` when there is none.
    """
    instrument = (
        Instrument.objects.select_related("calendar")
        .prefetch_related(_open_halts())
        .filter(symbol=(symbol or "").strip().upper())
        .first()
    )
    if instrument is None:
        raise not_found(f"No instrument {symbol!r}.")
    return instrument


def current_halt(instrument: Instrument) -> InstrumentHalt | None:
    """The open halt of a halted instrument (uses the prefetch when present)."""
    if instrument.status != InstrumentStatus.HALTED:
        return None
    if hasattr(instrument, "open_halts"):
        return instrument.open_halts[0] if instrument.open_halts else None
    return instrument.halts.filter(ended_at__isnull=True).first()


def instrument_halts(*, instrument: Instrument) -> QuerySet[InstrumentHalt]:
    """Every halt of the instrument, newest first, with who started and ended it."""
    return instrument.halts.select_related("started_by", "ended_by").order_by("-started_at", "-pk")


def halts_due_for_resumption(*, now: dt.datetime | None = None) -> QuerySet[InstrumentHalt]:
    return InstrumentHalt.objects.filter(
        ended_at__isnull=True, resume_at__isnull=False, resume_at__lte=now or timezone.now()
    ).select_related("instrument")


def market_state(*, instrument: Instrument, at: dt.datetime | None = None) -> str:
    """closed | pre_open | open | halted for ``instrument`` at ``at`` (default now).

    A halted instrument is ``halted`` whatever the hour; a suspended or delisted one is
    ``closed``; a listed one follows its calendar.
    """
    if instrument.status == InstrumentStatus.HALTED:
        return MarketState.HALTED
    if instrument.status != InstrumentStatus.LISTED:
        return MarketState.CLOSED
    return schedule_for(instrument.calendar).state(at or timezone.now())


def instrument_next_session(*, instrument: Instrument, after: dt.datetime | None = None) -> Session:
    return schedule_for(instrument.calendar).next_session(after or timezone.now())


def settlement_date(*, instrument: Instrument, trade_date: dt.date) -> dt.date:
    """Trade date + the instrument's settlement cycle in business days of its calendar."""
    return add_business_days(
        calendar=instrument.calendar, start=trade_date, days=instrument.settlement_cycle
    )


def instrument_check_order_terms(
    *,
    instrument: Instrument,
    quantity: Decimal,
    price: Decimal | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Refuse an order the instrument's rules forbid.

    Raises ``instrument_not_tradable`` (422) unless the market state is open or pre_open;
    ``invalid`` (400) for a quantity below the minimum or off the lot step, or a price off the
    tick grid or outside the price band around the reference price.
    """
    state = market_state(instrument=instrument, at=at)
    if state not in (MarketState.OPEN, MarketState.PRE_OPEN):
        halt = current_halt(instrument)
        details = {"symbol": instrument.symbol, "market_state": state}
        if halt is not None:
            details["halt_reason"] = halt.halt_reason
        raise ApplicationError(
            ErrorCode.INSTRUMENT_NOT_TRADABLE,
            f"{instrument.symbol} is not open for trading ({state}).",
            details,
        )
    errors: dict[str, str] = {}
    if quantity < instrument.min_quantity:
        errors["quantity"] = f"The minimum quantity is {instrument.min_quantity.normalize()}."
    elif not instrument.is_on_lot(quantity):
        errors["quantity"] = f"Quantities go in steps of {instrument.lot_size.normalize()}."
    if price is not None:
        band = instrument.price_band()
        if not instrument.is_on_tick(price):
            errors["price"] = f"Prices go in steps of {instrument.tick_size.normalize()}."
        elif band is not None and not band[0] <= price <= band[1]:
            errors["price"] = f"The price must be between {band[0]} and {band[1]} today."
    if errors:
        raise invalid("The order does not fit the instrument's rules.", **errors)


# --- Corporate actions ----------------------------------------------------------------------
# Holdings of record. A dividend goes to whoever holds the shares on the record date by
# contractual settlement: a trade counts once its settlement date has come. The ledger's
# securities of each account at the end of the record date (balance_as_of over every bucket,
# exchange time zone) include every trade done by then; the trades of settlement instructions
# still to settle after the record date are taken back out (a buy not yet settled is the
# seller's holding of record). So with T+1 a buy on the ex-date (= the record date) gets
# nothing and its seller is paid; a buy the day before is paid. Shares transferred in count
# from their transfer. A trade busted after the record date counts as still to settle then (the
# ledger held it); one busted before it is in neither. A record date in the past reads the
# past; one still to come reads now.

ZERO = Decimal(0)

_HOLDINGS_AS_OF_SQL = """
SELECT a.owner_id, (
    SELECT p.balance_after FROM ledger_posting p
    WHERE p.ledger_account_id = a.id AND p.created_at <= %s
    ORDER BY p.created_at DESC, p.id DESC
    LIMIT 1
)
FROM ledger_ledgeraccount a
WHERE a.owner_id IS NOT NULL AND a.instrument_id = %s
"""


def corporate_actions_backoffice(
    *, status: str | None = None, kind: str | None = None, symbol: str | None = None
) -> QuerySet:
    """Every corporate action, newest effective date first, filtered."""
    from apps.instruments.models import CorporateAction

    qs = CorporateAction.objects.select_related(
        "instrument", "entered_by", "approved_by", "processed_by", "last_edited_by"
    ).order_by("-effective_date", "-pk")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if symbol:
        symbol = symbol.strip().upper()
        qs = qs.filter(Q(instrument__symbol=symbol) | Q(old_symbol=symbol))
    return qs


def corporate_action_backoffice(*, pk: Any) -> Any:
    """One corporate action by id; ``not_found`` otherwise."""
    try:
        return corporate_actions_backoffice().get(pk=int(pk))
    except (ValueError, TypeError, ObjectDoesNotExist) as exc:
        raise not_found("No such corporate action.") from exc


def corporate_actions_public(
    *, instrument: Instrument | None = None, instrument_ids: Any = None, upcoming: bool = False
) -> QuerySet:
    """Corporate actions clients see (announced, approved, processed), newest first;
    ``upcoming``: not processed yet."""
    from apps.instruments.choices import PUBLIC_CORPORATE_ACTION_STATUSES, CorporateActionStatus
    from apps.instruments.models import CorporateAction

    qs = CorporateAction.objects.filter(status__in=PUBLIC_CORPORATE_ACTION_STATUSES)
    if instrument is not None:
        qs = qs.filter(instrument=instrument)
    if instrument_ids is not None:
        qs = qs.filter(instrument_id__in=instrument_ids)
    if upcoming:
        qs = qs.exclude(status=CorporateActionStatus.PROCESSED)
    return qs.select_related("instrument").order_by("-effective_date", "-pk")


def corporate_action_today(*, instrument: Instrument, now: dt.datetime | None = None) -> dt.date:
    """Today on the instrument's exchange: what an action's dates are compared with."""
    return trade_date(calendar=instrument.calendar, at=now)


def ex_date_for(*, instrument: Instrument, record_date: dt.date) -> dt.date:
    """The first business day whose trades settle after ``record_date``: a buyer from then on
    is not a holder of record (T+1: the record date itself; T+2: the business day before)."""
    day = record_date - dt.timedelta(days=3 * instrument.settlement_cycle + 10)
    while True:
        if is_business_day(calendar=instrument.calendar, day=day) and (
            settlement_date(instrument=instrument, trade_date=day) > record_date
        ):
            return day
        day += dt.timedelta(days=1)


def end_of_day(*, instrument: Instrument, day: dt.date) -> dt.datetime:
    """The last instant of ``day`` in the exchange's time zone."""
    zone = ZoneInfo(instrument.calendar.timezone)
    start_next = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return start_next - dt.timedelta(microseconds=1)


def holdings_of_record(
    *, instrument: Instrument, record_date: dt.date, now: dt.datetime | None = None
) -> dict[int, Decimal]:
    """Trading account id -> shares held of record on ``record_date`` (positive only); see
    the notes above. Processed splits between a pending trade and the record date scale that
    trade's quantity, as they scaled the ledger."""
    from django.db import connection

    from apps.instruments.choices import SPLIT_KINDS, CorporateActionStatus
    from apps.instruments.models import CorporateAction
    from apps.settlement.choices import InstructionStatus
    from apps.settlement.models import SettlementInstruction

    instant = min(end_of_day(instrument=instrument, day=record_date), now or timezone.now())
    holdings: dict[int, Decimal] = {}
    with connection.cursor() as cursor:
        cursor.execute(_HOLDINGS_AS_OF_SQL, [instant, instrument.pk])
        for owner_id, balance in cursor.fetchall():
            holdings[owner_id] = holdings.get(owner_id, ZERO) + (balance or ZERO)
    splits = list(
        CorporateAction.objects.filter(
            instrument=instrument,
            kind__in=SPLIT_KINDS,
            status=CorporateActionStatus.PROCESSED,
            processed_at__lte=instant,
        ).values_list("effective_date", "ratio_new", "ratio_old")
    )
    unsettled = list(
        SettlementInstruction.objects.filter(
            instrument=instrument, trade_date__lte=record_date, settlement_date__gt=record_date
        ).values_list("account_id", "quantity", "trade_date", "status", "trade_id")
    )
    standing = _trades_standing_at(
        {t for *_, status, t in unsettled if status == InstructionStatus.CANCELLED}, instant
    )
    for account_id, quantity, traded, status, trade_id in unsettled:
        if status == InstructionStatus.CANCELLED and trade_id not in standing:
            continue  # busted before the instant: the ledger then held neither side of it
        for effective, new, old in splits:
            if effective > traded:
                quantity = quantity * new / old
        holdings[account_id] = holdings.get(account_id, ZERO) - quantity
    return {k: v for k, v in holdings.items() if v > 0}


def _trades_standing_at(trade_ids: set[int], instant: dt.datetime) -> set[int]:
    """Of ``trade_ids`` (busted since), those whose ledger entry was not yet reversed at
    ``instant``: the ledger then still held the trade."""
    if not trade_ids:
        return set()
    from apps.ledger.models import JournalEntry
    from apps.matching.models import Trade

    entries = dict(Trade.objects.filter(pk__in=trade_ids).values_list("journal_entry_id", "pk"))
    reversed_by_then = set(
        JournalEntry.objects.filter(
            reverses_id__in=[e for e in entries if e], created_at__lte=instant
        ).values_list("reverses_id", flat=True)
    )
    return {trade for entry, trade in entries.items() if entry not in reversed_by_then}


def security_holdings(*, instrument: Instrument, lock: bool = False) -> dict[int, dict]:
    """Trading account id -> {bucket: (ledger account, balance)} of the instrument's client
    securities now; ``lock`` takes the rows FOR UPDATE (by id) for the caller's transaction."""
    from apps.ledger.models import LedgerAccount

    rows = LedgerAccount.objects.filter(owner__isnull=False, instrument=instrument).order_by("pk")
    if lock:
        rows = rows.select_for_update()
    holdings: dict[int, dict] = {}
    for row in rows:
        holdings.setdefault(row.owner_id, {})[row.bucket] = (row, row.balance)
    return holdings


@dataclass(frozen=True)
class EntitlementLine:
    """One account in a corporate action: what it holds and what it gets. ``blocked`` says
    why processing can't go on for it (empty when it can)."""

    account_id: int
    account_number: str
    holder: str
    non_resident: bool
    quantity: Decimal
    new_quantity: Decimal | None = None
    fraction: Decimal = ZERO
    gross: Decimal = ZERO
    withholding_rate: Decimal = ZERO
    withholding: Decimal = ZERO
    net: Decimal = ZERO
    currency: str = ""
    blocked: str = ""


def _cash(value: Any, currency: str) -> Decimal:
    from apps.ledger.money import minor_unit

    return Decimal(value).quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def dividend_line(
    *, action: Any, account: Any, quantity: Decimal, withholding_rate: Decimal
) -> EntitlementLine:
    """What ``account`` gets for ``quantity`` shares of record: gross rounded half up to the
    cent, tax withheld at ``withholding_rate`` when the account is tax non-resident."""
    gross = _cash(quantity * action.amount_per_share, action.currency)
    rate = withholding_rate if account.tax_non_resident else ZERO
    withholding = _cash(gross * rate, action.currency)
    return EntitlementLine(
        account_id=account.pk,
        account_number=account.number,
        holder=account.owner.email,
        non_resident=account.tax_non_resident,
        quantity=quantity,
        gross=gross,
        withholding_rate=rate,
        withholding=withholding,
        net=gross - withholding,
        currency=action.currency,
    )


@dataclass(frozen=True)
class SplitBuckets:
    """One account's securities after a split: the targets of each bucket, and the fraction
    left over. Unsettled shares (and the part of sell holds taken from them) stay as they are:
    pending settlement instructions deliver their traded quantities; the difference lands in
    settled."""

    before: Decimal
    after: Decimal
    fraction: Decimal
    settled: Decimal
    unsettled: Decimal
    reserved: Decimal


def split_buckets(
    *,
    action: Any,
    lot_size: Decimal,
    balances: dict[str, Decimal],
    share_holds: tuple[Decimal, Decimal] = (ZERO, ZERO),
) -> SplitBuckets:
    """The post-split buckets of an account holding ``balances`` (bucket -> quantity, after
    the holds of cancelled orders went back), whose adjusted sell orders change its reserved
    shares and the unsettled part of them by ``share_holds``. A negative ``settled`` means the
    account can't take the split yet (pending receipts above its post-split holding)."""
    from apps.ledger.choices import Bucket

    settled = balances.get(Bucket.SETTLED, ZERO)
    unsettled = balances.get(Bucket.UNSETTLED, ZERO)
    reserved = balances.get(Bucket.RESERVED, ZERO)
    before = settled + unsettled + reserved
    after, fraction = action.split_quantity(before, lot_size)
    reserved_after = reserved + share_holds[0]
    unsettled_after = unsettled + share_holds[1]
    return SplitBuckets(
        before=before,
        after=after,
        fraction=fraction,
        settled=after - reserved_after - unsettled_after,
        unsettled=unsettled_after,
        reserved=reserved_after,
    )


@dataclass
class CorporateActionPreview:
    """What processing would do now: a line per account, the open orders a split touches,
    and the problems that would stop it."""

    action: Any
    as_of: dt.datetime
    basis: str
    lines: list[EntitlementLine]
    open_orders: int = 0
    orders_cancelled: int = 0
    order_policy: str = ""
    problems: list[str] = dc_field(default_factory=list)

    @property
    def total_quantity(self) -> Decimal:
        return sum((line.quantity for line in self.lines), ZERO)

    @property
    def total_gross(self) -> Decimal:
        return sum((line.gross for line in self.lines), ZERO)

    @property
    def total_withholding(self) -> Decimal:
        return sum((line.withholding for line in self.lines), ZERO)

    @property
    def total_net(self) -> Decimal:
        return sum((line.net for line in self.lines), ZERO)

    @property
    def total_fraction(self) -> Decimal:
        return sum((line.fraction for line in self.lines), ZERO)


def _line_account(accounts: dict, account_id: int) -> dict:
    account = accounts[account_id]
    return {
        "account_id": account.pk,
        "account_number": account.number,
        "holder": account.owner.email,
        "non_resident": account.tax_non_resident,
    }


def corporate_action_preview(*, action: Any, now: dt.datetime | None = None) -> Any:
    """The entitlements processing would create if it ran at ``now`` (default: now), without
    writing anything. Dividends: holdings of record (so far, before the record date ends)
    with gross, tax withheld and net. Splits: each holding before and after, fractions and
    their cash in lieu, and the open orders affected."""
    from django.conf import settings

    from apps.accounts.models import TradingAccount
    from apps.instruments.choices import CorporateActionKind

    now = now or timezone.now()
    instrument = action.instrument
    problems: list[str] = []
    if action.kind == CorporateActionKind.CASH_DIVIDEND:
        holdings = holdings_of_record(
            instrument=instrument, record_date=action.record_date, now=now
        )
        accounts = TradingAccount.objects.select_related("owner").in_bulk(list(holdings))
        rate = Decimal(str(settings.DIVIDEND_WITHHOLDING_RATE))
        lines = [
            dividend_line(action=action, account=accounts[pk], quantity=q, withholding_rate=rate)
            for pk, q in sorted(holdings.items())
        ]
        ended = now >= end_of_day(instrument=instrument, day=action.record_date)
        basis = (
            f"Holders of record at the end of {action.record_date} (trades settled by then)"
            if ended
            else f"Holdings so far: the record date {action.record_date} has not ended"
        )
        return CorporateActionPreview(action=action, as_of=now, basis=basis, lines=lines)
    if action.is_split:
        return _split_preview(action, now, problems)
    from apps.orders.choices import OPEN_ORDER_STATUSES

    open_orders = instrument.orders.filter(status__in=OPEN_ORDER_STATUSES).count()
    positions = instrument.positions.filter(quantity__gt=0).count()
    taken = Instrument.objects.filter(symbol=action.new_symbol).exclude(pk=instrument.pk).exists()
    if taken and action.status != "processed":
        problems.append(f"The symbol {action.new_symbol} belongs to another instrument.")
    return CorporateActionPreview(
        action=action,
        as_of=now,
        basis=f"{positions} positions and {open_orders} open orders keep the instrument; only "
        "its symbol changes",
        lines=[],
        open_orders=open_orders,
        problems=problems,
    )


def _split_preview(action: Any, now: dt.datetime, problems: list[str]) -> Any:
    from django.conf import settings

    from apps.accounts.models import TradingAccount
    from apps.orders.choices import OPEN_ORDER_STATUSES, OrderSide
    from apps.orders.services import order_split_terms

    instrument = action.instrument
    tick = action.new_tick_size or instrument.tick_size
    policy = settings.CORPORATE_ACTION_OPEN_ORDERS.get(action.kind, "cancel")
    released: dict[int, dict[str, Decimal]] = {}
    share_holds: dict[int, tuple[Decimal, Decimal]] = {}
    orders = list(instrument.orders.filter(status__in=OPEN_ORDER_STATUSES))
    cancelled = 0
    for order in orders:
        terms = order_split_terms(
            order=order,
            ratio=action.ratio,
            tick_size=tick,
            lot_size=instrument.lot_size,
            policy=policy,
        )
        if order.side != OrderSide.SELL:
            cancelled += terms.cancel
            continue
        if terms.cancel:
            cancelled += 1
            back = released.setdefault(order.account_id, {})
            to_unsettled = min(order.reserved, order.hold_from_unsettled)
            back["unsettled"] = back.get("unsettled", ZERO) + to_unsettled
            back["settled"] = back.get("settled", ZERO) + order.reserved - to_unsettled
            back["reserved"] = back.get("reserved", ZERO) - order.reserved
        else:
            new_from_unsettled = min(order.hold_from_unsettled, terms.leaves)
            reserved_change, unsettled_change = share_holds.get(order.account_id, (ZERO, ZERO))
            share_holds[order.account_id] = (
                reserved_change + terms.leaves - order.reserved,
                unsettled_change + order.hold_from_unsettled - new_from_unsettled,
            )
    holdings = security_holdings(instrument=instrument)
    accounts = TradingAccount.objects.select_related("owner").in_bulk(list(holdings))
    lines = []
    for account_id in sorted(holdings):
        balances = {bucket: value for bucket, (_, value) in holdings[account_id].items()}
        for bucket, change in released.get(account_id, {}).items():
            balances[bucket] = balances.get(bucket, ZERO) + change
        buckets = split_buckets(
            action=action,
            lot_size=instrument.lot_size,
            balances=balances,
            share_holds=share_holds.get(account_id, (ZERO, ZERO)),
        )
        if not buckets.before:
            continue
        cash = (
            _cash(buckets.fraction * action.cash_in_lieu_price, instrument.currency)
            if buckets.fraction and action.cash_in_lieu_price
            else ZERO
        )
        blocked = ""
        if buckets.settled < 0:
            blocked = (
                f"{-buckets.settled:f} shares short: trades still to settle bring more shares "
                "than the account holds after the split; process once they have settled"
            )
        lines.append(
            EntitlementLine(
                **_line_account(accounts, account_id),
                quantity=buckets.before,
                new_quantity=buckets.after,
                fraction=buckets.fraction,
                gross=cash,
                net=cash,
                currency=instrument.currency,
                blocked=blocked,
            )
        )
    if any(line.fraction for line in lines) and not action.cash_in_lieu_price:
        problems.append("Fractions of a share are left over: set the cash in lieu price.")
    if any(line.blocked for line in lines):
        problems.append("Some accounts can't take the split yet (see blocked lines).")
    return CorporateActionPreview(
        action=action,
        as_of=now,
        basis=f"Holdings now, {action.ratio_display}; open orders: {policy}",
        lines=lines,
        open_orders=len(orders),
        orders_cancelled=cancelled,
        order_policy=policy,
        problems=problems,
    )


# --- Dividends for clients ------------------------------------------------------------------


def dividends_for(*, user: Any, account: Any = None) -> QuerySet:
    """The dividends paid to the user's accounts (one row per account and dividend), newest
    pay date first."""
    from apps.instruments.choices import CorporateActionKind
    from apps.instruments.models import CorporateActionEntitlement

    qs = CorporateActionEntitlement.objects.filter(
        account__owner=user, action__kind=CorporateActionKind.CASH_DIVIDEND
    )
    if account is not None:
        qs = qs.filter(account=account)
    return qs.select_related("action", "action__instrument", "account").order_by(
        "-action__pay_date", "-pk"
    )


@dataclass(frozen=True)
class DividendIncome:
    """Dividends paid to an account in one currency: before tax, withheld, received."""

    currency: str
    gross: Decimal
    withholding: Decimal
    net: Decimal
    payments: int
    last_paid_on: dt.date | None


def dividend_income(
    *, account: Any, currency: str | None = None, since: dt.date | None = None
) -> DividendIncome:
    """The account's dividend income (all time, or paid on or after ``since``) in
    ``currency`` (default: the account's). The portfolio shows it beside realized P&L."""
    from django.db.models import Count, Max, Sum

    from apps.instruments.choices import CorporateActionKind
    from apps.instruments.models import CorporateActionEntitlement

    currency = (currency or account.currency).upper()
    qs = CorporateActionEntitlement.objects.filter(
        account=account, action__kind=CorporateActionKind.CASH_DIVIDEND, currency=currency
    )
    if since is not None:
        qs = qs.filter(action__pay_date__gte=since)
    totals = qs.aggregate(
        gross=Sum("gross"),
        withholding=Sum("withholding"),
        net=Sum("net"),
        payments=Count("pk"),
        last=Max("action__pay_date"),
    )
    unit = _cash(0, currency)
    return DividendIncome(
        currency=currency,
        gross=(totals["gross"] or ZERO).quantize(unit),
        withholding=(totals["withholding"] or ZERO).quantize(unit),
        net=(totals["net"] or ZERO).quantize(unit),
        payments=totals["payments"],
        last_paid_on=totals["last"],
    )
