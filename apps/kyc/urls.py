"""Portal routes of the kyc app."""

app_name = "kyc"

urlpatterns: list = []
