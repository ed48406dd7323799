"""Serializers of the executions API: a client's fills, one per side of each trade."""

from __future__ import annotations

from rest_framework import serializers

from apps.matching.models import Fill, TradeStatus
from apps.orders.api.fields import CashField, PriceField, QuantityField, cash_text
from apps.orders.choices import OrderSide


class TradeQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(required=False)
    symbol = serializers.CharField(max_length=16, required=False)
    order = serializers.IntegerField(required=False)


class ExecutionOutputSerializer(serializers.ModelSerializer):
    """One of your executions: the fill of your order in a trade."""

    trade_id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    symbol = serializers.CharField(source="instrument.symbol")
    currency = serializers.CharField(source="instrument.currency")
    side = serializers.ChoiceField(choices=OrderSide.choices)
    price = PriceField()
    quantity = QuantityField()
    notional = CashField()
    fee = CashField()
    net_amount = serializers.SerializerMethodField(
        help_text="Cash for this execution: -(notional + fee) for a buy, notional - fee for a sell."
    )
    status = serializers.ChoiceField(source="trade.status", choices=TradeStatus.choices)

    class Meta:
        model = Fill
        fields = [
            "id",
            "trade_id",
            "order_id",
            "account",
            "symbol",
            "currency",
            "side",
            "liquidity",
            "price",
            "quantity",
            "notional",
            "fee",
            "net_amount",
            "trade_date",
            "settlement_date",
            "executed_at",
            "status",
        ]
        read_only_fields = fields

    def get_net_amount(self, fill: Fill) -> str:
        amount = (
            -(fill.notional + fill.fee) if fill.side == OrderSide.BUY else fill.notional - fill.fee
        )
        return cash_text(amount, fill.instrument.currency)
