"""API routes of the instruments app (under /api/v1/)."""

urlpatterns: list = []
