"""Writes of the instruments app: one function per business action, each in a transaction.

Instruments: create, update, set the reference price, and the status machine (halt, resume,
suspend, reinstate, delist) with a halt record per halt. Calendars: create, update, and the
closures staff add. Every write names its actor and reason in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.timezone import now as _now
from django_fsm import can_proceed, has_transition_perm

from apps.core.audit import stamp
from apps.core.errors import ApplicationError, invalid, invalid_state, permission_denied
from apps.instruments import selectors
from apps.instruments.choices import (
    DEFAULT_SETTLEMENT_CYCLE,
    IDENTIFIER_REQUIRED,
    SPLIT_KINDS,
    AssetClass,
    ClosureKind,
    CorporateActionKind,
    CorporateActionStatus,
    HaltKind,
    InstrumentStatus,
)
from apps.instruments.identifiers import (
    CUSIP_COUNTRIES,
    IdentifierError,
    cusip_from_isin,
    normalize_cusip,
    normalize_isin,
)
from apps.instruments.models import (
    CalendarClosure,
    CorporateAction,
    CorporateActionEntitlement,
    Instrument,
    InstrumentHalt,
    TradingCalendar,
)
from apps.instruments.schedule import supported_sources
from apps.instruments.signals import corporate_action_processed

logger = logging.getLogger("bourse.instruments")

SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,15}$")
MAX_DECIMALS = 8
MAX_SETTLEMENT_CYCLE = 10


def _reason(reason: str | None) -> str:
    if not reason or len(reason.strip()) < 3:
        raise invalid("A reason is required.", reason="Say why, in a few words.")
    return reason.strip()


def _decimal(value: Any, field: str, *, allow_none: bool = False) -> Decimal | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise invalid(f"{field} is required.", **{field: "This field is required."})
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise invalid(f"{field} must be a number.", **{field: "Not a number."}) from exc
    if not number.is_finite():
        raise invalid(f"{field} must be a number.", **{field: "Not a number."})
    if number.as_tuple().exponent < -MAX_DECIMALS:
        raise invalid(
            f"{field} has too many decimals.",
            **{field: f"At most {MAX_DECIMALS} decimal places."},
        )
    return number


# --- Instruments ----------------------------------------------------------------------------

EDITABLE_FIELDS = (
    "name",
    "isin",
    "cusip",
    "tick_size",
    "lot_size",
    "min_quantity",
    "price_band_pct",
    "reference_price",
    "previous_close",
    "settlement_cycle",
    "calendar",
    "accredited_only",
)


def _resolve_calendar(calendar: TradingCalendar | str | None) -> TradingCalendar:
    if isinstance(calendar, TradingCalendar):
        return calendar
    if not calendar:
        raise invalid("A trading calendar is required.", calendar="This field is required.")
    found = TradingCalendar.objects.filter(code__iexact=str(calendar).strip()).first()
    if found is None:
        codes = ", ".join(TradingCalendar.objects.values_list("code", flat=True))
        raise invalid("Unknown trading calendar.", calendar=f"Choose one of: {codes}.")
    return found


def instrument_validate(instrument: Instrument) -> None:
    """Check an unsaved instrument's terms together (normalising its ISIN and CUSIP, filling
    the CUSIP from a US or Canadian ISIN); raises ``invalid`` naming every bad field.

    Writes nothing: forms call it to show errors before the create or update service runs.
    """
    errors: dict[str, str] = {}
    if not SYMBOL_RE.match(instrument.symbol):
        errors["symbol"] = "Upper-case letters, digits, '.' and '-', at most 16 characters."
    if not instrument.name.strip():
        errors["name"] = "This field is required."
    if instrument.asset_class not in AssetClass.values:
        errors["asset_class"] = f"Choose one of: {', '.join(AssetClass.values)}."
    if instrument.currency not in settings.CURRENCIES:
        errors["currency"] = f"Choose one of: {', '.join(sorted(settings.CURRENCIES))}."

    for field in ("isin", "cusip"):
        value = getattr(instrument, field)
        if not value:
            continue
        try:
            normalized = normalize_isin(value) if field == "isin" else normalize_cusip(value)
        except IdentifierError as exc:
            errors[field] = str(exc)
        else:
            setattr(instrument, field, normalized)
    if instrument.isin and "isin" not in errors:
        embedded = cusip_from_isin(instrument.isin)
        if embedded and not instrument.cusip:
            instrument.cusip = embedded
        elif embedded and "cusip" not in errors and embedded != instrument.cusip:
            errors["cusip"] = f"The ISIN {instrument.isin} carries the CUSIP {embedded}."
    if (
        instrument.asset_class in IDENTIFIER_REQUIRED
        and not instrument.isin
        and not instrument.cusip
        and not {"isin", "cusip"} & errors.keys()
    ):
        errors["isin"] = "Securities of this asset class need an ISIN or a CUSIP."

    tick, lot, minimum = instrument.tick_size, instrument.lot_size, instrument.min_quantity
    if tick is None or tick <= 0:
        errors["tick_size"] = "The tick size must be greater than zero."
    if lot is None or lot <= 0:
        errors["lot_size"] = "The lot step must be greater than zero."
    elif minimum is None or minimum < lot:
        errors["min_quantity"] = "The minimum quantity must be at least one lot step."
    elif minimum % lot != 0:
        errors["min_quantity"] = "The minimum quantity must be a whole number of lot steps."
    band = instrument.price_band_pct
    if band is None or not Decimal("0") < band <= Decimal("100"):
        errors["price_band_pct"] = "The price band is a percentage above 0 and at most 100."
    for field in ("reference_price", "previous_close"):
        price = getattr(instrument, field)
        if price is None:
            continue
        if price <= 0:
            errors[field] = "Prices are greater than zero."
        elif "tick_size" not in errors and price % tick != 0:
            errors[field] = f"Prices go in steps of the tick size ({tick.normalize()})."
    cycle = instrument.settlement_cycle
    if cycle is None or not 0 <= cycle <= MAX_SETTLEMENT_CYCLE:
        errors["settlement_cycle"] = f"Between 0 and {MAX_SETTLEMENT_CYCLE} business days."
    if errors:
        raise invalid("The instrument's terms are invalid.", **errors)


def _unique_identifiers(instrument: Instrument) -> None:
    others = Instrument.objects.exclude(pk=instrument.pk)
    errors = {}
    if others.filter(symbol=instrument.symbol).exists():
        errors["symbol"] = "An instrument with this symbol exists."
    if instrument.isin and others.filter(isin=instrument.isin).exists():
        errors["isin"] = "An instrument with this ISIN exists."
    if instrument.cusip and others.filter(cusip=instrument.cusip).exists():
        errors["cusip"] = "An instrument with this CUSIP exists."
    if errors:
        raise invalid("The instrument is already listed.", **errors)


def instrument_create(
    *,
    actor: Any,
    symbol: str,
    name: str,
    asset_class: str,
    calendar: TradingCalendar | str,
    currency: str | None = None,
    tick_size: Any = Decimal("0.01"),
    lot_size: Any = Decimal("1"),
    min_quantity: Any = None,
    price_band_pct: Any = Decimal("10"),
    reference_price: Any = None,
    previous_close: Any = None,
    settlement_cycle: int | None = None,
    isin: str = "",
    cusip: str = "",
    accredited_only: bool = False,
    reason: str = "Instrument listed",
) -> Instrument:
    """List a new instrument.

    The ISIN and CUSIP must pass their check digits (a US or Canadian ISIN fills in the
    CUSIP); tick, lot step and minimum quantity must be positive and consistent; reference
    prices must sit on the tick grid. The settlement cycle defaults by asset class (T+1 for
    US equities, ETFs, bonds and funds; T+2 for commodities and private shares). Raises
    ``invalid`` naming each bad field.
    """
    lot = _decimal(lot_size, "lot_size")
    minimum = _decimal(min_quantity, "min_quantity", allow_none=True)
    instrument = Instrument(
        symbol=(symbol or "").strip().upper(),
        name=(name or "").strip(),
        asset_class=asset_class,
        currency=(currency or settings.BASE_CURRENCY).strip().upper(),
        isin=(isin or "").strip().upper(),
        cusip=(cusip or "").strip().upper(),
        tick_size=_decimal(tick_size, "tick_size"),
        lot_size=lot,
        min_quantity=lot if minimum is None else minimum,
        price_band_pct=_decimal(price_band_pct, "price_band_pct"),
        reference_price=_decimal(reference_price, "reference_price", allow_none=True),
        previous_close=_decimal(previous_close, "previous_close", allow_none=True),
        settlement_cycle=(
            settlement_cycle
            if settlement_cycle is not None
            else DEFAULT_SETTLEMENT_CYCLE.get(asset_class, 2)
        ),
        calendar=_resolve_calendar(calendar),
        accredited_only=bool(accredited_only),
    )
    instrument_validate(instrument)
    if instrument.reference_price is not None:
        instrument.reference_price_at = _now()
    try:
        with transaction.atomic():
            _unique_identifiers(instrument)
            stamp(instrument, actor=actor, reason=reason)
            instrument.save()
    except IntegrityError as exc:  # a concurrent listing of the same symbol or identifier
        raise invalid("The instrument is already listed.", symbol="Already listed.") from exc
    return instrument


def instrument_update(
    *, instrument: Instrument, actor: Any, reason: str, **fields: Any
) -> Instrument:
    """Change an instrument's terms (not its symbol, asset class, currency or status).

    Validates the result as :func:`instrument_create` does. Raises ``invalid``.
    """
    reason = _reason(reason)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise invalid(
            "These fields can't be changed here.", **dict.fromkeys(sorted(unknown), "Not editable.")
        )
    with transaction.atomic():
        locked = (
            Instrument.objects.select_for_update(of=("self",))
            .select_related("calendar")
            .get(pk=instrument.pk)
        )
        for field, value in fields.items():
            if field == "calendar":
                value = _resolve_calendar(value)
            elif field in {"tick_size", "lot_size", "min_quantity", "price_band_pct"}:
                value = _decimal(value, field)
            elif field in {"reference_price", "previous_close"}:
                value = _decimal(value, field, allow_none=True)
            elif field in {"isin", "cusip", "name"}:
                value = (value or "").strip()
                value = value.upper() if field != "name" else value
            elif field == "accredited_only":
                value = bool(value)
            setattr(locked, field, value)
        if "isin" in fields and "cusip" not in fields and locked.isin[:2] in CUSIP_COUNTRIES:
            locked.cusip = ""  # follows the new ISIN
        instrument_validate(locked)
        _unique_identifiers(locked)
        if "reference_price" in fields:
            locked.reference_price_at = _now()
        stamp(locked, actor=actor, reason=reason)
        locked.save()
    return locked


def instrument_reference_price_set(
    *,
    instrument: Instrument,
    reference_price: Decimal,
    previous_close: Decimal | None = None,
    actor: Any = None,
    reason: str = "Reference price",
) -> Instrument:
    """Set the price the price band is measured from (e.g. the official close), and the
    previous close for the day's change. The price must sit on the tick grid."""
    price = _decimal(reference_price, "reference_price")
    close = _decimal(previous_close, "previous_close", allow_none=True)
    with transaction.atomic():
        locked = Instrument.objects.select_for_update().get(pk=instrument.pk)
        for field, value in (("reference_price", price), ("previous_close", close)):
            if value is None:
                continue
            if value <= 0 or value % locked.tick_size != 0:
                raise invalid(
                    "The price is not on the tick grid.",
                    **{field: f"A positive multiple of {locked.tick_size.normalize()}."},
                )
        locked.reference_price = price
        if close is not None:
            locked.previous_close = close
        locked.reference_price_at = _now()
        stamp(locked, actor=actor, reason=reason)
        locked.save(
            update_fields=["reference_price", "previous_close", "reference_price_at", "updated_at"]
        )
    return locked


def _transition(
    *,
    instrument: Instrument,
    action: str,
    actor: Any,
    reason: str,
    enforce_permission: bool,
) -> Instrument:
    """Lock, check and apply a status transition (the caller saves inside its transaction)."""
    locked = (
        Instrument.objects.select_for_update(of=("self",))
        .select_related("calendar")
        .get(pk=instrument.pk)
    )
    method = getattr(locked, action)
    if not can_proceed(method):
        raise invalid_state(
            f"{locked.symbol} is {locked.status}; it cannot be {_PAST[action]}.",
            status=locked.status,
            action=action,
        )
    if enforce_permission and not has_transition_perm(method, actor):
        raise permission_denied(f"Your role may not {action} instruments.")
    method()
    locked.status_reason = reason
    stamp(locked, actor=actor, reason=reason)
    return locked


_PAST = {
    "halt": "halted",
    "resume": "resumed",
    "suspend": "suspended",
    "reinstate": "reinstated",
    "delist": "delisted",
}


def _end_open_halt(*, instrument: Instrument, actor: Any, reason: str) -> InstrumentHalt | None:
    halt = (
        InstrumentHalt.objects.select_for_update()
        .filter(instrument=instrument, ended_at__isnull=True)
        .first()
    )
    if halt is None:
        return None
    halt.ended_at = _now()
    halt.ended_by = actor if getattr(actor, "pk", None) else None
    halt.end_reason = reason
    stamp(halt, actor=actor, reason=reason)
    halt.save()
    return halt


def instrument_halt(
    *,
    instrument: Instrument,
    actor: Any,
    reason: str,
    kind: str = HaltKind.OTHER,
    resume_at: dt.datetime | None = None,
    enforce_permission: bool = True,
) -> Instrument:
    """Halt trading in a listed instrument and open a halt record (kind, reason, actor).

    ``resume_at`` plans the resumption: the scheduler resumes the instrument then. Raises
    ``invalid_state`` unless listed, ``permission_denied`` for a role without the halt
    permission, ``invalid`` for a missing reason, an unknown kind or a past ``resume_at``.
    """
    reason = _reason(reason)
    if kind not in HaltKind.values:
        raise invalid("Unknown halt kind.", kind=f"Choose one of: {', '.join(HaltKind.values)}.")
    now = _now()
    if resume_at is not None and resume_at <= now:
        raise invalid("The planned resumption is in the past.", resume_at="Must be later.")
    with transaction.atomic():
        locked = _transition(
            instrument=instrument,
            action="halt",
            actor=actor,
            reason=reason,
            enforce_permission=enforce_permission,
        )
        locked.save()
        halt = InstrumentHalt(
            instrument=locked,
            kind=kind,
            halt_reason=reason,
            started_at=now,
            started_by=actor if getattr(actor, "pk", None) else None,
            resume_at=resume_at,
        )
        stamp(halt, actor=actor, reason=reason)
        halt.save()
    locked.open_halts = [halt]
    return locked


def instrument_resume(
    *, instrument: Instrument, actor: Any, reason: str, enforce_permission: bool = True
) -> Instrument:
    """Resume trading in a halted instrument and close its halt record."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _transition(
            instrument=instrument,
            action="resume",
            actor=actor,
            reason=reason,
            enforce_permission=enforce_permission,
        )
        locked.save()
        _end_open_halt(instrument=locked, actor=actor, reason=reason)
    locked.open_halts = []
    return locked


def instrument_suspend(
    *, instrument: Instrument, actor: Any, reason: str, enforce_permission: bool = True
) -> Instrument:
    """Suspend a listed or halted instrument (an open halt ends, superseded)."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _transition(
            instrument=instrument,
            action="suspend",
            actor=actor,
            reason=reason,
            enforce_permission=enforce_permission,
        )
        locked.save()
        _end_open_halt(instrument=locked, actor=actor, reason=f"Suspended: {reason}")
    locked.open_halts = []
    return locked


def instrument_reinstate(
    *, instrument: Instrument, actor: Any, reason: str, enforce_permission: bool = True
) -> Instrument:
    """Lift the suspension of an instrument: it is listed again."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _transition(
            instrument=instrument,
            action="reinstate",
            actor=actor,
            reason=reason,
            enforce_permission=enforce_permission,
        )
        locked.save()
    locked.open_halts = []
    return locked


def instrument_delist(
    *, instrument: Instrument, actor: Any, reason: str, enforce_permission: bool = True
) -> Instrument:
    """Delist an instrument for good (an open halt ends). Positions stay on the books."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = _transition(
            instrument=instrument,
            action="delist",
            actor=actor,
            reason=reason,
            enforce_permission=enforce_permission,
        )
        locked.save()
        _end_open_halt(instrument=locked, actor=actor, reason=f"Delisted: {reason}")
    locked.open_halts = []
    return locked


def halts_resume_due(*, now: dt.datetime | None = None) -> list[str]:
    """Resume every halted instrument whose planned resumption has come; returns symbols.

    Idempotent: an instrument resumed already (by staff, or by an earlier run) is skipped.
    """
    resumed = []
    for halt in selectors.halts_due_for_resumption(now=now):
        try:
            instrument_resume(
                instrument=halt.instrument,
                actor=None,
                reason=f"Planned resumption at {halt.resume_at:%Y-%m-%d %H:%M} UTC",
                enforce_permission=False,
            )
        except ApplicationError:
            continue  # resumed or suspended meanwhile
        resumed.append(halt.instrument.symbol)
    return resumed


# --- Calendars ------------------------------------------------------------------------------

CALENDAR_FIELDS = (
    "name",
    "timezone",
    "trading_days",
    "round_the_clock",
    "pre_open_time",
    "open_time",
    "close_time",
    "early_close_time",
    "holiday_source",
)


def calendar_validate(calendar: TradingCalendar) -> None:
    """Check an unsaved calendar's settings; raises ``invalid``. Writes nothing."""
    errors: dict[str, str] = {}
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,15}$", calendar.code or ""):
        errors["code"] = "Letters, digits, '_' and '-', at most 16 characters."
    if not (calendar.name or "").strip():
        errors["name"] = "This field is required."
    try:
        ZoneInfo(calendar.timezone or "")
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = "Not an IANA time zone (e.g. America/New_York)."
    days = calendar.trading_days or ""
    if not days or any(c not in "1234567" for c in days) or len(set(days)) != len(days):
        errors["trading_days"] = "ISO weekday digits 1 (Monday) to 7 (Sunday), each once."
    else:
        calendar.trading_days = "".join(sorted(days))
    if calendar.holiday_source and calendar.holiday_source not in supported_sources():
        errors["holiday_source"] = "Not a financial calendar of the holidays package."
    if calendar.round_the_clock:
        calendar.open_time = calendar.close_time = calendar.pre_open_time = None
    else:
        if calendar.open_time is None or calendar.close_time is None:
            errors["open_time"] = "Open and close times are required."
        elif calendar.close_time <= calendar.open_time:
            errors["close_time"] = "The close must be later than the open."
        else:
            if calendar.pre_open_time is not None and calendar.pre_open_time >= calendar.open_time:
                errors["pre_open_time"] = "The pre-open starts before the open."
            early = calendar.early_close_time
            if early is not None and not calendar.open_time < early < calendar.close_time:
                errors["early_close_time"] = "The early close falls between open and close."
    if errors:
        raise invalid("The calendar is invalid.", **errors)


def calendar_create(
    *, actor: Any, code: str, name: str, timezone: str, **fields: Any
) -> TradingCalendar:
    """Create a trading calendar. Raises ``invalid``."""
    unknown = set(fields) - set(CALENDAR_FIELDS)
    if unknown:
        raise invalid("Unknown calendar fields.", **dict.fromkeys(sorted(unknown), "Unknown."))
    calendar = TradingCalendar(code=(code or "").strip(), name=name, timezone=timezone, **fields)
    calendar_validate(calendar)
    if TradingCalendar.objects.filter(code__iexact=calendar.code).exists():
        raise invalid("The calendar exists.", code="A calendar with this code exists.")
    stamp(calendar, actor=actor, reason="Calendar created")
    calendar.save()
    return calendar


def calendar_update(
    *, calendar: TradingCalendar, actor: Any, reason: str, **fields: Any
) -> TradingCalendar:
    """Change a calendar's zone, sessions, trading days or holiday source. Raises ``invalid``."""
    reason = _reason(reason)
    unknown = set(fields) - set(CALENDAR_FIELDS)
    if unknown:
        raise invalid("These fields can't be changed.", **dict.fromkeys(sorted(unknown), "No."))
    with transaction.atomic():
        locked = TradingCalendar.objects.select_for_update().get(pk=calendar.pk)
        for field, value in fields.items():
            setattr(locked, field, value)
        calendar_validate(locked)
        locked.rules_version = uuid.uuid4()
        stamp(locked, actor=actor, reason=reason)
        locked.save()
    return locked


def _bump(calendar: TradingCalendar, *, actor: Any, reason: str) -> None:
    """Mark the calendar's schedule as changed (cached schedules reload)."""
    calendar.rules_version = uuid.uuid4()
    stamp(calendar, actor=actor, reason=reason)
    calendar.save(update_fields=["rules_version", "updated_at"])


def calendar_closure_validate(closure: CalendarClosure, calendar: TradingCalendar) -> None:
    """Check an unsaved closure against its calendar's hours; raises ``invalid``."""
    errors: dict[str, str] = {}
    if closure.kind not in ClosureKind.values:
        errors["kind"] = f"Choose one of: {', '.join(ClosureKind.values)}."
    if closure.kind == ClosureKind.CLOSED:
        closure.open_time = closure.close_time = None
    if closure.kind == ClosureKind.EARLY_CLOSE:
        closure.open_time = None
        if closure.close_time is None:
            errors["close_time"] = "An early close needs its closing time."
        elif not calendar.round_the_clock and not (
            calendar.open_time < closure.close_time < calendar.close_time
        ):
            errors["close_time"] = "The early close falls between the regular open and close."
    if closure.kind == ClosureKind.LATE_OPEN:
        closure.close_time = None
        if closure.open_time is None:
            errors["open_time"] = "A late open needs its opening time."
        elif not calendar.round_the_clock and not (
            calendar.open_time < closure.open_time < calendar.close_time
        ):
            errors["open_time"] = "The late open falls between the regular open and close."
    if closure.date is None:
        errors["date"] = "This field is required."
    if errors:
        raise invalid("The closure is invalid.", **errors)


def calendar_closure_add(
    *,
    calendar: TradingCalendar,
    actor: Any,
    date: dt.date,
    reason: str,
    kind: str = ClosureKind.CLOSED,
    open_time: dt.time | None = None,
    close_time: dt.time | None = None,
) -> CalendarClosure:
    """Close the market on a date, or shorten its session; replaces the holiday source for
    that date. One closure per calendar and date. Raises ``invalid``."""
    reason = _reason(reason)
    with transaction.atomic():
        locked = TradingCalendar.objects.select_for_update().get(pk=calendar.pk)
        closure = CalendarClosure(
            calendar=locked,
            date=date,
            kind=kind,
            open_time=open_time,
            close_time=close_time,
            description=reason[:200],
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        calendar_closure_validate(closure, locked)
        if CalendarClosure.objects.filter(calendar=locked, date=date).exists():
            raise invalid("That date already has a closure.", date="Edit the existing one.")
        stamp(closure, actor=actor, reason=reason)
        closure.save()
        _bump(locked, actor=actor, reason=f"Closure on {date}: {reason}")
    return closure


def calendar_closure_update(
    *, closure: CalendarClosure, actor: Any, reason: str, **fields: Any
) -> CalendarClosure:
    """Change a closure's kind, times or reason (its date and calendar stay)."""
    reason = _reason(reason)
    unknown = set(fields) - {"kind", "open_time", "close_time", "description"}
    if unknown:
        raise invalid("These fields can't be changed.", **dict.fromkeys(sorted(unknown), "No."))
    with transaction.atomic():
        # The calendar first, then the closure: the order every closure service locks in.
        calendar = TradingCalendar.objects.select_for_update().get(pk=closure.calendar_id)
        locked = CalendarClosure.objects.select_for_update().get(pk=closure.pk)
        for field, value in fields.items():
            setattr(locked, field, value)
        locked.description = (locked.description or reason)[:200]
        calendar_closure_validate(locked, calendar)
        stamp(locked, actor=actor, reason=reason)
        locked.save()
        _bump(calendar, actor=actor, reason=f"Closure on {locked.date} changed: {reason}")
    return locked


def calendar_closure_remove(*, closure: CalendarClosure, actor: Any, reason: str) -> None:
    """Remove a staff closure: the date follows the holiday source again."""
    reason = _reason(reason)
    with transaction.atomic():
        calendar = TradingCalendar.objects.select_for_update().get(pk=closure.calendar_id)
        locked = CalendarClosure.objects.select_for_update().filter(pk=closure.pk).first()
        if locked is None:
            return
        stamp(locked, actor=actor, reason=reason)
        locked.delete()
        _bump(calendar, actor=actor, reason=f"Closure on {locked.date} removed: {reason}")


# Calendars every installation has: instruments are created against their codes.
STANDARD_CALENDARS: list[dict[str, Any]] = [
    {
        "code": "XNYS",
        "name": "New York Stock Exchange",
        "timezone": "America/New_York",
        "trading_days": "12345",
        "pre_open_time": dt.time(4, 0),
        "open_time": dt.time(9, 30),
        "close_time": dt.time(16, 0),
        "early_close_time": dt.time(13, 0),
        "holiday_source": "XNYS",
    },
    {
        "code": "SIFMA",
        "name": "US bond market (SIFMA recommended hours)",
        "timezone": "America/New_York",
        "trading_days": "12345",
        "pre_open_time": dt.time(7, 0),
        "open_time": dt.time(8, 0),
        "close_time": dt.time(17, 0),
        "early_close_time": dt.time(14, 0),
        "holiday_source": "XSIF",
    },
    {
        "code": "24x7",
        "name": "Round the clock (every day, all day, UTC dates)",
        "timezone": "UTC",
        "trading_days": "1234567",
        "round_the_clock": True,
    },
]


def calendars_ensure_standard() -> list[TradingCalendar]:
    """Create the standard calendars that are missing (existing ones are left as staff set
    them). Returns those created."""
    created = []
    for spec in STANDARD_CALENDARS:
        if TradingCalendar.objects.filter(code__iexact=spec["code"]).exists():
            continue
        fields = {k: v for k, v in spec.items() if k not in {"code", "name", "timezone"}}
        created.append(
            calendar_create(
                actor=None,
                code=spec["code"],
                name=spec["name"],
                timezone=spec["timezone"],
                **fields,
            )
        )
    return created


# --- Corporate actions ----------------------------------------------------------------------
# Entered by one staff member, approved by another, processed once on (or after) their date:
# by the scheduler (corporate_actions_process_due) or by staff. Processing runs in one
# transaction under the action's row lock and is a no-op once processed; every ledger entry
# carries an idempotency key of the action and account, and each account has one entitlement
# row per action (unique), so nothing is paid or split twice.
#
# Processing changes other apps' state through their services: the ledger (one batch per
# action), positions (apps.positions.services.positions_split), orders
# (apps.orders.services.orders_split_adjust under the book lock). Those apps sit above this
# one, so they are imported inside the functions that call them.

CORPORATE_ACTION_FIELDS = (
    "description",
    "effective_date",
    "ex_date",
    "record_date",
    "pay_date",
    "amount_per_share",
    "currency",
    "ratio_new",
    "ratio_old",
    "cash_in_lieu_price",
    "new_tick_size",
    "new_symbol",
    "new_name",
)
_KIND_FIELDS = {
    CorporateActionKind.CASH_DIVIDEND: {
        "ex_date",
        "record_date",
        "pay_date",
        "amount_per_share",
        "currency",
    },
    CorporateActionKind.SPLIT: {"ratio_new", "ratio_old", "cash_in_lieu_price", "new_tick_size"},
    CorporateActionKind.REVERSE_SPLIT: {
        "ratio_new",
        "ratio_old",
        "cash_in_lieu_price",
        "new_tick_size",
    },
    CorporateActionKind.SYMBOL_CHANGE: {"new_symbol", "new_name"},
}
_EDITABLE_STATUSES = (CorporateActionStatus.DRAFT, CorporateActionStatus.ANNOUNCED)


def _require_staff_perm(actor: Any, perm: str, doing: str) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise permission_denied(f"Only staff may {doing}.")
    if not actor.has_perm(perm):
        raise permission_denied(f"Your role may not {doing}.")


def _int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise invalid(f"{field} must be a whole number.", **{field: "A whole number."}) from exc
    return number


def _date(value: Any, field: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise invalid(f"{field} is not a date.", **{field: "Use YYYY-MM-DD."}) from exc


def _clean_field(field: str, value: Any) -> Any:
    if field in {"effective_date", "ex_date", "record_date", "pay_date"}:
        return _date(value, field)
    if field in {"amount_per_share", "cash_in_lieu_price", "new_tick_size"}:
        return _decimal(value, field, allow_none=True)
    if field in {"ratio_new", "ratio_old"}:
        return _int(value, field)
    if field in {"currency", "new_symbol"}:
        return (value or "").strip().upper()
    return (value or "").strip()


def corporate_action_validate(action: CorporateAction) -> None:
    """Check an unsaved action's terms against its kind and instrument, filling what follows
    from them (a dividend's ex-date and effective date, its currency, a symbol change's old
    symbol). Raises ``invalid`` naming every bad field; writes nothing."""
    from apps.instruments.selectors import ex_date_for

    errors: dict[str, str] = {}
    kind = action.kind
    if kind not in CorporateActionKind.values:
        raise invalid("Unknown kind.", kind=f"Choose one of: {', '.join(CorporateActionKind)}.")
    instrument = action.instrument
    for field in set(CORPORATE_ACTION_FIELDS) - _KIND_FIELDS[kind] - {"description"}:
        if field != "effective_date" and getattr(action, field) not in (None, ""):
            errors[field] = f"Not a term of a {CorporateActionKind(kind).label.lower()}."
    if kind == CorporateActionKind.CASH_DIVIDEND:
        action.currency = action.currency or instrument.currency
        if action.currency not in settings.CURRENCIES:
            errors["currency"] = f"Choose one of: {', '.join(sorted(settings.CURRENCIES))}."
        if action.amount_per_share is None or action.amount_per_share <= 0:
            errors["amount_per_share"] = "A positive amount per share is required."
        for field in ("record_date", "pay_date"):
            if getattr(action, field) is None:
                errors[field] = "This field is required."
        if action.record_date and action.pay_date:
            if action.pay_date <= action.record_date:
                errors["pay_date"] = "The pay date comes after the record date."
            expected = ex_date_for(instrument=instrument, record_date=action.record_date)
            if action.ex_date is None:
                action.ex_date = expected
            elif action.ex_date != expected:
                errors["ex_date"] = (
                    f"With T+{instrument.settlement_cycle} settlement the ex-date of a record "
                    f"date of {action.record_date} is {expected}: trades from then settle "
                    "after the record date."
                )
            action.effective_date = action.pay_date
    elif kind in SPLIT_KINDS:
        new, old = action.ratio_new, action.ratio_old
        if not new or not old or new < 1 or old < 1:
            errors["ratio_new"] = "Both sides of the ratio are whole numbers from 1."
        elif new == old:
            errors["ratio_new"] = "A 1-for-1 split changes nothing."
        elif kind == CorporateActionKind.SPLIT and new < old:
            errors["ratio_new"] = f"{new}-for-{old} gives fewer shares: a reverse split."
        elif kind == CorporateActionKind.REVERSE_SPLIT and new > old:
            errors["ratio_new"] = f"{new}-for-{old} gives more shares: a split."
        elif (new % old or instrument.lot_size < 1) and action.cash_in_lieu_price is None:
            errors["cash_in_lieu_price"] = (
                "Holdings may end with a fraction of a share: give the price paid for it."
            )
        if action.cash_in_lieu_price is not None and action.cash_in_lieu_price <= 0:
            errors["cash_in_lieu_price"] = "A positive price per post-split share."
        if action.new_tick_size is not None and action.new_tick_size <= 0:
            errors["new_tick_size"] = "The tick size must be greater than zero."
    else:
        action.new_symbol = (action.new_symbol or "").strip().upper()
        action.old_symbol = action.old_symbol or instrument.symbol
        if not SYMBOL_RE.match(action.new_symbol):
            errors["new_symbol"] = "Upper-case letters, digits, '.' and '-', at most 16 characters."
        elif action.new_symbol == instrument.symbol:
            errors["new_symbol"] = "That is the instrument's symbol already."
        elif Instrument.objects.filter(symbol=action.new_symbol).exclude(pk=instrument.pk).exists():
            errors["new_symbol"] = "Another instrument trades under this symbol."
    if action.effective_date is None and "effective_date" not in errors:
        errors["effective_date"] = "This field is required."
    if errors:
        raise invalid("The corporate action's terms are invalid.", **errors)


def _resolve_instrument(instrument: Instrument | None, symbol: str | None) -> Instrument:
    if instrument is not None:
        return instrument
    found = Instrument.objects.select_related("calendar").filter(
        symbol=(symbol or "").strip().upper()
    )
    if not found.exists():
        raise invalid("Unknown instrument.", symbol="No instrument has this symbol.")
    return found.get()


def corporate_action_declare(
    *,
    actor: Any,
    kind: str,
    instrument: Instrument | None = None,
    symbol: str | None = None,
    announce: bool = False,
    idempotency_key: str | None = None,
    enforce_permission: bool = True,
    **terms: Any,
) -> CorporateAction:
    """Enter a corporate action (draft, or announced to clients at once with ``announce``).

    ``terms`` are the fields of its kind (:data:`CORPORATE_ACTION_FIELDS`). A dividend's
    ex-date follows from its record date and the instrument's settlement cycle (given, it
    must match). Nothing changes on the books until another staff member approves it and it
    is processed. The same ``idempotency_key`` from the same staff member returns the first
    action. Raises ``invalid``, ``permission_denied``.
    """
    if enforce_permission:
        _require_staff_perm(actor, "instruments.add_corporateaction", "enter corporate actions")
    unknown = set(terms) - set(CORPORATE_ACTION_FIELDS)
    if unknown:
        raise invalid("Unknown terms.", **dict.fromkeys(sorted(unknown), "Unknown."))
    user = actor if getattr(actor, "pk", None) else None
    if idempotency_key and user is not None:
        first = CorporateAction.objects.filter(
            entered_by=user, idempotency_key=idempotency_key
        ).first()
        if first is not None:
            return first
    instrument = _resolve_instrument(instrument, symbol)
    if instrument.status == InstrumentStatus.DELISTED:
        raise invalid_state(f"{instrument.symbol} is delisted.", status=instrument.status)
    action = CorporateAction(
        instrument=instrument,
        kind=kind,
        entered_by=user,
        idempotency_key=idempotency_key if user is not None else None,
        **{field: _clean_field(field, value) for field, value in terms.items()},
    )
    corporate_action_validate(action)
    try:
        with transaction.atomic():
            if announce:
                action.announce()
                action.announced_at = _now()
            stamp(action, actor=actor, reason="Entered" + (" and announced" if announce else ""))
            action.save()
    except IntegrityError:
        if idempotency_key and user is not None:
            return CorporateAction.objects.get(entered_by=user, idempotency_key=idempotency_key)
        raise
    return action


def _locked_action(action: CorporateAction) -> CorporateAction:
    return (
        CorporateAction.objects.select_for_update(of=("self",))
        .select_related("instrument", "instrument__calendar")
        .get(pk=action.pk)
    )


def _refuse_action(action: CorporateAction, doing: str) -> ApplicationError:
    return invalid_state(
        f"{action.reference} is {action.status}; it can't be {doing}.",
        status=action.status,
        action=doing,
    )


def corporate_action_update(
    *,
    action: CorporateAction,
    actor: Any,
    reason: str,
    enforce_permission: bool = True,
    **fields: Any,
) -> CorporateAction:
    """Change the terms of a draft or announced action. The editor may not approve it
    afterwards (four-eyes covers the terms as approved). Raises ``invalid``,
    ``invalid_state`` once approved, processed or cancelled."""
    reason = _reason(reason)
    if enforce_permission:
        _require_staff_perm(actor, "instruments.change_corporateaction", "edit corporate actions")
    unknown = set(fields) - set(CORPORATE_ACTION_FIELDS)
    if unknown:
        raise invalid("These fields can't be changed.", **dict.fromkeys(sorted(unknown), "No."))
    with transaction.atomic():
        locked = _locked_action(action)
        if locked.status not in _EDITABLE_STATUSES:
            raise _refuse_action(locked, "edited")
        for field, value in fields.items():
            setattr(locked, field, _clean_field(field, value))
        if "record_date" in fields and "ex_date" not in fields:
            locked.ex_date = None  # follows the new record date
        corporate_action_validate(locked)
        locked.last_edited_by = actor if getattr(actor, "pk", None) else None
        stamp(locked, actor=actor, reason=reason)
        locked.save()
    return locked


def corporate_action_announce(
    *, action: CorporateAction, actor: Any, reason: str = "", enforce_permission: bool = True
) -> CorporateAction:
    """Publish a draft to clients (it shows on the instrument's page and in their upcoming
    dividends)."""
    if enforce_permission:
        _require_staff_perm(
            actor, "instruments.change_corporateaction", "announce corporate actions"
        )
    with transaction.atomic():
        locked = _locked_action(action)
        if not can_proceed(locked.announce):
            raise _refuse_action(locked, "announced")
        locked.announce()
        locked.announced_at = _now()
        stamp(locked, actor=actor, reason=(reason or "").strip() or "Announced")
        locked.save()
    return locked


def corporate_action_approve(
    *, action: CorporateAction, actor: Any, reason: str = "", enforce_permission: bool = True
) -> CorporateAction:
    """Four-eyes: a staff member holding ``instruments.approve_corporateaction`` who neither
    entered nor last edited the terms approves them; processing may run from the action's
    date. Raises ``permission_denied`` (same person, or no permission), ``invalid_state``."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise permission_denied("Only staff may approve corporate actions.")
    with transaction.atomic():
        locked = _locked_action(action)
        if not can_proceed(locked.approve):
            raise _refuse_action(locked, "approved")
        if enforce_permission and not has_transition_perm(locked.approve, actor):
            raise permission_denied("Your role may not approve corporate actions.")
        if actor.pk in (locked.entered_by_id, locked.last_edited_by_id):
            raise permission_denied(
                "You entered or edited this corporate action; a different staff member must "
                "approve it (four-eyes)."
            )
        corporate_action_validate(locked)  # the instrument may have changed since
        locked.approve()
        locked.approved_by = actor
        locked.approved_at = _now()
        if locked.announced_at is None:
            locked.announced_at = locked.approved_at
        stamp(locked, actor=actor, reason=(reason or "").strip() or "Approved")
        locked.save()
    return locked


def corporate_action_cancel(
    *, action: CorporateAction, actor: Any, reason: str, enforce_permission: bool = True
) -> CorporateAction:
    """Withdraw an action before it is processed. Raises ``invalid_state`` once processed."""
    reason = _reason(reason)
    if enforce_permission:
        _require_staff_perm(actor, "instruments.change_corporateaction", "cancel corporate actions")
    with transaction.atomic():
        locked = _locked_action(action)
        if not can_proceed(locked.cancel):
            raise _refuse_action(locked, "cancelled")
        locked.cancel()
        locked.cancelled_by = actor if getattr(actor, "pk", None) else None
        locked.cancelled_at = _now()
        locked.status_reason = reason
        stamp(locked, actor=actor, reason=reason)
        locked.save()
    return locked


def corporate_action_process(
    *,
    action: CorporateAction,
    actor: Any,
    reason: str = "",
    now: dt.datetime | None = None,
    enforce_permission: bool = True,
) -> CorporateAction:
    """Apply an approved action to the books, once its date has come (exchange time zone).

    Dividends: the holders of record are paid in one ledger batch (house cash -> client
    settled cash, tax withheld for tax non-residents into house withholding). Splits: open
    orders adjusted or cancelled under the book lock, securities buckets and positions and
    tax lots on the new basis, fractions paid in cash, the reference prices divided. Symbol
    changes: the instrument trades under its new symbol. Idempotent: an action already
    processed is returned as it is. Raises ``invalid_state`` (not approved, date not come,
    accounts that can't take a split yet), ``permission_denied``.
    """
    from apps.instruments.selectors import corporate_action_today

    if enforce_permission:
        _require_staff_perm(
            actor, "instruments.process_corporateaction", "process corporate actions"
        )
    now = now or _now()
    reason = (reason or "").strip() or "Processed"
    with transaction.atomic():
        locked = _locked_action(action)
        if locked.status == CorporateActionStatus.PROCESSED:
            return locked
        if locked.status != CorporateActionStatus.APPROVED:
            raise _refuse_action(locked, "processed")
        today = corporate_action_today(instrument=locked.instrument, now=now)
        if today < locked.effective_date:
            raise invalid_state(
                f"{locked.reference} takes effect on {locked.effective_date}; today is {today} "
                f"on {locked.instrument.calendar.code}.",
                effective_date=str(locked.effective_date),
            )
        if locked.kind == CorporateActionKind.CASH_DIVIDEND:
            summary = _dividend_pay(locked, actor=actor, now=now)
        elif locked.is_split:
            summary = _split_apply(locked, actor=actor, reason=reason, now=now)
        else:
            summary = _symbol_change_apply(locked, actor=actor)
        locked.process()
        locked.processed_by = actor if getattr(actor, "pk", None) else None
        locked.processed_at = _now()
        locked.summary = summary
        stamp(locked, actor=actor, reason=reason)
        locked.save()
        processed_id = locked.pk
        transaction.on_commit(
            lambda: corporate_action_processed.send(sender=CorporateAction, action_id=processed_id),
            robust=True,
        )
    return locked


def _qty_text(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"


def _cash_text(value: Decimal, currency: str) -> str:
    from apps.ledger.money import cash_text

    return cash_text(Decimal(value), currency)


def _settled_cash_accounts(accounts: dict[int, Any], currency: str) -> dict[int, Any]:
    """Trading account id -> its settled cash ledger account in ``currency`` (one query for
    those that exist, the ledger's service for the others)."""
    from apps.ledger.choices import Bucket
    from apps.ledger.models import LedgerAccount
    from apps.ledger.services import client_cash_account

    found = {
        row.owner_id: row
        for row in LedgerAccount.objects.filter(
            owner_id__in=list(accounts), currency=currency, bucket=Bucket.SETTLED
        )
    }
    for account_id, account in accounts.items():
        if account_id not in found:
            found[account_id] = client_cash_account(account, currency, Bucket.SETTLED)
    return found


def _cash_account(currency: str) -> Any:
    from apps.ledger.choices import HouseAccount
    from apps.ledger.services import house_account

    kind = settings.CORPORATE_ACTION_CASH_ACCOUNT
    if kind not in (HouseAccount.CUSTODY, HouseAccount.BANK):
        kind = HouseAccount.CUSTODY
    return house_account(kind, currency)


def _dividend_pay(action: CorporateAction, *, actor: Any, now: dt.datetime) -> dict[str, Any]:
    """Pay every holder of record in one ledger batch and record their entitlements."""
    from apps.accounts.models import TradingAccount
    from apps.instruments.selectors import dividend_line, holdings_of_record
    from apps.ledger.choices import HouseAccount
    from apps.ledger.services import EntrySpec, house_account, journal_post_batch

    instrument, currency = action.instrument, action.currency
    holdings = holdings_of_record(instrument=instrument, record_date=action.record_date, now=now)
    accounts = TradingAccount.objects.select_related("owner").in_bulk(list(holdings))
    rate = Decimal(str(settings.DIVIDEND_WITHHOLDING_RATE))
    source = _cash_account(currency)
    withheld_to = house_account(HouseAccount.WITHHOLDING, currency)
    cash_accounts = _settled_cash_accounts(accounts, currency)
    lines, entries = [], []
    for account_id in sorted(holdings):
        account = accounts[account_id]
        line = dividend_line(
            action=action, account=account, quantity=holdings[account_id], withholding_rate=rate
        )
        if not line.gross:
            continue
        postings = [(source, -line.gross)]
        if line.net:
            postings.append((cash_accounts[account_id], line.net))
        if line.withholding:
            postings.append((withheld_to, line.withholding))
        memo = (
            f"{instrument.symbol} dividend {action.amount_per_share.normalize():f} {currency} x "
            f"{line.quantity.normalize():f} shares"
            + (f", {line.withholding:f} tax withheld" if line.withholding else "")
        )
        lines.append(line)
        entries.append(
            EntrySpec(
                kind="dividend",
                postings=postings,
                memo=memo,
                reference=action.reference,
                idempotency_key=f"corporate_action:{action.pk}:dividend:{account_id}",
                actor=actor,
            )
        )
    posted = journal_post_batch(entries=entries)
    CorporateActionEntitlement.objects.bulk_create(
        [
            CorporateActionEntitlement(
                action=action,
                account_id=line.account_id,
                quantity=line.quantity,
                gross=line.gross,
                withholding=line.withholding,
                withholding_rate=line.withholding_rate,
                net=line.net,
                currency=currency,
                journal_entry_id=entry.pk,
            )
            for line, entry in zip(lines, posted, strict=True)
        ]
    )
    return {
        "accounts": len(lines),
        "shares": _qty_text(sum((line.quantity for line in lines), Decimal(0))),
        "gross": _cash_text(sum((line.gross for line in lines), Decimal(0)), currency),
        "withholding": _cash_text(sum((line.withholding for line in lines), Decimal(0)), currency),
        "net": _cash_text(sum((line.net for line in lines), Decimal(0)), currency),
        "currency": currency,
        "paid_from": source.house,
    }


def _split_apply(
    action: CorporateAction, *, actor: Any, reason: str, now: dt.datetime
) -> dict[str, Any]:
    """Orders, securities buckets, positions and lots, cash in lieu and reference prices on
    the post-split basis, in the caller's transaction."""
    from apps.accounts.models import TradingAccount
    from apps.instruments.selectors import _cash, security_holdings, split_buckets
    from apps.ledger.choices import Bucket, HouseAccount
    from apps.ledger.services import (
        EntrySpec,
        journal_post_batch,
        ledger_account_get,
    )
    from apps.orders.services import book_lock, orders_split_adjust
    from apps.positions.services import SplitAdjustment, positions_split

    book_lock(action.instrument_id)
    instrument = (
        Instrument.objects.select_for_update(of=("self",))
        .select_related("calendar")
        .get(pk=action.instrument_id)
    )
    tick = action.new_tick_size or instrument.tick_size
    policy = settings.CORPORATE_ACTION_OPEN_ORDERS.get(action.kind, "cancel")
    orders = orders_split_adjust(
        instrument=instrument,
        ratio=action.ratio,
        tick_size=tick,
        policy=policy,
        reference=action.reference,
        reason=f"{action.ratio_display} split of {instrument.symbol} ({action.reference})",
        actor=actor,
        now=now,
    )
    holdings = security_holdings(instrument=instrument, lock=True)
    by_id = {
        account.pk: (owner_id, bucket)
        for owner_id, buckets in holdings.items()
        for bucket, (account, _) in buckets.items()
    }
    balances = {
        owner_id: {bucket: value for bucket, (_, value) in buckets.items()}
        for owner_id, buckets in holdings.items()
    }
    for entry in orders.entries:  # holds of cancelled sell orders go back first
        for ledger_account, amount in entry.postings:
            if ledger_account.pk in by_id:
                owner_id, bucket = by_id[ledger_account.pk]
                balances[owner_id][bucket] += amount
    custody = ledger_account_get(
        house=HouseAccount.CUSTODY, instrument=instrument, bucket=Bucket.SETTLED
    )
    accounts = TradingAccount.objects.in_bulk(list(balances))
    price = action.cash_in_lieu_price
    adjustments, split_entries, in_lieu, blocked = [], [], [], []
    for owner_id in sorted(balances):
        target = split_buckets(
            action=action,
            lot_size=instrument.lot_size,
            balances=balances[owner_id],
            share_holds=orders.share_holds.get(owner_id, (Decimal(0), Decimal(0))),
        )
        if not target.before:
            continue
        if target.settled < 0:
            blocked.append(accounts[owner_id].number)
            continue
        if target.fraction and price is None:
            raise invalid_state(
                f"Holdings end with fractions of a share; {action.reference} needs a cash in "
                "lieu price.",
                cash_in_lieu_price="required",
            )
        proceeds = _cash(target.fraction * price, instrument.currency) if target.fraction else 0
        adjustments.append(
            SplitAdjustment(
                account_id=owner_id,
                quantity=target.before,
                new_quantity=target.after,
                fraction=target.fraction,
                proceeds=Decimal(proceeds),
            )
        )
        postings = []
        for bucket in (Bucket.SETTLED, Bucket.UNSETTLED, Bucket.RESERVED):
            change = getattr(target, bucket) - balances[owner_id].get(bucket, Decimal(0))
            if change:
                held = holdings[owner_id].get(bucket)
                ledger_account = (
                    held[0]
                    if held
                    else ledger_account_get(
                        owner=accounts[owner_id], instrument=instrument, bucket=bucket
                    )
                )
                postings.append((ledger_account, change))
        if target.after != target.before:
            postings.append((custody, target.before - target.after))
        if postings:
            split_entries.append(
                EntrySpec(
                    kind="split",
                    postings=postings,
                    memo=f"{instrument.symbol} {action.ratio_display} split: "
                    f"{target.before.normalize():f} -> {target.after.normalize():f} shares",
                    reference=action.reference,
                    idempotency_key=f"corporate_action:{action.pk}:split:{owner_id}",
                    actor=actor,
                )
            )
        if proceeds:
            in_lieu.append((owner_id, Decimal(proceeds), target.fraction))
    cash_source = _cash_account(instrument.currency)
    cash_accounts = _settled_cash_accounts(
        {owner_id: accounts[owner_id] for owner_id, _, _ in in_lieu}, instrument.currency
    )
    cash_entries = [
        EntrySpec(
            kind="cash_in_lieu",
            postings=[(cash_source, -proceeds), (cash_accounts[owner_id], proceeds)],
            memo=f"{instrument.symbol} {action.ratio_display} split: cash in lieu of "
            f"{fraction.normalize():f} shares at {price.normalize():f}",
            reference=action.reference,
            idempotency_key=f"corporate_action:{action.pk}:cash_in_lieu:{owner_id}",
            actor=actor,
        )
        for owner_id, proceeds, fraction in in_lieu
    ]
    if blocked:
        raise invalid_state(
            f"Trades still to settle bring some accounts more {instrument.symbol} than they "
            "hold after the split; process once they have settled.",
            accounts=blocked,
        )
    gains = positions_split(
        instrument_id=instrument.pk,
        ratio=action.ratio,
        lot_size=instrument.lot_size,
        adjustments=adjustments,
        on=action.effective_date,
        reference=action.reference,
        actor=actor,
    )
    posted = journal_post_batch(entries=[*orders.entries, *split_entries, *cash_entries])
    entry_ids = {entry.idempotency_key: entry.pk for entry in posted}
    CorporateActionEntitlement.objects.bulk_create(
        [
            CorporateActionEntitlement(
                action=action,
                account_id=a.account_id,
                quantity=a.quantity,
                new_quantity=a.new_quantity,
                fraction=a.fraction,
                gross=a.proceeds,
                net=a.proceeds,
                currency=instrument.currency,
                journal_entry_id=entry_ids.get(
                    f"corporate_action:{action.pk}:split:{a.account_id}"
                ),
            )
            for a in adjustments
        ]
    )
    _split_instrument_terms(instrument, action=action, tick=tick, actor=actor)
    return {
        "accounts": len(adjustments),
        "shares_before": _qty_text(sum((a.quantity for a in adjustments), Decimal(0))),
        "shares_after": _qty_text(sum((a.new_quantity for a in adjustments), Decimal(0))),
        "fractions": _qty_text(sum((a.fraction for a in adjustments), Decimal(0))),
        "cash_in_lieu": _cash_text(
            sum((a.proceeds for a in adjustments), Decimal(0)), instrument.currency
        ),
        "realized_gain": _qty_text(sum(gains.values(), Decimal(0))),
        "currency": instrument.currency,
        "order_policy": policy,
        "orders_adjusted": len(orders.adjusted),
        "orders_cancelled": len(orders.cancelled),
    }


def _split_instrument_terms(
    instrument: Instrument, *, action: CorporateAction, tick: Decimal, actor: Any
) -> None:
    """Reference price and previous close on the post-split basis (nearest tick), and the
    new tick size when the action sets one."""
    fields: dict[str, Any] = {}
    for field in ("reference_price", "previous_close"):
        value = getattr(instrument, field)
        if value is not None:
            down = action.split_price(value, tick, up=False)
            up = action.split_price(value, tick, up=True)
            exact = value * action.ratio_old / action.ratio_new
            nearest = up if up - exact <= exact - down else down
            fields[field] = nearest if nearest > 0 else tick
    if action.new_tick_size is not None:
        fields["tick_size"] = action.new_tick_size
    if fields:
        instrument_update(
            instrument=instrument,
            actor=actor,
            reason=f"{action.ratio_display} split ({action.reference})",
            **fields,
        )


def _symbol_change_apply(action: CorporateAction, *, actor: Any) -> dict[str, Any]:
    """The instrument trades under the new symbol; its id, history, positions, orders and
    ledger accounts stay."""
    from apps.orders.choices import OPEN_ORDER_STATUSES

    instrument = Instrument.objects.select_for_update(of=("self",)).get(pk=action.instrument_id)
    if Instrument.objects.filter(symbol=action.new_symbol).exclude(pk=instrument.pk).exists():
        raise invalid_state(
            f"Another instrument trades as {action.new_symbol} now.", new_symbol=action.new_symbol
        )
    action.old_symbol = instrument.symbol
    instrument.symbol = action.new_symbol
    fields = ["symbol", "updated_at"]
    if action.new_name:
        instrument.name = action.new_name
        fields.append("name")
    stamp(
        instrument,
        actor=actor,
        reason=f"Symbol change {action.old_symbol} -> {action.new_symbol} ({action.reference})",
    )
    try:
        with transaction.atomic():
            instrument.save(update_fields=fields)
    except IntegrityError as exc:
        raise invalid_state(f"Another instrument trades as {action.new_symbol} now.") from exc
    return {
        "old_symbol": action.old_symbol,
        "new_symbol": action.new_symbol,
        "positions": instrument.positions.filter(quantity__gt=0).count(),
        "open_orders": instrument.orders.filter(status__in=OPEN_ORDER_STATUSES).count(),
    }


def corporate_actions_process_due(*, now: dt.datetime | None = None) -> list[str]:
    """Process every approved action whose date has come on its exchange (the scheduler's
    job: dividends on their pay date, splits and symbol changes on their effective date).
    Returns the references processed; one that can't go on (e.g. a split waiting for trades
    to settle) is logged and left approved for the next run or for staff."""
    from apps.instruments.selectors import corporate_action_today

    now = now or _now()
    done = []
    due = CorporateAction.objects.filter(
        status=CorporateActionStatus.APPROVED,
        effective_date__lte=(now + dt.timedelta(days=1)).date(),
    ).select_related("instrument", "instrument__calendar")
    for action in due.order_by("effective_date", "pk"):
        if corporate_action_today(instrument=action.instrument, now=now) < action.effective_date:
            continue
        try:
            corporate_action_process(
                action=action,
                actor=None,
                reason=f"Processed on its date ({action.effective_date})",
                now=now,
                enforce_permission=False,
            )
        except ApplicationError as exc:
            logger.warning("Corporate action %s not processed: %s", action.reference, exc.message)
            continue
        done.append(action.reference)
    return done
