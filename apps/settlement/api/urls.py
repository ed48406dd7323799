"""API routes of the settlement app (under /api/v1/)."""

from django.urls import path

from apps.settlement.api import views

urlpatterns = [
    path("settlements", views.InstructionListApi.as_view(), name="settlement-list"),
]
