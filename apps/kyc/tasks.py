"""Celery tasks of the kyc app: thin, idempotent, each calling one service."""

from celery import shared_task

from apps.kyc import services


@shared_task(name="apps.kyc.tasks.kyc_screen")
def kyc_screen(application_id: int, submission: int) -> str | None:
    """Screen one submission (enqueued through the outbox by ``kyc_submit``)."""
    result = services.kyc_screening_run(application_id=application_id, submission=submission)
    return result.outcome if result is not None else None


@shared_task(name="apps.kyc.tasks.kyc_reviews_mark_due")
def kyc_reviews_mark_due() -> int:
    """Daily: approved clients whose review date came or whose id expired -> review_due."""
    return services.kyc_reviews_mark_due()
