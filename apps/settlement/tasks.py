"""Celery tasks of the settlement app: thin, idempotent, each calling one service."""
