"""Celery tasks of the positions app: thin, idempotent, each calling one service."""

from celery import shared_task

from apps.positions import services


@shared_task(name="apps.positions.tasks.positions_reconcile")
def positions_reconcile() -> int:
    """The nightly check of every position against the ledger's securities; returns how many
    breaks it recorded (staff work them in the admin: Reconciliation breaks)."""
    return len(services.positions_reconcile())
