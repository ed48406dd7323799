"""Celery tasks of the kyc app: thin, idempotent, each calling one service."""
