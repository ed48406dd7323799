"""Portal routes of the positions app."""

from django.urls import path

from apps.positions import views

app_name = "positions"

urlpatterns = [
    path("positions", views.positions_page, name="list"),
    path("positions/", views.positions_page),
]
