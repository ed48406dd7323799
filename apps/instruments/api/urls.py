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
]
