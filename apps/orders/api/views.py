"""Orders (API.md "Orders, trades, positions"): place, preview, list, read, change and cancel
your orders; the back office's blotter and staff cancel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import trading_account_for
from apps.core.errors import not_found
from apps.core.idempotency import idempotent
from apps.core.permissions import staff_permission
from apps.instruments.selectors import instrument_get
from apps.matching.models import Fill
from apps.orders import selectors, services
from apps.orders.api import serializers as s
from apps.orders.api.fields import cash_text, price_text, quantity_text
from apps.orders.choices import OPEN_ORDER_STATUSES, OrderSide
from apps.orders.models import Order


def _paginated(view: APIView, request: Request, queryset, serializer_class) -> Response:
    paginator = view.settings.DEFAULT_PAGINATION_CLASS()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _with_fills(rows):
    return rows.prefetch_related(
        Prefetch("fills", queryset=Fill.objects.order_by("executed_at", "id"))
    )


def _detail(user, pk) -> Order:
    order = selectors.order_for(user=user, pk=pk)
    return _with_fills(Order.objects.select_related("instrument", "account")).get(pk=order.pk)


def _terms(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "side": data["side"],
        "type": data["type"],
        "quantity": data["quantity"],
        "limit_price": data.get("limit_price"),
        "stop_price": data.get("stop_price"),
        "time_in_force": data["time_in_force"],
        "expire_at": data.get("expire_at"),
    }


class OrderListCreateApi(APIView):
    """GET your orders (newest first; ``status`` may be ``open``); POST places one."""

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="A status, or `open` for any open one"),
            OpenApiParameter("symbol", str),
            OpenApiParameter("account", int),
        ],
        responses=s.OrderOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.OrderQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        account_id = query.validated_data.get("account")
        account = (
            trading_account_for(user=request.user, pk=account_id)
            if account_id is not None
            else None
        )
        orders = selectors.orders_for(
            user=request.user,
            account=account,
            status=query.validated_data.get("status"),
            symbol=query.validated_data.get("symbol"),
        )
        return _paginated(self, request, orders, s.OrderOutputSerializer)

    @extend_schema(
        request=s.OrderInputSerializer,
        responses={201: s.OrderDetailOutputSerializer, 200: s.OrderDetailOutputSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER)],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.OrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        account = trading_account_for(user=request.user, pk=values["account"])
        instrument = instrument_get(symbol=values["symbol"])
        lot_ids = values.get("lot_ids") or []
        order, created = services.order_place(
            account=account,
            instrument=instrument,
            client_order_id=values.get("client_order_id") or None,
            lot_ids=lot_ids,
            actor=request.user,
            **_terms(values),
        )
        body = s.OrderDetailOutputSerializer(_detail(request.user, order.pk)).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class OrderPreviewApi(APIView):
    """What an order would cost and hold, and the first rule that would refuse it. Nothing is
    placed or reserved."""

    @extend_schema(request=s.OrderInputSerializer, responses=s.OrderPreviewOutputSerializer)
    def post(self, request: Request) -> Response:
        data = s.OrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        account = trading_account_for(user=request.user, pk=values["account"])
        instrument = instrument_get(symbol=values["symbol"])
        terms = services.OrderTerms(**_terms(values))
        found = services.order_assess(account=account, instrument=instrument, terms=terms)
        currency = instrument.currency
        buy = terms.side == OrderSide.BUY
        error = found.error
        body = {
            "accepted": error is None,
            "error": (
                {"code": error.code, "message": error.message, "details": error.details}
                if error is not None
                else None
            ),
            "account": account.pk,
            "symbol": instrument.symbol,
            "currency": currency,
            "side": terms.side,
            "type": terms.type,
            "quantity": quantity_text(terms.quantity, instrument),
            "price": price_text(found.price, instrument),
            "protection_price": price_text(found.protection_price, instrument),
            "notional": cash_text(found.notional, currency),
            "fee": cash_text(found.fee, currency),
            "estimated_cost": cash_text(found.notional + found.fee, currency) if buy else None,
            "estimated_proceeds": (
                None if buy else cash_text(max(found.notional - found.fee, Decimal(0)), currency)
            ),
            "hold": cash_text(found.hold, currency)
            if buy
            else quantity_text(found.hold, instrument),
            "buying_power": cash_text(found.buying_power, currency),
            "buying_power_after": cash_text(found.buying_power_after, currency),
            "available_quantity": quantity_text(found.available_quantity, instrument),
            "queued": found.queued,
            "expires_at": found.expires_at,
        }
        return Response(s.OrderPreviewOutputSerializer(body).data)


class OrderDetailApi(APIView):
    """GET one of your orders with its fills; PATCH changes quantity and/or limit price;
    DELETE cancels it (409 ``invalid_state`` once it is final)."""

    @extend_schema(responses=s.OrderDetailOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(s.OrderDetailOutputSerializer(_detail(request.user, pk)).data)

    @extend_schema(request=s.OrderChangeInputSerializer, responses=s.OrderDetailOutputSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        order = selectors.order_for(user=request.user, pk=pk)
        data = s.OrderChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.order_replace(
            order=order,
            actor=request.user,
            quantity=data.validated_data.get("quantity"),
            limit_price=data.validated_data.get("limit_price"),
        )
        return Response(s.OrderDetailOutputSerializer(_detail(request.user, pk)).data)

    @extend_schema(request=s.OrderCancelInputSerializer, responses=s.OrderDetailOutputSerializer)
    def delete(self, request: Request, pk: int) -> Response:
        order = selectors.order_for(user=request.user, pk=pk)
        data = s.OrderCancelInputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        services.order_cancel(
            order=order,
            actor=request.user,
            reason=data.validated_data["reason"].strip() or "Cancelled by the client.",
        )
        return Response(s.OrderDetailOutputSerializer(_detail(request.user, pk)).data)


# --- Back office ----------------------------------------------------------------------------


def _backoffice_order(pk) -> Order:
    order = (
        _with_fills(Order.objects.select_related("instrument", "account__owner", "placed_by"))
        .filter(pk=pk)
        .first()
    )
    if order is None:
        raise not_found("No such order.")
    return order


class OrderBlotterApi(APIView):
    """Every client's orders, newest first (``status`` may be ``open``)."""

    permission_classes = [staff_permission("orders.view_order")]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str),
            OpenApiParameter("symbol", str),
            OpenApiParameter("account", int),
        ],
        responses=s.OrderBackofficeOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.OrderQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = Order.objects.select_related("instrument", "account__owner", "placed_by")
        wanted = query.validated_data
        if wanted.get("status") == "open":
            rows = rows.filter(status__in=OPEN_ORDER_STATUSES)
        elif wanted.get("status"):
            rows = rows.filter(status=wanted["status"])
        if wanted.get("symbol"):
            rows = rows.filter(instrument__symbol=wanted["symbol"].strip().upper())
        if wanted.get("account") is not None:
            rows = rows.filter(account_id=wanted["account"])
        return _paginated(
            self, request, rows.order_by("-sequence"), s.OrderBackofficeOutputSerializer
        )


class OrderBackofficeCancelApi(APIView):
    """Cancel a client's order (reason required; ``orders.cancel_any_order``)."""

    permission_classes = [staff_permission("orders.cancel_any_order")]

    @extend_schema(
        request=s.StaffCancelInputSerializer, responses=s.OrderBackofficeOutputSerializer
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        data = s.StaffCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = _backoffice_order(pk)
        services.order_cancel(
            order=order, actor=request.user, reason=data.validated_data["reason"], staff=True
        )
        return Response(s.OrderBackofficeOutputSerializer(_backoffice_order(pk)).data)
