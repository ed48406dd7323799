"""API routes of the settlement app (under /api/v1/)."""

urlpatterns: list = []
