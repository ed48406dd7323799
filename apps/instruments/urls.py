"""Portal routes of the instruments app."""

app_name = "instruments"

urlpatterns: list = []
