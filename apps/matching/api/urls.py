"""API routes of the matching app (under /api/v1/)."""

from django.urls import path

from apps.matching.api import views

urlpatterns = [
    path("trades", views.TradeListApi.as_view(), name="trade-list"),
]
