from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.instruments import selectors
from apps.instruments.choices import (
    AssetClass,
    ClosureKind,
    CorporateActionKind,
    CorporateActionStatus,
    HaltKind,
    MarketState,
)
from apps.instruments.models import (
    CalendarClosure,
    CorporateAction,
    CorporateActionEntitlement,
    Instrument,
    InstrumentHalt,
    TradingCalendar,
)

PRICE = {"max_digits": 20, "decimal_places": 8}


class HaltOutputSerializer(serializers.ModelSerializer):
    reason = serializers.CharField(source="halt_reason")
    since = serializers.DateTimeField(source="started_at")

    class Meta:
        model = InstrumentHalt
        fields = ["kind", "reason", "since", "resume_at"]
        read_only_fields = fields


class HaltHistoryOutputSerializer(serializers.ModelSerializer):
    reason = serializers.CharField(source="halt_reason")
    started_by = serializers.EmailField(source="started_by.email", default=None)
    ended_by = serializers.EmailField(source="ended_by.email", default=None)

    class Meta:
        model = InstrumentHalt
        fields = [
            "id",
            "kind",
            "reason",
            "started_at",
            "started_by",
            "resume_at",
            "ended_at",
            "ended_by",
            "end_reason",
        ]
        read_only_fields = fields


class SessionOutputSerializer(serializers.Serializer):
    date = serializers.DateField()
    pre_open_at = serializers.DateTimeField(allow_null=True)
    open_at = serializers.DateTimeField()
    close_at = serializers.DateTimeField()
    early_close = serializers.BooleanField()
    late_open = serializers.BooleanField()
    note = serializers.CharField()


class InstrumentOutputSerializer(serializers.ModelSerializer):
    """An instrument as clients see it, with its market state now and any open halt."""

    calendar = serializers.CharField(source="calendar.code")
    market_state = serializers.SerializerMethodField()
    halt = serializers.SerializerMethodField()
    price_band = serializers.SerializerMethodField()

    class Meta:
        model = Instrument
        fields = [
            "symbol",
            "name",
            "asset_class",
            "currency",
            "isin",
            "cusip",
            "tick_size",
            "lot_size",
            "min_quantity",
            "price_band_pct",
            "price_band",
            "reference_price",
            "previous_close",
            "settlement_cycle",
            "calendar",
            "accredited_only",
            "status",
            "market_state",
            "halt",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=MarketState.choices))
    def get_market_state(self, obj: Instrument) -> str:
        return selectors.market_state(instrument=obj, at=self.context.get("at"))

    @extend_schema_field(HaltOutputSerializer(allow_null=True))
    def get_halt(self, obj: Instrument) -> dict[str, Any] | None:
        halt = selectors.current_halt(obj)
        return HaltOutputSerializer(halt).data if halt else None

    @extend_schema_field(
        serializers.DictField(child=serializers.DecimalField(**PRICE), allow_null=True)
    )
    def get_price_band(self, obj: Instrument) -> dict[str, str] | None:
        band = obj.price_band()
        return {"low": str(band[0]), "high": str(band[1])} if band else None


class InstrumentDetailOutputSerializer(InstrumentOutputSerializer):
    """One instrument with its calendar and the session in progress or next."""

    calendar_name = serializers.CharField(source="calendar.name")
    timezone = serializers.CharField(source="calendar.timezone")
    next_session = serializers.SerializerMethodField()
    reference_price_at = serializers.DateTimeField()

    class Meta(InstrumentOutputSerializer.Meta):
        fields = [
            *InstrumentOutputSerializer.Meta.fields,
            "calendar_name",
            "timezone",
            "next_session",
            "reference_price_at",
        ]
        read_only_fields = fields

    @extend_schema_field(SessionOutputSerializer)
    def get_next_session(self, obj: Instrument) -> dict[str, Any]:
        session = selectors.instrument_next_session(
            instrument=obj, after=self.context.get("at") or timezone.now()
        )
        return SessionOutputSerializer(session).data


class InstrumentBackofficeOutputSerializer(InstrumentDetailOutputSerializer):
    class Meta(InstrumentDetailOutputSerializer.Meta):
        fields = [
            "id",
            *InstrumentDetailOutputSerializer.Meta.fields,
            "status_reason",
            "status_changed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def _decimal(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(**PRICE, **kwargs)


class InstrumentCreateInputSerializer(serializers.Serializer):
    symbol = serializers.CharField(max_length=16)
    name = serializers.CharField(max_length=200)
    asset_class = serializers.ChoiceField(choices=AssetClass.choices)
    currency = serializers.CharField(max_length=3, required=False)
    tick_size = _decimal(required=False)
    lot_size = _decimal(required=False)
    min_quantity = _decimal(required=False)
    price_band_pct = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    reference_price = _decimal(required=False, allow_null=True)
    previous_close = _decimal(required=False, allow_null=True)
    settlement_cycle = serializers.IntegerField(min_value=0, max_value=10, required=False)
    calendar = serializers.CharField(max_length=16)
    isin = serializers.CharField(max_length=16, required=False, allow_blank=True)
    cusip = serializers.CharField(max_length=12, required=False, allow_blank=True)
    accredited_only = serializers.BooleanField(required=False)


class InstrumentUpdateInputSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3, max_length=1000)
    name = serializers.CharField(max_length=200, required=False)
    tick_size = _decimal(required=False)
    lot_size = _decimal(required=False)
    min_quantity = _decimal(required=False)
    price_band_pct = serializers.DecimalField(max_digits=5, decimal_places=2, required=False)
    reference_price = _decimal(required=False, allow_null=True)
    previous_close = _decimal(required=False, allow_null=True)
    settlement_cycle = serializers.IntegerField(min_value=0, max_value=10, required=False)
    calendar = serializers.CharField(max_length=16, required=False)
    isin = serializers.CharField(max_length=16, required=False, allow_blank=True)
    cusip = serializers.CharField(max_length=12, required=False, allow_blank=True)
    accredited_only = serializers.BooleanField(required=False)


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3, max_length=1000)


class HaltInputSerializer(ReasonInputSerializer):
    kind = serializers.ChoiceField(choices=HaltKind.choices, default=HaltKind.OTHER)
    resume_at = serializers.DateTimeField(required=False, allow_null=True)


class InstrumentStatusOutputSerializer(serializers.ModelSerializer):
    market_state = serializers.SerializerMethodField()
    halt = serializers.SerializerMethodField()

    class Meta:
        model = Instrument
        fields = ["symbol", "status", "status_reason", "status_changed_at", "market_state", "halt"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=MarketState.choices))
    def get_market_state(self, obj: Instrument) -> str:
        return selectors.market_state(instrument=obj)

    @extend_schema_field(HaltOutputSerializer(allow_null=True))
    def get_halt(self, obj: Instrument) -> dict[str, Any] | None:
        halt = selectors.current_halt(obj)
        return HaltOutputSerializer(halt).data if halt else None


class CalendarOutputSerializer(serializers.ModelSerializer):
    trading_days = serializers.CharField(source="trading_days_display")

    class Meta:
        model = TradingCalendar
        fields = [
            "code",
            "name",
            "timezone",
            "trading_days",
            "round_the_clock",
            "pre_open_time",
            "open_time",
            "close_time",
            "early_close_time",
            "holiday_source",
        ]
        read_only_fields = fields


class SpecialDayOutputSerializer(serializers.Serializer):
    date = serializers.DateField()
    kind = serializers.ChoiceField(choices=ClosureKind.choices)
    reason = serializers.CharField()
    open_time = serializers.TimeField(allow_null=True)
    close_time = serializers.TimeField(allow_null=True)
    added_by_staff = serializers.BooleanField()


class CalendarDetailOutputSerializer(CalendarOutputSerializer):
    sessions = serializers.SerializerMethodField()
    special_days = serializers.SerializerMethodField()

    class Meta(CalendarOutputSerializer.Meta):
        fields = [*CalendarOutputSerializer.Meta.fields, "sessions", "special_days"]
        read_only_fields = fields

    @extend_schema_field(SessionOutputSerializer(many=True))
    def get_sessions(self, obj: TradingCalendar) -> list[dict[str, Any]]:
        return SessionOutputSerializer(
            selectors.upcoming_sessions(calendar=obj, count=5), many=True
        ).data

    @extend_schema_field(SpecialDayOutputSerializer(many=True))
    def get_special_days(self, obj: TradingCalendar) -> list[dict[str, Any]]:
        start = selectors.trade_date(calendar=obj)
        days = selectors.special_days(calendar=obj, start=start, end=start + timedelta(days=365))
        return SpecialDayOutputSerializer(
            [
                {
                    "date": day,
                    "kind": closure.kind,
                    "reason": closure.reason,
                    "open_time": closure.open_time,
                    "close_time": closure.close_time,
                    "added_by_staff": closure.staff,
                }
                for day, closure in days
            ],
            many=True,
        ).data


class ClosureInputSerializer(serializers.Serializer):
    date = serializers.DateField()
    kind = serializers.ChoiceField(choices=ClosureKind.choices, default=ClosureKind.CLOSED)
    open_time = serializers.TimeField(required=False, allow_null=True)
    close_time = serializers.TimeField(required=False, allow_null=True)
    reason = serializers.CharField(min_length=3, max_length=200)


class ClosureOutputSerializer(serializers.ModelSerializer):
    calendar = serializers.CharField(source="calendar.code")
    reason = serializers.CharField(source="description")
    created_by = serializers.EmailField(source="created_by.email", default=None)

    class Meta:
        model = CalendarClosure
        fields = [
            "calendar",
            "date",
            "kind",
            "open_time",
            "close_time",
            "reason",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


# --- Corporate actions ----------------------------------------------------------------------


def _plain(value: Decimal | None) -> str | None:
    """A quantity or price as a string without trailing zeros ("151", "0.5", "66.67")."""
    if value is None:
        return None
    return f"{value.normalize():f}"


def _money(value: Decimal | None, currency: str) -> str | None:
    from apps.ledger.money import cash_text

    return None if value is None else cash_text(value, currency)


_DECIMAL_STRING = {"type": "string", "format": "decimal", "example": "0.25"}


@extend_schema_field(_DECIMAL_STRING)
class PlainDecimalField(serializers.Field):
    """A Decimal rendered as a plain string, trailing zeros dropped (read only)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal) -> str | None:
        return _plain(value)


@extend_schema_field(_DECIMAL_STRING)
class MoneyField(serializers.Field):
    """Cash in its currency's minor unit; the currency comes from ``currency_from`` of the
    same object (read only)."""

    def __init__(self, *, currency_from: str = "currency", **kwargs: Any) -> None:
        kwargs["read_only"] = True
        self.currency_from = currency_from
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> Any:
        from operator import attrgetter

        return super().get_attribute(instance), attrgetter(self.currency_from)(instance)

    def to_representation(self, value: Any) -> str | None:
        amount, currency = value
        return _money(amount, currency)


class CorporateActionOutputSerializer(serializers.ModelSerializer):
    """A corporate action as clients see it: kind, terms and dates."""

    reference = serializers.CharField(read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    terms = serializers.CharField(source="terms_display", read_only=True)
    amount_per_share = PlainDecimalField(allow_null=True)
    cash_in_lieu_price = PlainDecimalField(allow_null=True)
    ratio = serializers.CharField(source="ratio_display", read_only=True)

    class Meta:
        model = CorporateAction
        fields = [
            "id",
            "reference",
            "symbol",
            "kind",
            "status",
            "description",
            "terms",
            "effective_date",
            "ex_date",
            "record_date",
            "pay_date",
            "amount_per_share",
            "currency",
            "ratio",
            "ratio_new",
            "ratio_old",
            "cash_in_lieu_price",
            "old_symbol",
            "new_symbol",
            "new_name",
            "announced_at",
            "processed_at",
        ]
        read_only_fields = fields


class CorporateActionBackofficeOutputSerializer(CorporateActionOutputSerializer):
    instrument_id = serializers.IntegerField(read_only=True)
    new_tick_size = PlainDecimalField(allow_null=True)
    entered_by = serializers.EmailField(source="entered_by.email", default=None, read_only=True)
    last_edited_by = serializers.EmailField(
        source="last_edited_by.email", default=None, read_only=True
    )
    approved_by = serializers.EmailField(source="approved_by.email", default=None, read_only=True)
    processed_by = serializers.EmailField(source="processed_by.email", default=None, read_only=True)

    class Meta(CorporateActionOutputSerializer.Meta):
        fields = [
            *CorporateActionOutputSerializer.Meta.fields,
            "instrument_id",
            "new_tick_size",
            "entered_by",
            "entered_at",
            "last_edited_by",
            "approved_by",
            "approved_at",
            "processed_by",
            "cancelled_at",
            "status_reason",
            "summary",
        ]
        read_only_fields = fields


class _CorporateActionTermsSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    effective_date = serializers.DateField(required=False, allow_null=True)
    ex_date = serializers.DateField(required=False, allow_null=True)
    record_date = serializers.DateField(required=False, allow_null=True)
    pay_date = serializers.DateField(required=False, allow_null=True)
    amount_per_share = serializers.DecimalField(**PRICE, required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    ratio_new = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    ratio_old = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    cash_in_lieu_price = serializers.DecimalField(**PRICE, required=False, allow_null=True)
    new_tick_size = serializers.DecimalField(**PRICE, required=False, allow_null=True)
    new_symbol = serializers.CharField(max_length=16, required=False, allow_blank=True)
    new_name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class CorporateActionDeclareInputSerializer(_CorporateActionTermsSerializer):
    """Enter a corporate action. Dividends: record_date, pay_date, amount_per_share
    (currency: the instrument's unless given; ex_date follows from the record date).
    Splits: ratio_new for ratio_old, effective_date, cash_in_lieu_price when fractions can
    arise. Symbol changes: new_symbol (new_name), effective_date."""

    kind = serializers.ChoiceField(choices=CorporateActionKind.choices)
    symbol = serializers.CharField(max_length=16)
    announce = serializers.BooleanField(default=False)


class CorporateActionUpdateInputSerializer(_CorporateActionTermsSerializer):
    """Change the terms of a draft or announced action (with a reason)."""

    reason = serializers.CharField(min_length=3, max_length=1000)


class CorporateActionReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class CorporateActionStatusQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CorporateActionStatus.choices, required=False)
    kind = serializers.ChoiceField(choices=CorporateActionKind.choices, required=False)
    symbol = serializers.CharField(max_length=16, required=False)


class EntitlementLineOutputSerializer(serializers.Serializer):
    account_id = serializers.IntegerField()
    account_number = serializers.CharField()
    holder = serializers.EmailField()
    non_resident = serializers.BooleanField()
    quantity = PlainDecimalField()
    new_quantity = PlainDecimalField(allow_null=True)
    fraction = PlainDecimalField()
    gross = MoneyField()
    withholding_rate = PlainDecimalField()
    withholding = MoneyField()
    net = MoneyField()
    currency = serializers.CharField()
    blocked = serializers.CharField()


class CorporateActionPreviewOutputSerializer(serializers.Serializer):
    """What processing would do now (nothing is written)."""

    as_of = serializers.DateTimeField()
    basis = serializers.CharField()
    open_orders = serializers.IntegerField()
    orders_cancelled = serializers.IntegerField()
    order_policy = serializers.CharField()
    problems = serializers.ListField(child=serializers.CharField())
    accounts = serializers.SerializerMethodField()
    total_quantity = PlainDecimalField()
    total_fraction = PlainDecimalField()
    total_gross = serializers.SerializerMethodField()
    total_withholding = serializers.SerializerMethodField()
    total_net = serializers.SerializerMethodField()
    lines = EntitlementLineOutputSerializer(many=True)

    def _currency(self, preview: Any) -> str:
        action = preview.action
        return action.currency or action.instrument.currency

    def get_accounts(self, preview: Any) -> int:
        return len(preview.lines)

    @extend_schema_field(_DECIMAL_STRING)
    def get_total_gross(self, preview: Any) -> str | None:
        return _money(preview.total_gross, self._currency(preview))

    @extend_schema_field(_DECIMAL_STRING)
    def get_total_withholding(self, preview: Any) -> str | None:
        return _money(preview.total_withholding, self._currency(preview))

    @extend_schema_field(_DECIMAL_STRING)
    def get_total_net(self, preview: Any) -> str | None:
        return _money(preview.total_net, self._currency(preview))


class EntitlementOutputSerializer(serializers.ModelSerializer):
    """What one account received from a processed action."""

    account_number = serializers.CharField(source="account.number", read_only=True)
    quantity = PlainDecimalField()
    new_quantity = PlainDecimalField(allow_null=True)
    fraction = PlainDecimalField()
    gross = MoneyField()
    withholding_rate = PlainDecimalField()
    withholding = MoneyField()
    net = MoneyField()

    class Meta:
        model = CorporateActionEntitlement
        fields = [
            "id",
            "account",
            "account_number",
            "quantity",
            "new_quantity",
            "fraction",
            "gross",
            "withholding_rate",
            "withholding",
            "net",
            "currency",
            "journal_entry_id",
            "created_at",
        ]
        read_only_fields = fields


class DividendOutputSerializer(serializers.ModelSerializer):
    """A dividend paid to one of the client's accounts."""

    reference = serializers.CharField(source="action.reference", read_only=True)
    symbol = serializers.CharField(source="action.symbol", read_only=True)
    description = serializers.CharField(source="action.description", read_only=True)
    ex_date = serializers.DateField(source="action.ex_date", read_only=True)
    record_date = serializers.DateField(source="action.record_date", read_only=True)
    pay_date = serializers.DateField(source="action.pay_date", read_only=True)
    shares = PlainDecimalField(source="quantity")
    amount_per_share = PlainDecimalField(source="action.amount_per_share")
    gross = MoneyField()
    withholding_rate = PlainDecimalField()
    withholding = MoneyField()
    net = MoneyField()

    class Meta:
        model = CorporateActionEntitlement
        fields = [
            "id",
            "reference",
            "account",
            "symbol",
            "description",
            "ex_date",
            "record_date",
            "pay_date",
            "shares",
            "amount_per_share",
            "currency",
            "gross",
            "withholding_rate",
            "withholding",
            "net",
        ]
        read_only_fields = fields


class DividendQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(required=False)
