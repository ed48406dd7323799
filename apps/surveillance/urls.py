"""Portal routes of the surveillance app."""

app_name = "surveillance"

urlpatterns: list = []
