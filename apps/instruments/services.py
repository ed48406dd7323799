"""Writes of the instruments app: one function per business action, each in a transaction.

Instruments: create, update, set the reference price, and the status machine (halt, resume,
suspend, reinstate, delist) with a halt record per halt. Calendars: create, update, and the
closures staff add. Every write names its actor and reason in the audit trail.
"""

from __future__ import annotations

import datetime as dt
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
    AssetClass,
    ClosureKind,
    HaltKind,
)
from apps.instruments.identifiers import (
    CUSIP_COUNTRIES,
    IdentifierError,
    cusip_from_isin,
    normalize_cusip,
    normalize_isin,
)
from apps.instruments.models import CalendarClosure, Instrument, InstrumentHalt, TradingCalendar
from apps.instruments.schedule import supported_sources

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
