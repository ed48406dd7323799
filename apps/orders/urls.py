"""Portal routes of the orders app."""

from django.urls import path

from apps.orders import views

app_name = "orders"

urlpatterns = [
    path("orders/", views.order_list, name="list"),
    path("orders/new", views.order_new, name="new"),
    path("orders/new/", views.order_new),
    path("orders/place/", views.order_place, name="place"),
    path("orders/<int:pk>/", views.order_detail, name="detail"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="cancel"),
    path("orders/<int:pk>/replace/", views.order_replace, name="replace"),
]
