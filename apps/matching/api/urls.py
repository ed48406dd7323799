"""API routes of the matching app (under /api/v1/)."""

urlpatterns: list = []
