"""Balances, transactions and funding (API.md "Accounts, balances, funding"), the bank
webhook, and the back office's withdrawals, adjustments, suspense deposits and ledger check."""

from __future__ import annotations

import json
import logging

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import TradingAccount
from apps.accounts.selectors import trading_account_backoffice, trading_account_for
from apps.core.errors import ApplicationError, invalid, not_found
from apps.core.idempotency import idempotency_key, idempotent
from apps.core.permissions import staff_permission
from apps.core.throttling import IpScopedThrottle
from apps.ledger import selectors, services
from apps.ledger.api import serializers as s
from apps.ledger.bank import bank_signature_valid
from apps.ledger.choices import ReconciliationTrigger
from apps.ledger.errors import LedgerErrorCode

logger = logging.getLogger("bourse.ledger.webhook")


def _paginated(view: APIView, request: Request, queryset, serializer_class) -> Response:
    paginator = view.settings.DEFAULT_PAGINATION_CLASS()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- Client: balances, transactions, deposit instructions -----------------------------------


class AccountBalancesApi(APIView):
    """Cash balances of one of your accounts, now or ``as_of`` a past instant."""

    backoffice = False

    def get_permissions(self):  # type: ignore[override]
        if self.backoffice:
            return [staff_permission("ledger.view_ledgeraccount")()]
        return super().get_permissions()

    @extend_schema(
        parameters=[
            OpenApiParameter("as_of", str, description="ISO 8601 instant"),
            OpenApiParameter("currency", str),
        ],
        responses=s.BalancesOutputSerializer,
    )
    def get(self, request: Request, pk: int) -> Response:
        query = s.BalancesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        account = (
            trading_account_backoffice(pk=pk)
            if self.backoffice
            else trading_account_for(user=request.user, pk=pk)
        )
        balances = selectors.cash_balances(
            account=account,
            currency=query.validated_data.get("currency"),
            as_of=query.validated_data.get("as_of"),
        )
        body = s.BalancesOutputSerializer.body(balances)
        return Response(s.BalancesOutputSerializer(body).data)


class AccountTransactionsApi(APIView):
    """Ledger lines of one cash bucket (settled unless ``bucket``), newest first, each with
    the running balance after it."""

    @extend_schema(
        parameters=[OpenApiParameter("currency", str), OpenApiParameter("bucket", str)],
        responses=s.TransactionOutputSerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        query = s.TransactionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        account = trading_account_for(user=request.user, pk=pk)
        postings = selectors.account_transactions(account=account, **query.validated_data)
        return _paginated(self, request, postings, s.TransactionOutputSerializer)


class DepositInstructionsApi(APIView):
    @extend_schema(responses=s.DepositInstructionsOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        account = trading_account_for(user=request.user, pk=pk)
        instructions = selectors.deposit_instructions(account=account)
        return Response(s.DepositInstructionsOutputSerializer(instructions).data)


# --- Client: withdrawals --------------------------------------------------------------------


class AccountWithdrawalsApi(APIView):
    @extend_schema(responses=s.WithdrawalOutputSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        account = trading_account_for(user=request.user, pk=pk)
        withdrawals = selectors.withdrawals_for(user=request.user, account=account)
        return _paginated(self, request, withdrawals, s.WithdrawalOutputSerializer)

    @extend_schema(
        request=s.WithdrawalInputSerializer, responses={201: s.WithdrawalOutputSerializer}
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        data = s.WithdrawalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = trading_account_for(user=request.user, pk=pk)
        withdrawal = services.withdrawal_request(
            account=account,
            amount=data.validated_data["amount"],
            currency=data.validated_data.get("currency"),
            otp_token=data.validated_data.get("otp_token") or None,
            destination=data.validated_data.get("destination", ""),
            actor=request.user,
            idempotency_key=idempotency_key(request),
        )
        return Response(
            s.WithdrawalOutputSerializer(withdrawal).data, status=status.HTTP_201_CREATED
        )


class WithdrawalListApi(APIView):
    @extend_schema(responses=s.WithdrawalOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        withdrawals = selectors.withdrawals_for(user=request.user)
        return _paginated(self, request, withdrawals, s.WithdrawalOutputSerializer)


class WithdrawalDetailApi(APIView):
    @extend_schema(responses=s.WithdrawalOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        withdrawal = selectors.withdrawal_for(user=request.user, pk=pk)
        return Response(s.WithdrawalOutputSerializer(withdrawal).data)


class WithdrawalCancelApi(APIView):
    """Cancel a withdrawal still waiting for approval; the cash returns to settled."""

    @extend_schema(request=s.OptionalReasonInputSerializer, responses=s.WithdrawalOutputSerializer)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        data = s.OptionalReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        withdrawal = selectors.withdrawal_for(user=request.user, pk=pk)
        withdrawal = services.withdrawal_cancel(
            withdrawal=withdrawal,
            actor=request.user,
            reason=data.validated_data["reason"] or "Cancelled by the client",
        )
        return Response(s.WithdrawalOutputSerializer(withdrawal).data)


# --- The bank -------------------------------------------------------------------------------


class WebhookThrottle(IpScopedThrottle):
    scope = "webhook"


class BankWebhookApi(APIView):
    """Events from the bank, signed with BANK_WEBHOOK_SECRET (X-Bank-Signature: hex HMAC-SHA256
    of the raw body). ``credit`` records a deposit exactly once per bank_transaction_id;
    ``payout_completed`` / ``payout_failed`` report on a withdrawal's payout (``payout_id``)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [WebhookThrottle]

    @extend_schema(request=s.BankWebhookInputSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        body = request.body  # the raw bytes the signature covers, before any parsing
        if not bank_signature_valid(body, request.headers.get("X-Bank-Signature")):
            logger.warning("Bank webhook with a bad signature refused")
            raise ApplicationError(
                LedgerErrorCode.INVALID_SIGNATURE,
                "The X-Bank-Signature header is missing or wrong.",
            )
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid("The body is not JSON.") from exc
        if not isinstance(payload, dict):
            raise invalid("The body must be a JSON object.")
        data = s.BankWebhookInputSerializer(data=payload)
        data.is_valid(raise_exception=True)
        event = data.validated_data
        if event["event"] == "credit":
            deposit, created = services.bank_credit_receive(
                bank_transaction_id=event["bank_transaction_id"],
                reference=event.get("reference", ""),
                amount=event["amount"],
                currency=event["currency"],
                payload=payload,
            )
            return Response(
                {"status": deposit.status, "deposit_id": deposit.pk, "duplicate": not created}
            )
        withdrawal = services.withdrawal_bank_report(
            payout_id=event["payout_id"],
            succeeded=event["event"] == "payout_completed",
            bank_reference=event.get("bank_reference", ""),
            reason=event.get("reason", ""),
        )
        return Response({"status": withdrawal.status, "withdrawal_id": withdrawal.pk})


# --- Back office: withdrawals ---------------------------------------------------------------


class WithdrawalBackofficeListApi(APIView):
    permission_classes = [staff_permission("ledger.view_withdrawal")]

    @extend_schema(
        parameters=[OpenApiParameter("status", str)],
        responses=s.WithdrawalBackofficeOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.StatusFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        withdrawals = selectors.withdrawals_backoffice(status=query.validated_data.get("status"))
        return _paginated(self, request, withdrawals, s.WithdrawalBackofficeOutputSerializer)


class WithdrawalBackofficeDetailApi(APIView):
    permission_classes = [staff_permission("ledger.view_withdrawal")]

    @extend_schema(responses=s.WithdrawalBackofficeOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        withdrawal = selectors.withdrawal_backoffice(pk=pk)
        return Response(s.WithdrawalBackofficeOutputSerializer(withdrawal).data)


class WithdrawalActionApi(APIView):
    """POST backoffice/withdrawals/{id}/approve | reject | fail (reason) | complete
    (bank_reference). The services check each action's permission."""

    permission_classes = [staff_permission("ledger.view_withdrawal")]
    action_name = ""
    ACTIONS = ("approve", "reject", "complete", "fail")

    @extend_schema(
        request=s.StaffReasonInputSerializer, responses=s.WithdrawalBackofficeOutputSerializer
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        withdrawal = selectors.withdrawal_backoffice(pk=pk)
        if self.action_name == "complete":
            data = s.WithdrawalCompleteInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            withdrawal = services.withdrawal_complete(
                withdrawal=withdrawal,
                actor=request.user,
                bank_reference=data.validated_data.get("bank_reference", ""),
                reason=data.validated_data["reason"],
            )
        else:
            data = s.StaffReasonInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            service = {
                "approve": services.withdrawal_approve,
                "reject": services.withdrawal_reject,
                "fail": services.withdrawal_fail,
            }[self.action_name]
            withdrawal = service(
                withdrawal=withdrawal, actor=request.user, reason=data.validated_data["reason"]
            )
        return Response(s.WithdrawalBackofficeOutputSerializer(withdrawal).data)


# --- Back office: adjustments ---------------------------------------------------------------


class AdjustmentListCreateApi(APIView):
    permission_classes = [staff_permission("ledger.view_adjustment")]

    @extend_schema(
        parameters=[OpenApiParameter("status", str)],
        responses=s.AdjustmentOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.StatusFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        adjustments = selectors.adjustments_backoffice(status=query.validated_data.get("status"))
        return _paginated(self, request, adjustments, s.AdjustmentOutputSerializer)

    @extend_schema(
        request=s.AdjustmentInputSerializer, responses={201: s.AdjustmentOutputSerializer}
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.AdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = trading_account_backoffice(pk=data.validated_data["account"])
        adjustment = services.adjustment_request(
            account=account,
            amount=data.validated_data["amount"],
            currency=data.validated_data.get("currency"),
            reason=data.validated_data["reason"],
            actor=request.user,
            idempotency_key=idempotency_key(request),
        )
        return Response(
            s.AdjustmentOutputSerializer(adjustment).data, status=status.HTTP_201_CREATED
        )


class AdjustmentActionApi(APIView):
    """POST backoffice/adjustments/{id}/approve (reason optional) | reject (reason)."""

    permission_classes = [staff_permission("ledger.view_adjustment")]
    action_name = ""
    ACTIONS = ("approve", "reject")

    @extend_schema(request=s.OptionalReasonInputSerializer, responses=s.AdjustmentOutputSerializer)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        adjustment = selectors.adjustment_backoffice(pk=pk)
        if self.action_name == "approve":
            data = s.OptionalReasonInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            adjustment = services.adjustment_approve(
                adjustment=adjustment, actor=request.user, reason=data.validated_data["reason"]
            )
        else:
            data = s.StaffReasonInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            adjustment = services.adjustment_reject(
                adjustment=adjustment, actor=request.user, reason=data.validated_data["reason"]
            )
        return Response(s.AdjustmentOutputSerializer(adjustment).data)


# --- Back office: deposits and the suspense queue -------------------------------------------


class DepositBackofficeListApi(APIView):
    permission_classes = [staff_permission("ledger.view_deposit")]

    @extend_schema(
        parameters=[OpenApiParameter("status", str)],
        responses=s.DepositOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.StatusFilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deposits = selectors.deposits_backoffice(status=query.validated_data.get("status"))
        return _paginated(self, request, deposits, s.DepositOutputSerializer)


def _account_by_id_or_number(value: str) -> TradingAccount:
    value = value.strip()
    if value.isdigit():
        return trading_account_backoffice(pk=int(value))
    account = TradingAccount.objects.filter(number__iexact=value).first()
    if account is None:
        raise invalid("No such account.", account="Unknown account id or number.")
    return account


class DepositActionApi(APIView):
    """POST backoffice/deposits/{id}/assign (account, reason) | return (reason)."""

    permission_classes = [staff_permission("ledger.view_deposit")]
    action_name = ""
    ACTIONS = ("assign", "return")

    @extend_schema(request=s.DepositAssignInputSerializer, responses=s.DepositOutputSerializer)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        deposit = selectors.deposit_backoffice(pk=pk)
        if self.action_name == "assign":
            data = s.DepositAssignInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            deposit = services.deposit_assign(
                deposit=deposit,
                account=_account_by_id_or_number(data.validated_data["account"]),
                actor=request.user,
                reason=data.validated_data["reason"],
            )
        else:
            data = s.StaffReasonInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            deposit = services.deposit_return(
                deposit=deposit, actor=request.user, reason=data.validated_data["reason"]
            )
        return Response(s.DepositOutputSerializer(deposit).data)


# --- Back office: the ledger check ----------------------------------------------------------


class ReconciliationApi(APIView):
    """GET the latest ledger check; POST (reason) runs one now."""

    permission_classes = [staff_permission("ledger.view_reconciliationrun")]

    @extend_schema(responses=s.ReconciliationOutputSerializer)
    def get(self, request: Request) -> Response:
        run = selectors.latest_reconciliation()
        if run is None:
            raise not_found("The ledger has not been checked yet.")
        return Response(s.ReconciliationOutputSerializer(run).data)

    @extend_schema(request=s.StaffReasonInputSerializer, responses=s.ReconciliationOutputSerializer)
    def post(self, request: Request) -> Response:
        data = s.StaffReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.ledger_verify(
            trigger=ReconciliationTrigger.STAFF,
            actor=request.user,
            reason=data.validated_data["reason"],
        )
        return Response(s.ReconciliationOutputSerializer(run).data)
