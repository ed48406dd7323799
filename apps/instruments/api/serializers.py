from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.instruments import selectors
from apps.instruments.choices import (
    AssetClass,
    ClosureKind,
    HaltKind,
    MarketState,
)
from apps.instruments.models import CalendarClosure, Instrument, InstrumentHalt, TradingCalendar

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
