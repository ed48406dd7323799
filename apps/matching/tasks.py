"""Celery tasks of the matching app (queues ``matching.<shard>``, one worker each)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.core.queues import matching_queue
from apps.matching import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def match_instrument(instrument_id: int) -> int:
    """Match the instrument's waiting orders; returns how many it took."""
    total = 0
    while True:
        result = services.match_instrument(instrument_id=instrument_id)
        total += result.orders
        if result.orders < settings.MATCHING_BATCH_SIZE:
            return total


@shared_task
def matching_sweep() -> int:
    """Enqueue matching for instruments whose orders have waited too long (a lost message, a
    session that just opened). Returns how many instruments it enqueued."""
    waiting = services.instruments_waiting(
        older_than=timedelta(seconds=settings.MATCHING_SWEEP_AFTER_SECONDS)
    )
    for instrument_id in waiting:
        match_instrument.apply_async(args=[instrument_id], queue=matching_queue(instrument_id))
    return len(waiting)
