"""Celery tasks of the surveillance app: thin, idempotent, each calling one service."""
