"""Portal routes of the settlement app."""

from django.urls import path

from apps.settlement import views

app_name = "settlement"

urlpatterns = [
    path("settlements/", views.settlements_home, name="settlements_home"),
    path("settlements/<int:account_id>/", views.settlements, name="settlements"),
]
