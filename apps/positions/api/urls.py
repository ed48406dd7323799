"""API routes of the positions app (under /api/v1/)."""

from django.urls import path

from apps.positions.api import views

urlpatterns = [
    path("positions", views.PositionListApi.as_view(), name="position-list"),
    path("positions/<int:pk>", views.PositionDetailApi.as_view(), name="position-detail"),
    path("positions/<int:pk>/lots", views.PositionLotsApi.as_view(), name="position-lots"),
    path("portfolio", views.PortfolioApi.as_view(), name="portfolio"),
    path(
        "backoffice/securities-transfers",
        views.TransferListCreateApi.as_view(),
        name="backoffice-securities-transfer-list",
    ),
    path(
        "backoffice/securities-transfers/<int:pk>",
        views.TransferDetailApi.as_view(),
        name="backoffice-securities-transfer-detail",
    ),
    *[
        path(
            f"backoffice/securities-transfers/<int:pk>/{action}",
            views.TransferActionApi.as_view(action_name=action),
            name=f"backoffice-securities-transfer-{action}",
        )
        for action in views.TransferActionApi.ACTIONS
    ],
    path(
        "backoffice/positions/breaks",
        views.BreakListApi.as_view(),
        name="backoffice-position-break-list",
    ),
    path(
        "backoffice/positions/breaks/<int:pk>/resolve",
        views.BreakResolveApi.as_view(),
        name="backoffice-position-break-resolve",
    ),
    path(
        "backoffice/positions/reconcile",
        views.ReconcileApi.as_view(),
        name="backoffice-position-reconcile",
    ),
]
