from celery import shared_task

from apps.core import services


@shared_task(name="apps.core.tasks.outbox_sweep")
def outbox_sweep() -> int:
    return services.outbox_sweep()


@shared_task(name="apps.core.tasks.idempotency_purge")
def idempotency_purge() -> int:
    return services.idempotency_records_purge()
