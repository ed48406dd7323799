"""API routes of the kyc app (under /api/v1/)."""

urlpatterns: list = []
