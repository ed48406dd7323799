"""Positions, lots and the portfolio (API.md "Orders, trades, positions"), and the back office's
securities transfers in and position reconciliation breaks."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import TradingAccount
from apps.accounts.selectors import (
    trading_account_backoffice,
    trading_account_for,
    trading_accounts_for,
)
from apps.core.errors import invalid, not_found
from apps.core.idempotency import idempotency_key, idempotent
from apps.core.permissions import staff_permission
from apps.instruments.selectors import instrument_get
from apps.positions import selectors, services
from apps.positions.api import serializers as s


def _page(view: APIView, request: Request, rows) -> tuple[list, object]:
    paginator = view.settings.DEFAULT_PAGINATION_CLASS()
    return paginator.paginate_queryset(rows, request, view=view), paginator


def _client_account(request: Request, account_id: int | None) -> TradingAccount:
    """The account asked for, else the client's only account."""
    if account_id is not None:
        return trading_account_for(user=request.user, pk=account_id)
    accounts = list(trading_accounts_for(user=request.user)[:2])
    if not accounts:
        raise not_found("You have no trading account yet.")
    if len(accounts) > 1:
        raise invalid("Say which account.", account="You have more than one account.")
    return accounts[0]


class PositionListApi(APIView):
    """Your open positions (``include_closed`` for all), each valued now."""

    @extend_schema(
        parameters=[
            OpenApiParameter("account", int),
            OpenApiParameter("symbol", str),
            OpenApiParameter("include_closed", bool),
        ],
        responses=s.PositionOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.PositionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        account = (
            trading_account_for(user=request.user, pk=wanted["account"])
            if wanted.get("account") is not None
            else None
        )
        rows = selectors.positions_for(
            user=request.user,
            account=account,
            symbol=wanted.get("symbol"),
            include_closed=wanted["include_closed"],
        )
        page, paginator = _page(self, request, rows)
        valued = selectors.positions_value(positions=page)
        return paginator.get_paginated_response(s.PositionOutputSerializer(valued, many=True).data)


class PositionDetailApi(APIView):
    @extend_schema(responses=s.PositionOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        position = selectors.position_for(user=request.user, pk=pk)
        (valued,) = selectors.positions_value(positions=[position])
        return Response(s.PositionOutputSerializer(valued).data)


class PositionLotsApi(APIView):
    """The tax lots of one of your positions, oldest first: a sell order may name them in
    ``lot_ids`` to choose which shares it sells."""

    @extend_schema(
        parameters=[OpenApiParameter("include_closed", bool)],
        responses=s.LotOutputSerializer(many=True),
    )
    def get(self, request: Request, pk: int) -> Response:
        query = s.LotQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        position = selectors.position_for(user=request.user, pk=pk)
        lots = selectors.lots_for(
            position=position, include_closed=query.validated_data["include_closed"]
        )
        page, paginator = _page(self, request, lots)
        for lot in page:
            lot.position = position
        mark = selectors.marks(instruments=[position.instrument])[position.instrument_id]
        data = s.LotOutputSerializer(page, many=True, context={"mark": mark}).data
        return paginator.get_paginated_response(data)


class PortfolioApi(APIView):
    """One account valued now: cash, positions at their last price, day and total P&L."""

    @extend_schema(
        parameters=[OpenApiParameter("account", int)], responses=s.PortfolioOutputSerializer
    )
    def get(self, request: Request) -> Response:
        query = s.AccountQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        account = _client_account(request, query.validated_data.get("account"))
        return Response(s.PortfolioOutputSerializer(selectors.portfolio(account=account)).data)


# --- Back office: securities transfers in ---------------------------------------------------


class TransferListCreateApi(APIView):
    """GET transfers (``status``); POST records shares arriving free of payment: applied at
    once up to SECURITIES_TRANSFER_FOUR_EYES_VALUE, else ``pending_approval``."""

    permission_classes = [staff_permission("positions.view_securitiestransfer")]

    @extend_schema(
        parameters=[OpenApiParameter("status", str)],
        responses=s.TransferOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.TransferQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.securities_transfers_backoffice(status=query.validated_data.get("status"))
        page, paginator = _page(self, request, rows)
        return paginator.get_paginated_response(s.TransferOutputSerializer(page, many=True).data)

    @extend_schema(request=s.TransferInputSerializer, responses={201: s.TransferOutputSerializer})
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.TransferInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        transfer = services.securities_transfer_request(
            account=trading_account_backoffice(pk=values["account"]),
            instrument=instrument_get(symbol=values["symbol"]),
            quantity=values["quantity"],
            cost_basis=values["cost_basis"],
            acquired_on=values["acquired_on"],
            reason=values["reason"],
            external_reference=values["external_reference"],
            actor=request.user,
            idempotency_key=idempotency_key(request),
        )
        transfer = selectors.securities_transfer_backoffice(pk=transfer.pk)
        return Response(s.TransferOutputSerializer(transfer).data, status=status.HTTP_201_CREATED)


class TransferDetailApi(APIView):
    permission_classes = [staff_permission("positions.view_securitiestransfer")]

    @extend_schema(responses=s.TransferOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        transfer = selectors.securities_transfer_backoffice(pk=pk)
        return Response(s.TransferOutputSerializer(transfer).data)


class TransferActionApi(APIView):
    """POST .../approve (reason optional; a different staff member than the requester) or
    .../reject (reason)."""

    permission_classes = [staff_permission("positions.view_securitiestransfer")]
    action_name = ""
    ACTIONS = ("approve", "reject")

    @extend_schema(request=s.TransferApproveInputSerializer, responses=s.TransferOutputSerializer)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        transfer = selectors.securities_transfer_backoffice(pk=pk)
        if self.action_name == "approve":
            data = s.TransferApproveInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            services.securities_transfer_approve(
                transfer=transfer, actor=request.user, reason=data.validated_data["reason"]
            )
        else:
            data = s.TransferRejectInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            services.securities_transfer_reject(
                transfer=transfer, actor=request.user, reason=data.validated_data["reason"]
            )
        transfer = selectors.securities_transfer_backoffice(pk=pk)
        return Response(s.TransferOutputSerializer(transfer).data)


# --- Back office: reconciliation ------------------------------------------------------------


class BreakListApi(APIView):
    """Differences between positions and the ledger found by the reconciliation (``open`` for
    the unresolved ones)."""

    permission_classes = [staff_permission("positions.view_reconciliationbreak")]

    @extend_schema(
        parameters=[OpenApiParameter("open", bool)], responses=s.BreakOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        query = s.BreakQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.reconciliation_breaks(open_only=query.validated_data["open"])
        page, paginator = _page(self, request, rows)
        return paginator.get_paginated_response(s.BreakOutputSerializer(page, many=True).data)


class BreakResolveApi(APIView):
    permission_classes = [staff_permission("positions.resolve_reconciliationbreak")]

    @extend_schema(request=s.ResolveInputSerializer, responses=s.BreakOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = s.ResolveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = selectors.reconciliation_break_get(pk=pk)
        item = services.reconciliation_break_resolve(
            item=item, actor=request.user, resolution=data.validated_data["resolution"]
        )
        return Response(
            s.BreakOutputSerializer(selectors.reconciliation_break_get(pk=item.pk)).data
        )


class ReconcileApi(APIView):
    """Run the positions reconciliation now; answers the breaks it found."""

    permission_classes = [staff_permission("positions.resolve_reconciliationbreak")]

    @extend_schema(request=None, responses=s.ReconcileOutputSerializer)
    def post(self, request: Request) -> Response:
        now = timezone.now()
        breaks = services.positions_reconcile(now=now)
        rows = selectors.reconciliation_breaks().filter(pk__in=[b.pk for b in breaks])
        return Response(s.ReconcileOutputSerializer({"run_at": now, "breaks": rows}).data)
