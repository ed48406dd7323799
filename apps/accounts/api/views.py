"""Auth, profile and trading-account endpoints (API.md "Auth and profile", "Accounts")."""

from __future__ import annotations

import django_filters
from django.contrib.auth import logout
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts import selectors, services
from apps.accounts.api import serializers as s
from apps.accounts.models import ApiToken, TradingAccount
from apps.core.idempotency import idempotent
from apps.core.permissions import staff_permission
from apps.core.throttling import (
    LoginEmailThrottle,
    LoginThrottle,
    PasswordResetThrottle,
    RegisterThrottle,
)
from apps.kyc.selectors import kyc_status


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [RegisterThrottle]

    @extend_schema(request=s.RegisterInputSerializer, responses={201: s.RegisterOutputSerializer})
    def post(self, request: Request) -> Response:
        data = s.RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(s.RegisterOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    """Sign in for the API. Staff, and clients with a device, must send ``otp_token``."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [LoginThrottle, LoginEmailThrottle]

    @extend_schema(request=s.TokenInputSerializer, responses={200: s.TokenOutputSerializer})
    def post(self, request: Request) -> Response:
        data = s.TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw_key = services.api_token_issue(
            email=data.validated_data["email"],
            password=data.validated_data["password"],
            otp_token=data.validated_data.get("otp_token") or None,
        )
        body = {
            "token": raw_key,
            "expires_at": token.expires_at,
            "otp_verified": token.otp_verified,
        }
        return Response(s.TokenOutputSerializer(body).data)


class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            services.api_token_revoke(token=request.auth, actor=request.user)
        else:
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    def _body(self, user: object) -> dict:
        return {
            "id": user.pk,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "phone": user.phone,
            "roles": selectors.user_roles(user),
            "kyc_status": kyc_status(user=user),
            "otp_enabled": selectors.user_otp_enabled(user),
            "is_staff": user.is_staff,
        }

    @extend_schema(responses=s.MeOutputSerializer)
    def get(self, request: Request) -> Response:
        return Response(s.MeOutputSerializer(self._body(request.user)).data)

    @extend_schema(request=s.MeUpdateInputSerializer, responses=s.MeOutputSerializer)
    def patch(self, request: Request) -> Response:
        data = s.MeUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_profile_update(user=request.user, **data.validated_data)
        return Response(s.MeOutputSerializer(self._body(user)).data)


class TotpEnrollApi(APIView):
    @extend_schema(request=None, responses={201: s.TotpEnrollOutputSerializer})
    def post(self, request: Request) -> Response:
        device = services.totp_enroll(user=request.user)
        body = {"secret": services.totp_secret_base32(device), "otpauth_uri": device.config_url}
        return Response(s.TotpEnrollOutputSerializer(body).data, status=status.HTTP_201_CREATED)


class TotpConfirmApi(APIView):
    @extend_schema(request=s.TotpConfirmInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = s.TotpConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.totp_confirm(user=request.user, token=data.validated_data["token"])
        return Response({"otp_enabled": True})


class PasswordResetApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [PasswordResetThrottle]

    @extend_schema(request=s.PasswordResetInputSerializer, responses={202: dict})
    def post(self, request: Request) -> Response:
        data = s.PasswordResetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_request(email=data.validated_data["email"])
        message = "If the address belongs to an account, a reset link is on its way."
        return Response({"detail": message}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [PasswordResetThrottle]

    @extend_schema(request=s.PasswordResetConfirmInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        data = s.PasswordResetConfirmInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.password_reset_confirm(
            uidb64=data.validated_data["uid"],
            token=data.validated_data["token"],
            new_password=data.validated_data["new_password"],
        )
        return Response({"detail": "Password changed; sign in again."})


class AccountListCreateApi(APIView):
    @extend_schema(responses=s.AccountOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(
            selectors.trading_accounts_for(user=request.user), request, view=self
        )
        return paginator.get_paginated_response(s.AccountOutputSerializer(page, many=True).data)

    @extend_schema(request=s.AccountOpenInputSerializer, responses={201: s.AccountOutputSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.AccountOpenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.trading_account_open(
            owner=request.user, actor=request.user, **data.validated_data
        )
        return Response(s.AccountOutputSerializer(account).data, status=status.HTTP_201_CREATED)


class AccountDetailApi(APIView):
    @extend_schema(responses=s.AccountOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        account = selectors.trading_account_for(user=request.user, pk=pk)
        return Response(s.AccountOutputSerializer(account).data)


class AccountBackofficeFilter(django_filters.FilterSet):
    owner = django_filters.CharFilter(field_name="owner__email", lookup_expr="iexact")
    number = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = TradingAccount
        fields = ["status", "type", "currency", "owner", "number"]


class AccountBackofficeListApi(ListAPIView):
    permission_classes = [staff_permission("accounts.view_tradingaccount")]
    serializer_class = s.AccountBackofficeOutputSerializer
    filterset_class = AccountBackofficeFilter

    def get_queryset(self):  # type: ignore[override]
        return selectors.trading_accounts_backoffice()


class AccountBackofficeDetailApi(APIView):
    permission_classes = [staff_permission("accounts.view_tradingaccount")]

    @extend_schema(responses=s.AccountBackofficeOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        account = selectors.trading_account_backoffice(pk=pk)
        return Response(s.AccountBackofficeOutputSerializer(account).data)


class AccountTransitionApi(APIView):
    """POST backoffice/accounts/{id}/activate | restrict | suspend | close with a reason."""

    permission_classes = [staff_permission("accounts.view_tradingaccount")]
    action_name = ""
    SERVICES = {
        "activate": services.trading_account_activate,
        "restrict": services.trading_account_restrict,
        "suspend": services.trading_account_suspend,
        "close": services.trading_account_close,
    }

    @extend_schema(request=s.ReasonInputSerializer, responses=s.AccountStatusOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = s.ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = selectors.trading_account_backoffice(pk=pk)
        service = self.SERVICES[self.action_name]
        account = service(account=account, actor=request.user, reason=data.validated_data["reason"])
        return Response(s.AccountStatusOutputSerializer(account).data)
