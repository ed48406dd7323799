"""Celery tasks of the reporting app: thin, idempotent, each calling one service."""
