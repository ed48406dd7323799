"""Serializers of the orders API: what a client sends to place, preview and change an order,
and how orders and their fills are rendered (money and quantities as strings)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.matching.models import Fill
from apps.orders.api.fields import CashField, PriceField, QuantityField, cash_text, quantity_text
from apps.orders.choices import CancelSource, OrderSide, OrderStatus, OrderType, TimeInForce
from apps.orders.models import Order

DECIMAL_INPUT = {"max_digits": 24, "decimal_places": 8}
STATUS_FILTERS = [("open", "Any open status"), *OrderStatus.choices]


class OrderInputSerializer(serializers.Serializer):
    account = serializers.IntegerField(help_text="Id of one of your trading accounts.")
    symbol = serializers.CharField(max_length=16)
    side = serializers.ChoiceField(choices=OrderSide.choices)
    type = serializers.ChoiceField(choices=OrderType.choices)
    quantity = serializers.DecimalField(**DECIMAL_INPUT)
    limit_price = serializers.DecimalField(**DECIMAL_INPUT, required=False, allow_null=True)
    stop_price = serializers.DecimalField(**DECIMAL_INPUT, required=False, allow_null=True)
    time_in_force = serializers.ChoiceField(choices=TimeInForce.choices, default=TimeInForce.DAY)
    expire_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="GTD orders only."
    )
    client_order_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Your id for the order: sending it again returns the same order.",
    )
    lot_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=200,
        help_text="Sell only: the tax lots to sell first (GET /positions/{id}/lots).",
    )


class OrderChangeInputSerializer(serializers.Serializer):
    quantity = serializers.DecimalField(**DECIMAL_INPUT, required=False)
    limit_price = serializers.DecimalField(**DECIMAL_INPUT, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give a new quantity, limit_price or both.")
        return attrs


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class StaffCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class OrderQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUS_FILTERS, required=False)
    symbol = serializers.CharField(max_length=16, required=False)
    account = serializers.IntegerField(required=False)


class FillOutputSerializer(serializers.ModelSerializer):
    trade_id = serializers.IntegerField()
    price = PriceField()
    quantity = QuantityField()
    notional = CashField()
    fee = CashField()

    class Meta:
        model = Fill
        fields = [
            "id",
            "trade_id",
            "price",
            "quantity",
            "notional",
            "fee",
            "liquidity",
            "executed_at",
            "trade_date",
            "settlement_date",
        ]
        read_only_fields = fields


class OrderOutputSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")
    account_number = serializers.CharField(source="account.number")
    symbol = serializers.CharField(source="instrument.symbol")
    currency = serializers.CharField(source="instrument.currency")
    side = serializers.ChoiceField(choices=OrderSide.choices)
    type = serializers.ChoiceField(choices=OrderType.choices)
    time_in_force = serializers.ChoiceField(choices=TimeInForce.choices)
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    cancel_source = serializers.ChoiceField(choices=CancelSource.choices, allow_blank=True)
    quantity = QuantityField()
    filled_quantity = QuantityField()
    leaves_quantity = QuantityField()
    limit_price = PriceField()
    stop_price = PriceField()
    average_price = PriceField()
    notional_filled = CashField()
    fees = CashField()
    reserved = serializers.SerializerMethodField(
        help_text="The hold still reserved: cash for a buy, shares for a sell."
    )
    lot_ids = serializers.ListField(child=serializers.IntegerField())

    class Meta:
        model = Order
        fields = [
            "id",
            "account",
            "account_number",
            "symbol",
            "currency",
            "side",
            "type",
            "status",
            "quantity",
            "filled_quantity",
            "leaves_quantity",
            "limit_price",
            "stop_price",
            "average_price",
            "notional_filled",
            "fees",
            "reserved",
            "time_in_force",
            "expire_at",
            "expires_at",
            "client_order_id",
            "lot_ids",
            "cancel_source",
            "status_reason",
            "reject_reason",
            "created_at",
            "updated_at",
            "done_at",
        ]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "format": "decimal"})
    def get_reserved(self, order: Order) -> str | None:
        if order.side == OrderSide.BUY:
            return cash_text(order.reserved, order.instrument.currency)
        return quantity_text(order.reserved, order.instrument)


class OrderDetailOutputSerializer(OrderOutputSerializer):
    fills = FillOutputSerializer(many=True, read_only=True)

    class Meta(OrderOutputSerializer.Meta):
        fields = [*OrderOutputSerializer.Meta.fields, "fills"]
        read_only_fields = fields


class OrderBackofficeOutputSerializer(OrderOutputSerializer):
    owner = serializers.EmailField(source="account.owner.email")
    placed_by = serializers.EmailField(source="placed_by.email", default=None)

    class Meta(OrderOutputSerializer.Meta):
        fields = [*OrderOutputSerializer.Meta.fields, "owner", "placed_by", "sequence"]
        read_only_fields = fields


class OrderErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class OrderPreviewOutputSerializer(serializers.Serializer):
    """What the order would cost and hold, and the first rule that would refuse it (``error``,
    null when it would be accepted)."""

    accepted = serializers.BooleanField(help_text="Whether the order would be accepted now.")
    error = OrderErrorSerializer(allow_null=True)
    account = serializers.IntegerField()
    symbol = serializers.CharField()
    currency = serializers.CharField()
    side = serializers.ChoiceField(choices=OrderSide.choices)
    type = serializers.ChoiceField(choices=OrderType.choices)
    quantity = serializers.CharField()
    price = serializers.CharField(
        allow_null=True, help_text="The price the estimate uses: the limit, or the market collar."
    )
    protection_price = serializers.CharField(allow_null=True)
    notional = serializers.CharField()
    fee = serializers.CharField()
    estimated_cost = serializers.CharField(
        allow_null=True, help_text="Buy: notional + fee, what the order holds."
    )
    estimated_proceeds = serializers.CharField(
        allow_null=True, help_text="Sell: notional - fee, at the estimate's price."
    )
    hold = serializers.CharField(help_text="Cash (buy) or shares (sell) the order would reserve.")
    buying_power = serializers.CharField(allow_null=True)
    buying_power_after = serializers.CharField(allow_null=True)
    available_quantity = serializers.CharField(allow_null=True)
    queued = serializers.BooleanField(
        help_text="The market is closed: the order would wait for the next session."
    )
    expires_at = serializers.DateTimeField(allow_null=True)
