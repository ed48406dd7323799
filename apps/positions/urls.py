"""Portal routes of the positions app."""

app_name = "positions"

urlpatterns: list = []
