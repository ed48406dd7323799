"""Celery tasks of the ledger app: thin, idempotent, each calling one service."""
