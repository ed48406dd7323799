"""Celery tasks of the instruments app: thin, idempotent, each calling one service."""

from celery import shared_task

from apps.instruments import services


@shared_task(name="apps.instruments.tasks.halts_resume_due")
def halts_resume_due() -> list[str]:
    """Resume halted instruments whose planned resumption time has come."""
    return services.halts_resume_due()


@shared_task(name="apps.instruments.tasks.corporate_actions_process_due")
def corporate_actions_process_due() -> list[str]:
    """Process approved corporate actions whose date has come (dividends on their pay date,
    splits and symbol changes on their effective date)."""
    return services.corporate_actions_process_due()
