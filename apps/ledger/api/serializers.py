from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.ledger.choices import AdjustmentStatus, Bucket, DepositStatus, WithdrawalStatus
from apps.ledger.models import Adjustment, Deposit, Posting, Withdrawal
from apps.ledger.money import cash_text

# Decimal inputs: parsed here, then checked against the currency's minor unit by the services.
AMOUNT_INPUT = {"max_digits": 28, "decimal_places": 8, "coerce_to_string": True}


@extend_schema_field(OpenApiTypes.STR)
class CashField(serializers.Field):
    """A cash amount rendered as a string in the minor unit of the object's ``currency``."""

    def __init__(self, **kwargs: object) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance: object) -> tuple[Decimal, str]:
        return super().get_attribute(instance), instance.currency

    def to_representation(self, value: tuple[Decimal, str]) -> str:
        amount, currency = value
        return cash_text(amount, currency)


class BalancesQuerySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        required=False, help_text="ISO 8601 instant; the balances as they stood then."
    )
    currency = serializers.CharField(max_length=3, required=False)


class BalancesOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    cash_settled = serializers.CharField()
    cash_unsettled = serializers.CharField()
    cash_reserved = serializers.CharField()
    buying_power = serializers.CharField()
    withdrawable = serializers.CharField()
    as_of = serializers.DateTimeField()

    @staticmethod
    def body(balances: object) -> dict:
        money = {
            "cash_settled": balances.settled,
            "cash_unsettled": balances.unsettled,
            "cash_reserved": balances.reserved,
            "buying_power": balances.buying_power,
            "withdrawable": balances.withdrawable,
        }
        return {
            "currency": balances.currency,
            **{key: cash_text(value, balances.currency) for key, value in money.items()},
            "as_of": balances.as_of,
        }


class TransactionQuerySerializer(serializers.Serializer):
    currency = serializers.CharField(max_length=3, required=False)
    bucket = serializers.ChoiceField(choices=Bucket.choices, default=Bucket.SETTLED)


class TransactionOutputSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="entry.kind")
    currency = serializers.CharField(source="ledger_account.currency")
    bucket = serializers.CharField(source="ledger_account.bucket")
    amount = serializers.SerializerMethodField()
    balance_after = serializers.SerializerMethodField()
    reference = serializers.CharField(source="entry.reference")
    description = serializers.CharField(source="entry.memo")
    entry = serializers.IntegerField(source="entry_id")

    class Meta:
        model = Posting
        fields = [
            "id",
            "type",
            "amount",
            "currency",
            "balance_after",
            "created_at",
            "reference",
            "description",
            "bucket",
            "entry",
        ]

    def get_amount(self, posting: Posting) -> str:
        return cash_text(posting.amount, posting.ledger_account.currency)

    def get_balance_after(self, posting: Posting) -> str:
        return cash_text(posting.balance_after, posting.ledger_account.currency)


class DepositInstructionsOutputSerializer(serializers.Serializer):
    account_number = serializers.CharField()
    currency = serializers.CharField()
    reference = serializers.CharField(help_text="Quote it on the transfer, exactly.")
    reference_display = serializers.CharField()
    bank_name = serializers.CharField()
    beneficiary = serializers.CharField()
    iban = serializers.CharField()
    bic = serializers.CharField()


class WithdrawalInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**AMOUNT_INPUT)
    currency = serializers.CharField(max_length=3, required=False)
    otp_token = serializers.CharField(max_length=16, required=False, allow_blank=True)
    destination = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Your bank account (IBAN)."
    )


class WithdrawalOutputSerializer(serializers.ModelSerializer):
    amount = CashField()
    account_number = serializers.CharField(source="account.number")
    approvals = serializers.IntegerField()
    status = serializers.ChoiceField(choices=WithdrawalStatus.choices)

    class Meta:
        model = Withdrawal
        fields = [
            "id",
            "account",
            "account_number",
            "status",
            "amount",
            "currency",
            "destination",
            "requested_at",
            "approvals",
            "approvals_required",
            "bank_reference",
            "status_reason",
            "closed_at",
        ]
        read_only_fields = fields


class WithdrawalBackofficeOutputSerializer(WithdrawalOutputSerializer):
    requested_by = serializers.EmailField(source="requested_by.email")
    first_approved_by = serializers.EmailField(source="first_approved_by.email", default=None)
    approved_by = serializers.EmailField(source="approved_by.email", default=None)

    class Meta(WithdrawalOutputSerializer.Meta):
        fields = [
            *WithdrawalOutputSerializer.Meta.fields,
            "requested_by",
            "first_approved_by",
            "first_approved_at",
            "approved_by",
            "approved_at",
            "sent_at",
        ]
        read_only_fields = fields


class StatusFilterSerializer(serializers.Serializer):
    status = serializers.CharField(required=False)


class StaffReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3, max_length=1000)


class OptionalReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class WithdrawalCompleteInputSerializer(serializers.Serializer):
    bank_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class AdjustmentInputSerializer(serializers.Serializer):
    account = serializers.IntegerField(help_text="Trading account id.")
    amount = serializers.DecimalField(
        **AMOUNT_INPUT, help_text="Signed: positive credits the client, negative debits."
    )
    currency = serializers.CharField(max_length=3, required=False)
    reason = serializers.CharField(min_length=3, max_length=1000)


class AdjustmentOutputSerializer(serializers.ModelSerializer):
    amount = CashField()
    account_number = serializers.CharField(source="account.number")
    requested_by = serializers.EmailField(source="requested_by.email")
    decided_by = serializers.EmailField(source="decided_by.email", default=None)
    status = serializers.ChoiceField(choices=AdjustmentStatus.choices)
    reason = serializers.CharField(source="justification")

    class Meta:
        model = Adjustment
        fields = [
            "id",
            "account",
            "account_number",
            "amount",
            "currency",
            "reason",
            "status",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "decision_reason",
        ]
        read_only_fields = fields


class DepositOutputSerializer(serializers.ModelSerializer):
    amount = CashField()
    account_number = serializers.CharField(source="account.number", default=None)
    resolved_by = serializers.EmailField(source="resolved_by.email", default=None)
    status = serializers.ChoiceField(choices=DepositStatus.choices)

    class Meta:
        model = Deposit
        fields = [
            "id",
            "bank_transaction_id",
            "reference",
            "amount",
            "currency",
            "status",
            "suspense_reason",
            "account",
            "account_number",
            "received_at",
            "resolved_at",
            "resolved_by",
            "status_reason",
            "return_reference",
        ]
        read_only_fields = fields


class DepositAssignInputSerializer(serializers.Serializer):
    account = serializers.CharField(help_text="Trading account id or number (BRS-000123).")
    reason = serializers.CharField(min_length=3, max_length=1000)


class BankWebhookInputSerializer(serializers.Serializer):
    event = serializers.ChoiceField(choices=["credit", "payout_completed", "payout_failed"])
    bank_transaction_id = serializers.CharField(max_length=100, required=False)
    reference = serializers.CharField(max_length=140, required=False, allow_blank=True)
    amount = serializers.DecimalField(**AMOUNT_INPUT, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    payout_id = serializers.CharField(max_length=64, required=False)
    bank_reference = serializers.CharField(max_length=100, required=False, allow_blank=True)
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True)

    def validate(self, data: dict) -> dict:
        needed = (
            ["bank_transaction_id", "amount", "currency"]
            if data["event"] == "credit"
            else ["payout_id"]
        )
        missing = {name: ["This field is required."] for name in needed if name not in data}
        if missing:
            raise serializers.ValidationError(missing)
        return data


class ReconciliationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ok = serializers.BooleanField()
    trigger = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    entries_checked = serializers.IntegerField()
    postings_checked = serializers.IntegerField()
    accounts_checked = serializers.IntegerField()
    problem_count = serializers.IntegerField()
    problems = serializers.ListField(child=serializers.DictField())
