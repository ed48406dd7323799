"""Celery tasks of the orders app: thin, idempotent, each calling one service."""
