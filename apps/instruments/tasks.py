"""Celery tasks of the instruments app: thin, idempotent, each calling one service."""
