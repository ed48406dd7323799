"""The audit trail: django-simple-history, with who / where / which request on every row.

Every stateful model declares ``history = audit_history()``. Each historical row then records
the actor (``history_user``), the IP address and user agent, the correlation id of the request
or Celery task, and the reason a staff member gave (``history_change_reason``).

Services name the actor and the reason with :func:`stamp` before ``save()``; what they don't
name comes from the audit context (apps.core.context). Bulk writes on audited models go
through simple-history's ``bulk_*_with_history`` with ``custom_historical_attrs=history_attrs()``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.dispatch import receiver
from simple_history.models import HistoricalRecords
from simple_history.signals import pre_create_historical_record

from apps.core import context


class AuditedHistoricalModel(models.Model):
    """Columns every historical table carries beside simple-history's own."""

    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True, default="")
    correlation_id = models.CharField(max_length=64, blank=True, default="", db_index=True)

    class Meta:
        abstract = True


def _actor_from_context(instance: Any = None, request: Any = None, **kwargs: Any) -> Any:
    actor = context.current().actor
    if actor is not None and getattr(actor, "is_authenticated", False) and actor.pk:
        return actor
    return None


def audit_history(**kwargs: Any) -> HistoricalRecords:
    """The history manager for a stateful model: simple-history with Bourse's audit columns."""
    kwargs.setdefault("bases", [AuditedHistoricalModel])
    kwargs.setdefault("get_user", _actor_from_context)
    kwargs.setdefault("history_change_reason_field", models.TextField(null=True, blank=True))
    return HistoricalRecords(**kwargs)


def stamp(instance: models.Model, *, actor: Any = None, reason: str = "") -> None:
    """Name who changes ``instance`` and why, for the history row its next save writes."""
    if actor is not None and getattr(actor, "pk", None):
        instance._history_user = actor
    if reason:
        instance._change_reason = reason


def history_attrs() -> dict[str, Any]:
    """Audit columns for ``bulk_create_with_history(custom_historical_attrs=...)``."""
    ctx = context.current()
    return {
        "ip_address": ctx.ip_address,
        "user_agent": ctx.user_agent,
        "correlation_id": ctx.correlation_id,
    }


@receiver(pre_create_historical_record)
def _record_request_context(sender: type, history_instance: models.Model, **kwargs: Any) -> None:
    if isinstance(history_instance, AuditedHistoricalModel):
        for field, value in history_attrs().items():
            if not getattr(history_instance, field, None):
                setattr(history_instance, field, value if value is not None else None)
