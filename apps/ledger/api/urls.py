"""API routes of the ledger app (under /api/v1/)."""

urlpatterns: list = []
