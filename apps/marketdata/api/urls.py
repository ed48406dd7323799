"""API routes of the marketdata app (under /api/v1/)."""

from django.urls import path

from apps.marketdata.api import views

urlpatterns = [
    path(
        "instruments/<str:symbol>/quote",
        views.InstrumentQuoteApi.as_view(),
        name="instrument-quote",
    ),
    path(
        "instruments/<str:symbol>/depth",
        views.InstrumentDepthApi.as_view(),
        name="instrument-depth",
    ),
    path(
        "instruments/<str:symbol>/trades",
        views.InstrumentTradesApi.as_view(),
        name="instrument-trades",
    ),
    path(
        "instruments/<str:symbol>/candles",
        views.InstrumentCandlesApi.as_view(),
        name="instrument-candles",
    ),
    path("market/movers", views.MarketMoversApi.as_view(), name="market-movers"),
    path("watchlists", views.WatchlistListCreateApi.as_view(), name="watchlist-list"),
    path("watchlists/<int:pk>", views.WatchlistDetailApi.as_view(), name="watchlist-detail"),
    path("watchlists/<int:pk>/items", views.WatchlistItemsApi.as_view(), name="watchlist-items"),
    path(
        "watchlists/<int:pk>/items/<str:symbol>",
        views.WatchlistItemDetailApi.as_view(),
        name="watchlist-item-detail",
    ),
    path("alerts", views.PriceAlertListCreateApi.as_view(), name="alert-list"),
    path("alerts/<int:pk>", views.PriceAlertDetailApi.as_view(), name="alert-detail"),
    path("notifications", views.NotificationListApi.as_view(), name="notification-list"),
    path(
        "notifications/<int:pk>/read",
        views.NotificationReadApi.as_view(),
        name="notification-read",
    ),
    path(
        "notifications/read-all",
        views.NotificationReadAllApi.as_view(),
        name="notification-read-all",
    ),
    path(
        "notification-preferences",
        views.NotificationPreferencesApi.as_view(),
        name="notification-preferences",
    ),
]
