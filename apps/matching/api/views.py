"""Executions (API.md "GET /api/v1/trades"): your own fills, newest first."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import trading_account_for
from apps.matching.api import serializers as s
from apps.positions.selectors import fills_for


class TradeListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("account", int),
            OpenApiParameter("symbol", str),
            OpenApiParameter("order", int),
        ],
        responses=s.ExecutionOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.TradeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data
        account = (
            trading_account_for(user=request.user, pk=wanted["account"])
            if wanted.get("account") is not None
            else None
        )
        fills = fills_for(
            user=request.user,
            account=account,
            symbol=wanted.get("symbol"),
            order_id=wanted.get("order"),
        )
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(fills, request, view=self)
        return paginator.get_paginated_response(s.ExecutionOutputSerializer(page, many=True).data)
