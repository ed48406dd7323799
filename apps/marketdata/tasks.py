"""Celery tasks of the marketdata app: thin, idempotent, each calling one service."""
