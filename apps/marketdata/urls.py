"""Portal routes of the marketdata app."""

from django.urls import path

from apps.marketdata import views

app_name = "marketdata"

urlpatterns = [
    # The dashboard itself is the site's home page (config/urls.py); these are its parts.
    path("dashboard/<str:part>/", views.dashboard_part, name="dashboard_part"),
    path("instruments/<str:symbol>/live/", views.instrument_live, name="instrument_live"),
    path(
        "instruments/<str:symbol>/live/<str:part>/",
        views.instrument_part,
        name="instrument_part",
    ),
    path("markets/watchlists/", views.watchlists, name="watchlists"),
    path("markets/watchlists/<int:pk>/", views.watchlist_detail, name="watchlist"),
    path("markets/watchlists/<int:pk>/delete/", views.watchlist_delete, name="watchlist_delete"),
    path(
        "markets/watchlists/<int:pk>/remove/<str:symbol>/",
        views.watchlist_remove,
        name="watchlist_remove",
    ),
    path("markets/movers/", views.movers, name="movers"),
    path("markets/alerts/", views.alerts, name="alerts"),
    path("markets/alerts/<int:pk>/cancel/", views.alert_cancel, name="alert_cancel"),
    path("markets/notifications/", views.notifications, name="notifications"),
    path("markets/notifications/read/", views.notifications_read, name="notifications_read"),
]
