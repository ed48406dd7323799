"""API routes of the reporting app (under /api/v1/)."""

urlpatterns: list = []
