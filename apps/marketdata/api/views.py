"""Market data endpoints (API.md "Instruments and market data"), movers, watchlists, price
alerts, notifications and notification preferences."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.errors import invalid
from apps.marketdata import selectors, services, snapshots, storage
from apps.marketdata.api import serializers as s

DEFAULT_CANDLES = 300


def _paginate(view: APIView, request: Request, queryset, serializer_class, **context):
    paginator = view.settings.DEFAULT_PAGINATION_CLASS()
    page = paginator.paginate_queryset(queryset, request, view=view)
    data = serializer_class(page, many=True, context={"request": request, **context}).data
    return paginator.get_paginated_response(data)


# --- Market data ----------------------------------------------------------------------------


class InstrumentQuoteApi(APIView):
    @extend_schema(responses=s.QuoteOutputSerializer)
    def get(self, request: Request, symbol: str) -> Response:
        instrument = selectors.instrument_by_symbol(symbol)
        return Response(selectors.instrument_quote(instrument=instrument))


class InstrumentDepthApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("levels", int, description="1 to 20 (default 10)")],
        responses=s.DepthOutputSerializer,
    )
    def get(self, request: Request, symbol: str) -> Response:
        levels = selectors.depth_levels(request.query_params.get("levels"))
        instrument = selectors.instrument_by_symbol(symbol)
        return Response(selectors.instrument_depth(instrument=instrument, levels=levels))


class InstrumentTradesApi(APIView):
    @extend_schema(
        parameters=[s.PrintsInputSerializer], responses=s.PrintOutputSerializer(many=True)
    )
    def get(self, request: Request, symbol: str) -> Response:
        params = s.PrintsInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        instrument = selectors.instrument_by_symbol(symbol)
        prints = selectors.instrument_prints(
            instrument=instrument, limit=params.validated_data["limit"]
        )
        return Response([{k: v for k, v in p.items() if k != "symbol"} for p in prints])


class InstrumentCandlesApi(APIView):
    @extend_schema(
        parameters=[s.CandlesInputSerializer], responses=s.CandleOutputSerializer(many=True)
    )
    def get(self, request: Request, symbol: str) -> Response:
        params = s.CandlesInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        interval = params.validated_data["interval"]
        width = storage.INTERVALS[interval]
        end = params.validated_data.get("end") or timezone.now()
        start = params.validated_data.get("start") or end - width * DEFAULT_CANDLES
        if start >= end:
            raise invalid("start must be before end.", start="Before end.")
        if (end - start) / width > settings.MARKETDATA_CANDLES_MAX_POINTS:
            raise invalid(
                f"At most {settings.MARKETDATA_CANDLES_MAX_POINTS} candles per request; "
                "narrow the range or widen the interval.",
                start="Range too long for this interval.",
            )
        instrument = selectors.instrument_by_symbol(symbol)
        candles = selectors.instrument_candles(
            instrument=instrument, interval=interval, start=start, end=end
        )
        f = snapshots.Formats(instrument)
        return Response(
            [
                {
                    "time": snapshots.iso(c["time"]),
                    "open": f.p(c["open"]),
                    "high": f.p(c["high"]),
                    "low": f.p(c["low"]),
                    "close": f.p(c["close"]),
                    "volume": f.q(c["volume"]),
                }
                for c in candles
            ]
        )


class MarketMoversApi(APIView):
    @extend_schema(parameters=[s.MoversInputSerializer], responses=s.MoversOutputSerializer)
    def get(self, request: Request) -> Response:
        params = s.MoversInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(
            selectors.market_movers(
                asset_class=params.validated_data.get("asset_class") or None,
                limit=params.validated_data["limit"],
            )
        )


# --- Watchlists -----------------------------------------------------------------------------


def _watchlist_body(request: Request, watchlists) -> dict:
    instruments = {i.instrument for w in watchlists for i in w.items.all()}
    return {"request": request, "quotes": selectors.instrument_quotes(instruments=instruments)}


class WatchlistListCreateApi(APIView):
    @extend_schema(responses=s.WatchlistOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(
            selectors.watchlists_for(user=request.user), request, view=self
        )
        data = s.WatchlistOutputSerializer(
            page, many=True, context=_watchlist_body(request, page)
        ).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request=s.WatchlistCreateInputSerializer, responses={201: s.WatchlistOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = s.WatchlistCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        symbols = data.validated_data["symbols"]
        found = selectors.instruments_by_symbol(symbols)
        unknown = sorted({selectors.normalize_symbol(x) for x in symbols} - set(found))
        if unknown:
            raise invalid("Unknown symbols.", symbols=[f"Unknown symbol {u}." for u in unknown])
        ordered = [found[selectors.normalize_symbol(x)] for x in symbols]
        watchlist = services.watchlist_create(
            user=request.user, name=data.validated_data["name"], instruments=ordered
        )
        watchlist = selectors.watchlist_for(user=request.user, pk=watchlist.pk)
        body = s.WatchlistOutputSerializer(
            watchlist, context=_watchlist_body(request, [watchlist])
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class WatchlistDetailApi(APIView):
    @extend_schema(responses=s.WatchlistOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        watchlist = selectors.watchlist_for(user=request.user, pk=pk)
        context = _watchlist_body(request, [watchlist])
        return Response(s.WatchlistOutputSerializer(watchlist, context=context).data)

    @extend_schema(request=s.WatchlistRenameInputSerializer, responses=s.WatchlistOutputSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        data = s.WatchlistRenameInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        watchlist = selectors.watchlist_for(user=request.user, pk=pk)
        services.watchlist_rename(
            watchlist=watchlist, name=data.validated_data["name"], actor=request.user
        )
        return self.get(request, pk)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        watchlist = selectors.watchlist_for(user=request.user, pk=pk)
        services.watchlist_delete(watchlist=watchlist, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WatchlistItemsApi(APIView):
    @extend_schema(
        request=s.WatchlistItemInputSerializer, responses={201: s.WatchlistOutputSerializer}
    )
    def post(self, request: Request, pk: int) -> Response:
        data = s.WatchlistItemInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        watchlist = selectors.watchlist_for(user=request.user, pk=pk)
        instrument = selectors.instrument_by_symbol(data.validated_data["symbol"])
        services.watchlist_item_add(watchlist=watchlist, instrument=instrument, actor=request.user)
        watchlist = selectors.watchlist_for(user=request.user, pk=pk)
        context = _watchlist_body(request, [watchlist])
        return Response(
            s.WatchlistOutputSerializer(watchlist, context=context).data,
            status=status.HTTP_201_CREATED,
        )


class WatchlistItemDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int, symbol: str) -> Response:
        watchlist = selectors.watchlist_for(user=request.user, pk=pk)
        instrument = selectors.instrument_by_symbol(symbol)
        services.watchlist_item_remove(
            watchlist=watchlist, instrument=instrument, actor=request.user
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Price alerts ---------------------------------------------------------------------------


class PriceAlertListCreateApi(APIView):
    @extend_schema(
        parameters=[s.AlertListInputSerializer], responses=s.PriceAlertOutputSerializer(many=True)
    )
    def get(self, request: Request) -> Response:
        alerts = selectors.price_alerts_for(
            user=request.user, status=request.query_params.get("status") or None
        )
        return _paginate(self, request, alerts, s.PriceAlertOutputSerializer)

    @extend_schema(
        request=s.PriceAlertCreateInputSerializer, responses={201: s.PriceAlertOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        data = s.PriceAlertCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        instrument = selectors.instrument_by_symbol(values.pop("symbol"))
        alert = services.price_alert_create(user=request.user, instrument=instrument, **values)
        return Response(s.PriceAlertOutputSerializer(alert).data, status=status.HTTP_201_CREATED)


class PriceAlertDetailApi(APIView):
    @extend_schema(responses=s.PriceAlertOutputSerializer)
    def get(self, request: Request, pk: int) -> Response:
        alert = selectors.price_alert_for(user=request.user, pk=pk)
        return Response(s.PriceAlertOutputSerializer(alert).data)

    @extend_schema(responses=s.PriceAlertOutputSerializer)
    def delete(self, request: Request, pk: int) -> Response:
        """Cancel the alert (it stays listed, as cancelled)."""
        alert = selectors.price_alert_for(user=request.user, pk=pk)
        alert = services.price_alert_cancel(
            alert=alert, actor=request.user, reason="Cancelled by the client"
        )
        return Response(s.PriceAlertOutputSerializer(alert).data)


# --- Notifications --------------------------------------------------------------------------


class NotificationListApi(APIView):
    @extend_schema(
        parameters=[s.NotificationListInputSerializer],
        responses=s.NotificationOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = s.NotificationListInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        notifications = selectors.notifications_for(
            user=request.user, unread=params.validated_data.get("unread")
        )
        return _paginate(self, request, notifications, s.NotificationOutputSerializer)


class NotificationReadApi(APIView):
    @extend_schema(request=None, responses=s.NotificationOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        notification = selectors.notification_for(user=request.user, pk=pk)
        notification = services.notification_mark_read(notification=notification)
        return Response(s.NotificationOutputSerializer(notification).data)


class NotificationReadAllApi(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request: Request) -> Response:
        return Response({"marked": services.notifications_mark_all_read(user=request.user)})


class NotificationPreferencesApi(APIView):
    @extend_schema(responses=s.PreferenceOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(selectors.notification_preferences(user=request.user))

    @extend_schema(
        request=s.PreferencesUpdateInputSerializer,
        responses=s.PreferenceOutputSerializer(many=True),
    )
    def patch(self, request: Request) -> Response:
        data = s.PreferencesUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = {
            row["event"]: {k: v for k, v in row.items() if k != "event"}
            for row in data.validated_data["preferences"]
        }
        services.notification_preferences_update(user=request.user, preferences=changes)
        return Response(selectors.notification_preferences(user=request.user))
