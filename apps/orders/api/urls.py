"""API routes of the orders app (under /api/v1/)."""

from django.urls import path

from apps.orders.api import views

urlpatterns = [
    path("orders", views.OrderListCreateApi.as_view(), name="order-list"),
    path("orders/preview", views.OrderPreviewApi.as_view(), name="order-preview"),
    path("orders/<int:pk>", views.OrderDetailApi.as_view(), name="order-detail"),
    path("backoffice/orders", views.OrderBlotterApi.as_view(), name="backoffice-order-list"),
    path(
        "backoffice/orders/<int:pk>/cancel",
        views.OrderBackofficeCancelApi.as_view(),
        name="backoffice-order-cancel",
    ),
]
