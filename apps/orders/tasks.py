"""Celery tasks of the orders app."""

from celery import shared_task

from apps.orders import services


@shared_task
def orders_expire_due() -> int:
    """Expire DAY orders past their session's close and GTD orders past expire_at."""
    return services.orders_expire_due()
