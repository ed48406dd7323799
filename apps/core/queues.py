"""Celery queue names shared by the apps that enqueue and the workers that consume."""

from __future__ import annotations

from django.conf import settings


def matching_queue(instrument_id: int) -> str:
    """The matching queue of an instrument: stable for a given number of shards, so one worker
    (concurrency 1) sees all of an instrument's batches in order."""
    return f"matching.{instrument_id % settings.MATCHING_SHARDS}"
