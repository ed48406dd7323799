"""API routes of the positions app (under /api/v1/)."""

urlpatterns: list = []
