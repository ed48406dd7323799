"""Writes of the shared kernel: the task outbox."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core import context
from apps.core.models import OutboxMessage

logger = logging.getLogger("bourse.outbox")


def outbox_enqueue(
    *,
    task_name: str,
    args: list[Any] | tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    queue: str = "",
) -> OutboxMessage:
    """Send ``task_name`` once the surrounding transaction commits, surviving a crash between.

    Must run inside a transaction: the outbox row commits with the change that needs the task,
    or not at all. The task must be idempotent: the sweeper may send it again.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_enqueue must be called inside a transaction")
    message = OutboxMessage.objects.create(
        task_name=task_name,
        args=list(args),
        kwargs=kwargs or {},
        queue=queue,
        correlation_id=context.correlation_id(),
    )
    transaction.on_commit(lambda: outbox_dispatch(message_ids=[message.pk]), robust=True)
    return message


def outbox_dispatch(*, message_ids: list[int]) -> int:
    """Send the given outbox messages and delete them; returns how many were sent.

    Each message is claimed with SKIP LOCKED, so the after-commit dispatch and the sweeper
    never send the same row at the same moment.
    """
    from config.celery import app

    sent = 0
    for message_id in message_ids:
        with transaction.atomic():
            message = (
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(pk=message_id)
                .first()
            )
            if message is None:
                continue
            OutboxMessage.objects.filter(pk=message.pk).update(
                attempts=message.attempts + 1, last_attempt_at=timezone.now()
            )
        try:
            with context.bind(correlation_id=message.correlation_id or context.correlation_id()):
                _send(app, message)
        except Exception:
            logger.exception("Sending outbox message %s failed; the sweeper will retry", message.pk)
            continue
        OutboxMessage.objects.filter(pk=message.pk).delete()
        sent += 1
    return sent


def _send(app: Any, message: OutboxMessage) -> None:
    options = {"queue": message.queue} if message.queue else {}
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # Single-machine mode: run it here, and let a failure keep the row for the sweeper.
        app.tasks[message.task_name].apply(args=message.args, kwargs=message.kwargs, throw=True)
    else:
        app.send_task(message.task_name, args=message.args, kwargs=message.kwargs, **options)


def outbox_sweep(*, limit: int = 500) -> int:
    """Resend outbox messages that are older than OUTBOX_RESEND_AFTER."""
    cutoff = timezone.now() - settings.OUTBOX_RESEND_AFTER
    ids = list(
        OutboxMessage.objects.filter(created_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return outbox_dispatch(message_ids=ids) if ids else 0


def idempotency_records_purge() -> int:
    """Delete Idempotency-Key records past their retention."""
    from apps.core.models import IdempotencyRecord

    cutoff = timezone.now() - settings.IDEMPOTENCY_KEY_TTL
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
