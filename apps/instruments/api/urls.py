"""API routes of the instruments app (under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.instruments.api import views

router = SimpleRouter(trailing_slash=False)
router.register("instruments", views.InstrumentViewSet, basename="instrument")
router.register("calendars", views.CalendarViewSet, basename="calendar")

urlpatterns = [
    *router.urls,
    path(
        "backoffice/instruments",
        views.InstrumentBackofficeListCreateApi.as_view(),
        name="backoffice-instrument-list",
    ),
    path(
        "backoffice/instruments/<str:symbol>",
        views.InstrumentBackofficeDetailApi.as_view(),
        name="backoffice-instrument-detail",
    ),
    path(
        "backoffice/instruments/<str:symbol>/halts",
        views.InstrumentHaltHistoryApi.as_view(),
        name="backoffice-instrument-halts",
    ),
    *[
        path(
            f"backoffice/instruments/<str:symbol>/{action}",
            views.InstrumentTransitionApi.as_view(action_name=action),
            name=f"backoffice-instrument-{action}",
        )
        for action in views.InstrumentTransitionApi.SERVICES
    ],
    path(
        "backoffice/calendars/<str:code>/closures",
        views.CalendarClosureListCreateApi.as_view(),
        name="backoffice-calendar-closures",
    ),
    path(
        "backoffice/calendars/<str:code>/closures/<str:date>",
        views.CalendarClosureDetailApi.as_view(),
        name="backoffice-calendar-closure-detail",
    ),
    # Corporate actions
    path(
        "backoffice/corporate-actions",
        views.CorporateActionBackofficeListCreateApi.as_view(),
        name="backoffice-corporate-action-list",
    ),
    path(
        "backoffice/corporate-actions/<int:pk>",
        views.CorporateActionBackofficeDetailApi.as_view(),
        name="backoffice-corporate-action-detail",
    ),
    path(
        "backoffice/corporate-actions/<int:pk>/preview",
        views.CorporateActionPreviewApi.as_view(),
        name="backoffice-corporate-action-preview",
    ),
    path(
        "backoffice/corporate-actions/<int:pk>/entitlements",
        views.CorporateActionEntitlementsApi.as_view(),
        name="backoffice-corporate-action-entitlements",
    ),
    *[
        path(
            f"backoffice/corporate-actions/<int:pk>/{action}",
            views.CorporateActionTransitionApi.as_view(action_name=action),
            name=f"backoffice-corporate-action-{action}",
        )
        for action in views.CorporateActionTransitionApi.SERVICES
    ],
    path("corporate-actions", views.CorporateActionListApi.as_view(), name="corporate-action-list"),
    path("dividends", views.DividendListApi.as_view(), name="dividend-list"),
]
