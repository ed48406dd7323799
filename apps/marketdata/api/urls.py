"""API routes of the marketdata app (under /api/v1/)."""

urlpatterns: list = []
