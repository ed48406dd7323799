"""Portal routes of the marketdata app."""

app_name = "marketdata"

urlpatterns: list = []
