from rest_framework import serializers

from apps.accounts.choices import AccountStatus, AccountType
from apps.accounts.models import TradingAccount


class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class RegisterOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()


class TokenInputSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    otp_token = serializers.CharField(required=False, allow_blank=True, max_length=16)


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    otp_verified = serializers.BooleanField()


class MeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    phone = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    kyc_status = serializers.CharField()
    otp_enabled = serializers.BooleanField()
    is_staff = serializers.BooleanField()


class MeUpdateInputSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=150, required=False)
    last_name = serializers.CharField(max_length=150, required=False)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)


class TotpEnrollOutputSerializer(serializers.Serializer):
    secret = serializers.CharField()
    otpauth_uri = serializers.CharField()


class TotpConfirmInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=16)


class PasswordResetInputSerializer(serializers.Serializer):
    email = serializers.EmailField()


class PasswordResetConfirmInputSerializer(serializers.Serializer):
    uid = serializers.CharField()
    token = serializers.CharField()
    new_password = serializers.CharField(write_only=True, style={"input_type": "password"})


class AccountOpenInputSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=AccountType.choices, default=AccountType.CASH)
    currency = serializers.CharField(max_length=3, required=False)


class AccountOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = TradingAccount
        fields = ["id", "number", "type", "currency", "status", "opened_at", "lot_relief_method"]
        read_only_fields = fields


class AccountBackofficeOutputSerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email")

    class Meta:
        model = TradingAccount
        fields = [
            "id",
            "number",
            "owner",
            "type",
            "currency",
            "status",
            "status_reason",
            "status_changed_at",
            "restricted_until",
            "opened_at",
            "closed_at",
            "tax_non_resident",
            "daily_withdrawal_limit",
            "per_withdrawal_limit",
        ]
        read_only_fields = fields


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=3, max_length=1000)


class AccountStatusOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=AccountStatus.choices)
