"""Infrastructure tables shared by every app: idempotency records and the task outbox."""

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a request sent with an Idempotency-Key, replayed for repeats."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=255, help_text="Method and path the key was used on.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} ({self.state})"


class OutboxMessage(models.Model):
    """A Celery task to send, written in the same transaction as the change that needs it.

    After commit the task is sent and the row deleted; the sweeper resends rows a dead process
    left behind. Tasks fed from the outbox are idempotent, so a resend is harmless.
    """

    task_name = models.CharField(max_length=255)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    queue = models.CharField(max_length=100, blank=True, default="")
    correlation_id = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.task_name}{tuple(self.args)}"


class AuditTrail(models.Model):
    """No table: carries the permission to query the audit trail across every model."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_audit_trail", "Can query the audit trail of every model")]

    def __str__(self) -> str:
        return "Audit trail"
