"""Portal routes of the matching app."""

app_name = "matching"

urlpatterns: list = []
