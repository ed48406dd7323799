"""Celery tasks of the matching app: thin, idempotent, each calling one service."""
