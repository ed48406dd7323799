"""Portal routes of the settlement app."""

app_name = "settlement"

urlpatterns: list = []
