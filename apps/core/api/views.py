from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import selectors
from apps.core.permissions import staff_permission


class AuditRecordOutputSerializer(serializers.Serializer):
    model = serializers.CharField()
    history_id = serializers.IntegerField()
    object_id = serializers.CharField()
    changed_at = serializers.DateTimeField()
    actor = serializers.EmailField(allow_null=True)
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    correlation_id = serializers.CharField()
    change_type = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    changes = serializers.DictField(child=serializers.ListField())
    reason = serializers.CharField()


class AuditHistoryFilterSerializer(serializers.Serializer):
    model = serializers.CharField(required=False)
    object_id = serializers.CharField(required=False)
    user = serializers.CharField(required=False, help_text="Actor's e-mail or id.")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    correlation_id = serializers.CharField(required=False)


class AuditHistoryListApi(APIView):
    """The audit trail of every audited model, newest first (compliance)."""

    permission_classes = [staff_permission("core.view_audit_trail")]

    @extend_schema(
        parameters=[OpenApiParameter(name, str) for name in AuditHistoryFilterSerializer().fields],
        responses=AuditRecordOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        filters = AuditHistoryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        rows = selectors.audit_records(
            model=data.get("model"),
            object_id=data.get("object_id"),
            actor=data.get("user"),
            since=data.get("since"),
            until=data.get("until"),
            correlation_id=data.get("correlation_id"),
        )
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(rows, request, view=self)
        records = selectors.audit_records_detail(page)
        return paginator.get_paginated_response(
            AuditRecordOutputSerializer(records, many=True).data
        )
