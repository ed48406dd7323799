"""The client's settlement instructions (GET /api/v1/settlements)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.selectors import trading_account_for
from apps.settlement import selectors
from apps.settlement.api import serializers as s


class InstructionListApi(APIView):
    """Your settlement instructions, latest settlement date first, with their state. With
    ``account``, one of your accounts (another client's account is not found)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("account", int),
            OpenApiParameter("status", str, enum=s.InstructionStatus.values),
        ],
        responses=s.InstructionOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.InstructionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        account_id = query.validated_data.get("account")
        account = (
            trading_account_for(user=request.user, pk=account_id)
            if account_id is not None
            else None
        )
        rows = selectors.instructions_for(
            user=request.user, account=account, status=query.validated_data.get("status")
        )
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(s.InstructionOutputSerializer(page, many=True).data)
