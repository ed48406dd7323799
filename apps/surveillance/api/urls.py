"""API routes of the surveillance app (under /api/v1/)."""

urlpatterns: list = []
