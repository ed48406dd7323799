"""Serializers of the positions API: valued positions, tax lots, the portfolio, securities
transfers and reconciliation breaks (money and quantities as strings)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.ledger.money import minor_unit
from apps.orders.api.fields import (
    DECIMAL_SCHEMA,
    CashField,
    PriceField,
    QuantityField,
    cash_text,
    decimal_text,
    quantity_text,
)
from apps.positions.models import (
    LotSource,
    ReconciliationBreak,
    SecuritiesTransfer,
    TaxLot,
    TransferStatus,
)
from apps.positions.selectors import Mark, lot_term

DECIMAL_INPUT = {"max_digits": 24, "decimal_places": 8}


class PositionQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(required=False)
    symbol = serializers.CharField(max_length=16, required=False)
    include_closed = serializers.BooleanField(required=False, default=False)


class AccountQuerySerializer(serializers.Serializer):
    account = serializers.IntegerField(
        required=False, help_text="Needed when you have more than one account."
    )


class LotQuerySerializer(serializers.Serializer):
    include_closed = serializers.BooleanField(required=False, default=False)


class PositionOutputSerializer(serializers.Serializer):
    """A position valued now (:class:`apps.positions.selectors.Valuation`)."""

    id = serializers.IntegerField(source="position.pk")
    account = serializers.IntegerField(source="position.account_id")
    account_number = serializers.CharField(source="position.account.number")
    symbol = serializers.CharField(source="instrument.symbol")
    name = serializers.CharField(source="instrument.name")
    asset_class = serializers.CharField(source="instrument.asset_class")
    currency = serializers.CharField()
    quantity = QuantityField(source="position.quantity")
    settled_quantity = QuantityField(source="position.settled_quantity")
    pending_settlement_quantity = serializers.SerializerMethodField(
        help_text="quantity - settled_quantity: shares still to be received (positive) or "
        "delivered (negative) by trades that have not settled yet."
    )
    available_quantity = QuantityField(help_text="What you can sell now.")
    reserved_quantity = QuantityField(help_text="Held for your open sell orders.")
    average_cost = PriceField(source="position.average_cost")
    cost_basis = CashField(source="position.cost_basis", unit_from="currency")
    price = PriceField(source="mark.price", help_text="The price the position is valued at.")
    price_source = serializers.CharField(
        source="mark.source", help_text="`last` trade, else the `reference` price."
    )
    previous_close = PriceField(source="instrument.previous_close")
    market_value = CashField(unit_from="currency")
    unrealized_pnl = CashField(unit_from="currency")
    unrealized_pnl_pct = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True, read_only=True
    )
    day_pnl = CashField(unit_from="currency")
    realized_pnl = CashField(unit_from="currency")
    realized_short_term = CashField(source="position.realized_short_term", unit_from="currency")
    realized_long_term = CashField(source="position.realized_long_term", unit_from="currency")
    total_pnl = CashField(unit_from="currency")
    opened_at = serializers.DateTimeField(source="position.opened_at")
    updated_at = serializers.DateTimeField(source="position.updated_at")

    @extend_schema_field(DECIMAL_SCHEMA)
    def get_pending_settlement_quantity(self, valuation) -> str:
        position = valuation.position
        return quantity_text(position.quantity - position.settled_quantity, position.instrument)


class PortfolioOutputSerializer(serializers.Serializer):
    account = serializers.IntegerField(source="account.pk")
    account_number = serializers.CharField(source="account.number")
    currency = serializers.CharField()
    total_value = CashField(unit_from="currency", help_text="cash + positions_value")
    cash = CashField(unit_from="currency", help_text="Settled + unsettled + reserved cash.")
    cash_settled = CashField(unit_from="currency")
    cash_unsettled = CashField(unit_from="currency")
    cash_reserved = CashField(unit_from="currency")
    buying_power = CashField(unit_from="currency")
    positions_value = CashField(unit_from="currency")
    day_pnl = CashField(unit_from="currency")
    unrealized_pnl = CashField(unit_from="currency")
    realized_pnl = CashField(unit_from="currency")
    total_pnl = CashField(unit_from="currency", help_text="unrealized_pnl + realized_pnl")
    as_of = serializers.DateTimeField()
    positions = PositionOutputSerializer(source="open_valuations", many=True)


class LotOutputSerializer(serializers.ModelSerializer):
    """A tax lot; ``market_value`` and ``unrealized_pnl`` at the position's price now."""

    original_quantity = QuantityField(unit_from="position.instrument")
    quantity = QuantityField(unit_from="position.instrument")
    cost = CashField(unit_from="position.instrument.currency")
    cost_per_share = serializers.SerializerMethodField()
    source = serializers.ChoiceField(choices=LotSource.choices)
    term = serializers.SerializerMethodField(
        help_text="`long` when sold today it would be held more than a year."
    )
    market_value = serializers.SerializerMethodField()
    unrealized_pnl = serializers.SerializerMethodField()

    class Meta:
        model = TaxLot
        fields = [
            "id",
            "acquired_on",
            "source",
            "source_reference",
            "original_quantity",
            "quantity",
            "cost",
            "cost_per_share",
            "term",
            "market_value",
            "unrealized_pnl",
        ]
        read_only_fields = fields

    def _value(self, lot: TaxLot) -> Decimal | None:
        mark: Mark | None = self.context.get("mark")
        if mark is None or mark.price is None:
            return None
        return lot.quantity * mark.price

    @extend_schema_field(DECIMAL_SCHEMA)
    def get_cost_per_share(self, lot: TaxLot) -> str:
        places = lot.position.instrument.tick_size.normalize().as_tuple().exponent
        return decimal_text(lot.cost_per_share.quantize(Decimal("0.00000001")), max(0, -places))

    def get_term(self, lot: TaxLot) -> str:
        return lot_term(lot)

    @extend_schema_field({**DECIMAL_SCHEMA, "nullable": True})
    def get_market_value(self, lot: TaxLot) -> str | None:
        value = self._value(lot)
        currency = lot.position.instrument.currency
        return cash_text(_cents(value, currency), currency) if value is not None else None

    @extend_schema_field({**DECIMAL_SCHEMA, "nullable": True})
    def get_unrealized_pnl(self, lot: TaxLot) -> str | None:
        value = self._value(lot)
        currency = lot.position.instrument.currency
        if value is None:
            return None
        return cash_text(_cents(value, currency) - _cents(lot.cost, currency), currency)


def _cents(value: Decimal, currency: str) -> Decimal:
    return value.quantize(minor_unit(currency), ROUND_HALF_UP)


# --- Back office ----------------------------------------------------------------------------


class TransferInputSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    symbol = serializers.CharField(max_length=16)
    quantity = serializers.DecimalField(**DECIMAL_INPUT)
    cost_basis = serializers.DecimalField(**DECIMAL_INPUT, help_text="Cost per share.")
    acquired_on = serializers.DateField()
    reason = serializers.CharField(max_length=2000)
    external_reference = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )


class TransferQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=TransferStatus.choices, required=False)


class TransferRejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class TransferApproveInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class TransferOutputSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=TransferStatus.choices)
    account_number = serializers.CharField(source="account.number")
    symbol = serializers.CharField(source="instrument.symbol")
    currency = serializers.CharField(source="instrument.currency")
    quantity = QuantityField()
    cost_basis = serializers.SerializerMethodField()
    cost = CashField()
    requested_by = serializers.EmailField(source="requested_by.email")
    decided_by = serializers.EmailField(source="decided_by.email", default=None)
    reference = serializers.CharField(source="ledger_reference")
    lot_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = SecuritiesTransfer
        fields = [
            "id",
            "status",
            "account",
            "account_number",
            "symbol",
            "currency",
            "quantity",
            "cost_basis",
            "cost",
            "acquired_on",
            "reason",
            "external_reference",
            "reference",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "decision_reason",
            "journal_entry_id",
            "lot_id",
        ]
        read_only_fields = fields

    @extend_schema_field(DECIMAL_SCHEMA)
    def get_cost_basis(self, transfer: SecuritiesTransfer) -> str:
        return decimal_text(transfer.cost_basis, 2)


class BreakQuerySerializer(serializers.Serializer):
    open = serializers.BooleanField(required=False, default=False)


class ResolveInputSerializer(serializers.Serializer):
    resolution = serializers.CharField(max_length=2000)


class BreakOutputSerializer(serializers.ModelSerializer):
    account_number = serializers.CharField(source="account.number")
    symbol = serializers.CharField(source="instrument.symbol")
    position_quantity = QuantityField()
    ledger_quantity = QuantityField()
    position_settled = QuantityField()
    ledger_settled = QuantityField()
    difference = QuantityField()

    class Meta:
        model = ReconciliationBreak
        fields = [
            "id",
            "run_at",
            "account",
            "account_number",
            "symbol",
            "position_quantity",
            "ledger_quantity",
            "position_settled",
            "ledger_settled",
            "difference",
            "resolved_at",
            "resolution",
        ]
        read_only_fields = fields


class ReconcileOutputSerializer(serializers.Serializer):
    run_at = serializers.DateTimeField()
    breaks = BreakOutputSerializer(many=True)
