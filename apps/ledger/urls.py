"""Portal routes of the ledger app."""

from django.urls import path

from apps.ledger import views

app_name = "ledger"

urlpatterns = [
    path("funding/", views.funding_home, name="funding_home"),
    path("funding/<int:account_id>/", views.funding, name="funding"),
    path(
        "funding/withdrawals/<int:pk>/cancel/",
        views.withdrawal_cancel,
        name="withdrawal_cancel",
    ),
]
