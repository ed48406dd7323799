"""Serializers of the settlement API: money and quantities as strings."""

from __future__ import annotations

from rest_framework import serializers

from apps.ledger.money import cash_text
from apps.settlement.choices import InstructionStatus
from apps.settlement.models import SettlementInstruction


class InstructionQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(required=False, help_text="One of your trading accounts.")
    status = serializers.ChoiceField(choices=InstructionStatus.choices, required=False)


class InstructionOutputSerializer(serializers.ModelSerializer):
    """One side of a trade as it settles: what the account receives (+) or delivers (-)."""

    account = serializers.IntegerField(source="account_id")
    account_number = serializers.CharField(source="account.number")
    symbol = serializers.CharField(source="instrument.symbol")
    quantity = serializers.SerializerMethodField()
    cash_amount = serializers.SerializerMethodField()

    class Meta:
        model = SettlementInstruction
        fields = [
            "id",
            "trade_id",
            "account",
            "account_number",
            "symbol",
            "side",
            "quantity",
            "cash_amount",
            "currency",
            "trade_date",
            "settlement_date",
            "status",
            "status_reason",
            "fail_code",
            "days_failing",
            "settled_at",
        ]
        read_only_fields = fields

    def get_quantity(self, obj: SettlementInstruction) -> str:
        """Shares received (+) or delivered (-)."""
        return f"{obj.quantity.normalize():f}"

    def get_cash_amount(self, obj: SettlementInstruction) -> str:
        """Cash received (+, a sale's proceeds net of fees) or paid (-, a purchase with fees)."""
        return cash_text(obj.cash_amount, obj.currency)
