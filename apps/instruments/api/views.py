"""Instrument and calendar endpoints (API.md "Instruments and market data", "Back office").

Clients read instruments and calendars through declarative read-only viewsets (reference
data); staff create, edit, halt and resume through small views calling the services.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import invalid, not_found
from apps.core.idempotency import idempotency_key, idempotent
from apps.core.permissions import staff_permission
from apps.instruments import selectors, services
from apps.instruments.api import serializers as s
from apps.instruments.choices import AssetClass, InstrumentStatus
from apps.instruments.models import Instrument, TradingCalendar


class InstrumentFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Symbol or name contains")
    asset_class = django_filters.ChoiceFilter(choices=AssetClass.choices)
    status = django_filters.ChoiceFilter(choices=InstrumentStatus.choices)
    currency = django_filters.CharFilter(lookup_expr="iexact")
    calendar = django_filters.CharFilter(field_name="calendar__code", lookup_expr="iexact")
    accredited_only = django_filters.BooleanFilter()

    class Meta:
        model = Instrument
        fields = ["search", "asset_class", "status", "currency", "calendar", "accredited_only"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(symbol__icontains=value) | Q(name__icontains=value))


class InstrumentViewSet(viewsets.ReadOnlyModelViewSet):
    """GET /instruments (paginated; ?search=, ?asset_class=, ?status=, ?currency=) and
    GET /instruments/{symbol} with its market state, open halt and next session."""

    serializer_class = s.InstrumentOutputSerializer
    filterset_class = InstrumentFilter
    lookup_field = "symbol"
    lookup_value_regex = r"[A-Za-z0-9.\-]+"

    def get_queryset(self) -> QuerySet[Instrument]:
        return selectors.instruments_list()

    def get_object(self) -> Instrument:
        return selectors.instrument_get(symbol=self.kwargs["symbol"])

    def get_serializer_class(self) -> type:
        if self.action == "retrieve":
            return s.InstrumentDetailOutputSerializer
        return s.InstrumentOutputSerializer


class CalendarViewSet(viewsets.ReadOnlyModelViewSet):
    """GET /calendars and GET /calendars/{code}: hours, next sessions, holidays ahead."""

    serializer_class = s.CalendarOutputSerializer
    lookup_field = "code"
    lookup_value_regex = r"[A-Za-z0-9_\-]+"
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[TradingCalendar]:
        return selectors.calendars_list()

    def get_object(self) -> TradingCalendar:
        return selectors.calendar_get(code=self.kwargs["code"])

    def get_serializer_class(self) -> type:
        if self.action == "retrieve":
            return s.CalendarDetailOutputSerializer
        return s.CalendarOutputSerializer


# --- Back office ----------------------------------------------------------------------------


class _PerMethodPermissions:
    """``method_permissions = {"GET": "app.perm", ...}``: a staff permission per method."""

    method_permissions: dict[str, str] = {}

    def get_permissions(self) -> list[BasePermission]:
        perm = self.method_permissions.get(self.request.method, "instruments.view_instrument")
        return [staff_permission(perm)()]


class InstrumentBackofficeListCreateApi(_PerMethodPermissions, ListAPIView):
    """GET/POST /backoffice/instruments: every instrument; list a new one."""

    method_permissions = {
        "GET": "instruments.view_instrument",
        "POST": "instruments.add_instrument",
    }
    serializer_class = s.InstrumentBackofficeOutputSerializer
    filterset_class = InstrumentFilter

    def get_queryset(self) -> QuerySet[Instrument]:
        return selectors.instruments_list()

    @extend_schema(
        request=s.InstrumentCreateInputSerializer,
        responses={201: s.InstrumentBackofficeOutputSerializer},
    )
    def post(self, request: Request) -> Response:
        data = s.InstrumentCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        instrument = services.instrument_create(actor=request.user, **data.validated_data)
        instrument = selectors.instrument_get(symbol=instrument.symbol)
        return Response(
            s.InstrumentBackofficeOutputSerializer(instrument).data, status=status.HTTP_201_CREATED
        )


class InstrumentBackofficeDetailApi(_PerMethodPermissions, APIView):
    """GET/PATCH /backoffice/instruments/{symbol}: read, or change terms with a reason."""

    method_permissions = {
        "GET": "instruments.view_instrument",
        "PATCH": "instruments.change_instrument",
    }

    @extend_schema(responses=s.InstrumentBackofficeOutputSerializer)
    def get(self, request: Request, symbol: str) -> Response:
        instrument = selectors.instrument_get(symbol=symbol)
        return Response(s.InstrumentBackofficeOutputSerializer(instrument).data)

    @extend_schema(
        request=s.InstrumentUpdateInputSerializer,
        responses=s.InstrumentBackofficeOutputSerializer,
    )
    def patch(self, request: Request, symbol: str) -> Response:
        instrument = selectors.instrument_get(symbol=symbol)
        data = s.InstrumentUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        reason = fields.pop("reason")
        services.instrument_update(
            instrument=instrument, actor=request.user, reason=reason, **fields
        )
        instrument = selectors.instrument_get(symbol=symbol)
        return Response(s.InstrumentBackofficeOutputSerializer(instrument).data)


class InstrumentTransitionApi(APIView):
    """POST /backoffice/instruments/{symbol}/halt | resume | suspend | reinstate | delist."""

    action_name = ""
    SERVICES = {
        "halt": (services.instrument_halt, "instruments.halt_instrument"),
        "resume": (services.instrument_resume, "instruments.halt_instrument"),
        "suspend": (services.instrument_suspend, "instruments.suspend_instrument"),
        "reinstate": (services.instrument_reinstate, "instruments.suspend_instrument"),
        "delist": (services.instrument_delist, "instruments.delist_instrument"),
    }

    def get_permissions(self) -> list[BasePermission]:
        return [staff_permission(self.SERVICES[self.action_name][1])()]

    @extend_schema(request=s.HaltInputSerializer, responses=s.InstrumentStatusOutputSerializer)
    def post(self, request: Request, symbol: str) -> Response:
        serializer = (
            s.HaltInputSerializer if self.action_name == "halt" else s.ReasonInputSerializer
        )
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        instrument = selectors.instrument_get(symbol=symbol)
        service = self.SERVICES[self.action_name][0]
        instrument = service(instrument=instrument, actor=request.user, **data.validated_data)
        return Response(s.InstrumentStatusOutputSerializer(instrument).data)


class InstrumentHaltHistoryApi(ListAPIView):
    """GET /backoffice/instruments/{symbol}/halts: every halt, who started and ended it."""

    permission_classes = [staff_permission("instruments.view_instrumenthalt")]
    serializer_class = s.HaltHistoryOutputSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet:
        instrument = selectors.instrument_get(symbol=self.kwargs["symbol"])
        return selectors.instrument_halts(instrument=instrument)


class CalendarClosureListCreateApi(_PerMethodPermissions, APIView):
    """GET/POST /backoffice/calendars/{code}/closures: staff closures of a calendar."""

    method_permissions = {
        "GET": "instruments.view_calendarclosure",
        "POST": "instruments.add_calendarclosure",
    }

    @extend_schema(responses=s.ClosureOutputSerializer(many=True))
    def get(self, request: Request, code: str) -> Response:
        calendar = selectors.calendar_get(code=code)
        closures = selectors.calendar_closures(calendar=calendar)
        return Response(s.ClosureOutputSerializer(closures, many=True).data)

    @extend_schema(request=s.ClosureInputSerializer, responses={201: s.ClosureOutputSerializer})
    def post(self, request: Request, code: str) -> Response:
        calendar = selectors.calendar_get(code=code)
        data = s.ClosureInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        closure = services.calendar_closure_add(
            calendar=calendar, actor=request.user, **data.validated_data
        )
        return Response(s.ClosureOutputSerializer(closure).data, status=status.HTTP_201_CREATED)


class CalendarClosureDetailApi(APIView):
    """DELETE /backoffice/calendars/{code}/closures/{date} with a reason."""

    permission_classes = [staff_permission("instruments.delete_calendarclosure")]

    @extend_schema(
        request=s.ReasonInputSerializer,
        responses={204: None},
        parameters=[OpenApiParameter("date", str, OpenApiParameter.PATH)],
    )
    def delete(self, request: Request, code: str, date: str) -> Response:
        calendar = selectors.calendar_get(code=code)
        try:
            day = dt.date.fromisoformat(date)
        except ValueError as exc:
            raise invalid("Not a date.", date="Use YYYY-MM-DD.") from exc
        closure = calendar.closures.filter(date=day).first()
        if closure is None:
            raise not_found("No staff closure on that date.")
        data = s.ReasonInputSerializer(data=request.data or request.query_params)
        data.is_valid(raise_exception=True)
        services.calendar_closure_remove(
            closure=closure, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Corporate actions ----------------------------------------------------------------------


def _paginated(view: APIView, request: Request, queryset: Any, serializer_class: type) -> Response:
    paginator = view.settings.DEFAULT_PAGINATION_CLASS()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def _action_body(action: Any) -> dict[str, Any]:
    action = selectors.corporate_action_backoffice(pk=action.pk)
    return s.CorporateActionBackofficeOutputSerializer(action).data


class CorporateActionBackofficeListCreateApi(_PerMethodPermissions, APIView):
    """GET /backoffice/corporate-actions (?status=, ?kind=, ?symbol=); POST enters one
    (draft, or announced with ``announce``), idempotent with an Idempotency-Key."""

    method_permissions = {
        "GET": "instruments.view_corporateaction",
        "POST": "instruments.add_corporateaction",
    }

    @extend_schema(
        parameters=[s.CorporateActionStatusQuerySerializer],
        responses=s.CorporateActionBackofficeOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        query = s.CorporateActionStatusQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        actions = selectors.corporate_actions_backoffice(**query.validated_data)
        return _paginated(self, request, actions, s.CorporateActionBackofficeOutputSerializer)

    @extend_schema(
        request=s.CorporateActionDeclareInputSerializer,
        responses={201: s.CorporateActionBackofficeOutputSerializer},
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = s.CorporateActionDeclareInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        terms = dict(data.validated_data)
        action = services.corporate_action_declare(
            actor=request.user,
            kind=terms.pop("kind"),
            symbol=terms.pop("symbol"),
            announce=terms.pop("announce"),
            idempotency_key=idempotency_key(request),
            **terms,
        )
        return Response(_action_body(action), status=status.HTTP_201_CREATED)


class CorporateActionBackofficeDetailApi(_PerMethodPermissions, APIView):
    """GET /backoffice/corporate-actions/{id}; PATCH changes a draft's or announced
    action's terms (reason)."""

    method_permissions = {
        "GET": "instruments.view_corporateaction",
        "PATCH": "instruments.change_corporateaction",
    }

    @extend_schema(responses=s.CorporateActionBackofficeOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        action = selectors.corporate_action_backoffice(pk=pk)
        return Response(s.CorporateActionBackofficeOutputSerializer(action).data)

    @extend_schema(
        request=s.CorporateActionUpdateInputSerializer,
        responses=s.CorporateActionBackofficeOutputSerializer,
    )
    def patch(self, request: Request, pk: int) -> Response:
        action = selectors.corporate_action_backoffice(pk=pk)
        data = s.CorporateActionUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        reason = fields.pop("reason", "")
        action = services.corporate_action_update(
            action=action, actor=request.user, reason=reason, **fields
        )
        return Response(_action_body(action))


class CorporateActionPreviewApi(APIView):
    """GET /backoffice/corporate-actions/{id}/preview: the entitlements processing would
    create now, per account, with totals and what would stop it. Writes nothing."""

    permission_classes = [staff_permission("instruments.view_corporateaction")]

    @extend_schema(responses=s.CorporateActionPreviewOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        action = selectors.corporate_action_backoffice(pk=pk)
        preview = selectors.corporate_action_preview(action=action)
        return Response(s.CorporateActionPreviewOutputSerializer(preview).data)


class CorporateActionEntitlementsApi(APIView):
    """GET /backoffice/corporate-actions/{id}/entitlements: what each account received."""

    permission_classes = [staff_permission("instruments.view_corporateaction")]

    @extend_schema(responses=s.EntitlementOutputSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        action = selectors.corporate_action_backoffice(pk=pk)
        rows = action.entitlements.select_related("account").order_by("account__number")
        return _paginated(self, request, rows, s.EntitlementOutputSerializer)


class CorporateActionTransitionApi(APIView):
    """POST /backoffice/corporate-actions/{id}/announce | approve | process | cancel
    (reason; required to cancel). Approval is four-eyes: not by who entered or last edited
    the terms (403). Processing an action already processed answers it unchanged."""

    action_name = ""
    SERVICES = {
        "announce": services.corporate_action_announce,
        "approve": services.corporate_action_approve,
        "process": services.corporate_action_process,
        "cancel": services.corporate_action_cancel,
    }
    permission_classes = [staff_permission("instruments.view_corporateaction")]

    @extend_schema(
        request=s.CorporateActionReasonInputSerializer,
        responses=s.CorporateActionBackofficeOutputSerializer,
    )
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        data = s.CorporateActionReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action = selectors.corporate_action_backoffice(pk=pk)
        action = self.SERVICES[self.action_name](
            action=action, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(_action_body(action))


class CorporateActionListApi(APIView):
    """GET /corporate-actions (?symbol=, ?upcoming=true): announced, approved and processed
    corporate actions, newest first."""

    @extend_schema(
        parameters=[
            OpenApiParameter("symbol", str),
            OpenApiParameter("upcoming", bool, description="Only those not processed yet"),
        ],
        responses=s.CorporateActionOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        symbol = request.query_params.get("symbol", "").strip()
        instrument = selectors.instrument_get(symbol=symbol) if symbol else None
        upcoming = request.query_params.get("upcoming", "").lower() in {"1", "true", "yes"}
        actions = selectors.corporate_actions_public(instrument=instrument, upcoming=upcoming)
        return _paginated(self, request, actions, s.CorporateActionOutputSerializer)


class DividendListApi(APIView):
    """GET /dividends (?account=): dividends paid to your accounts, newest pay date first,
    with shares of record, gross, tax withheld and net. Another client's account is 404."""

    @extend_schema(
        parameters=[s.DividendQuerySerializer], responses=s.DividendOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        from apps.accounts.selectors import trading_account_for

        query = s.DividendQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        account_id = query.validated_data.get("account")
        account = (
            trading_account_for(user=request.user, pk=account_id)
            if account_id is not None
            else None
        )
        rows = selectors.dividends_for(user=request.user, account=account)
        return _paginated(self, request, rows, s.DividendOutputSerializer)
