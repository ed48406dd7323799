"""Portal routes of the instruments app."""

from django.urls import path

from apps.instruments import views

app_name = "instruments"

urlpatterns = [
    path("instruments/", views.instrument_list, name="list"),
    path("instruments/<str:symbol>/", views.instrument_detail, name="detail"),
    path("dividends/", views.dividends, name="dividends"),
]
