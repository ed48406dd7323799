"""The task outbox: a task is sent after commit, resent by the sweeper if its sender died."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.core import services
from apps.core.models import IdempotencyRecord, OutboxMessage

pytestmark = pytest.mark.django_db

PURGE = "apps.core.tasks.idempotency_purge"


def old_record(user) -> IdempotencyRecord:
    record = IdempotencyRecord.objects.create(user=user, scope="POST /x", key="k", request_hash="h")
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=timezone.now() - timedelta(days=60)
    )
    return record


def test_task_is_sent_after_commit_and_the_row_removed(
    client_user, django_capture_on_commit_callbacks
):
    old_record(client_user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        services.outbox_enqueue(task_name=PURGE)
        assert OutboxMessage.objects.count() == 1
    assert len(callbacks) == 1
    assert OutboxMessage.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0  # the task ran


def test_nothing_is_sent_when_the_transaction_rolls_back(
    client_user, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.outbox_enqueue(task_name=PURGE)
        raise RuntimeError("the change failed")
    assert callbacks == []
    assert OutboxMessage.objects.count() == 0


def test_outbox_refuses_to_run_outside_a_transaction(transactional_db):
    with pytest.raises(RuntimeError, match="inside a transaction"):
        services.outbox_enqueue(task_name=PURGE)


def test_sweeper_resends_rows_a_dead_process_left(client_user):
    old_record(client_user)
    message = OutboxMessage.objects.create(task_name=PURGE)
    assert services.outbox_sweep() == 0  # too young: its sender may still be dispatching it
    OutboxMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(minutes=1)
    )
    assert services.outbox_sweep() == 1
    assert not OutboxMessage.objects.exists()
    assert not IdempotencyRecord.objects.exists()


def test_a_failing_send_keeps_the_row_for_the_next_sweep():
    message = OutboxMessage.objects.create(task_name="apps.core.tasks.no_such_task")
    assert services.outbox_dispatch(message_ids=[message.pk]) == 0
    message.refresh_from_db()
    assert message.attempts == 1 and message.last_attempt_at is not None


def test_scheduler_runs_the_beat_table_in_process(client_user):
    ApiToken.objects.create(
        user=client_user,
        key_digest="d" * 64,
        prefix="dddddddd",
        expires_at=timezone.now() - timedelta(days=1),
    )
    call_command("run_scheduler", "--once")
    assert not ApiToken.objects.exists()
