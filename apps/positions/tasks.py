"""Celery tasks of the positions app: thin, idempotent, each calling one service."""
