"""Reads of the shared kernel: the audit trail across every audited model."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import CharField, F, QuerySet, Value
from django.db.models.functions import Cast
from simple_history.models import registered_models

from apps.core.errors import invalid

# Values of these fields never leave the database through the audit API.
MASKED_FIELDS = {"password", "tax_id", "tax_id_encrypted", "secret", "key", "key_digest", "token"}
CHANGE_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


def audited_models() -> dict[str, type[models.Model]]:
    """'app_label.modelname' -> the audited model, for every model with simple-history."""
    result = {}
    for model in registered_models.values():
        if getattr(model._meta, "simple_history_manager_attribute", None):
            result[model._meta.label_lower] = model
    return dict(sorted(result.items()))


def _historical(model: type[models.Model]) -> type[models.Model]:
    return getattr(model, model._meta.simple_history_manager_attribute).model


def audit_records(
    *,
    model: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    correlation_id: str | None = None,
) -> QuerySet:
    """History rows of every audited model (or one), newest first, as dicts.

    ``actor`` is a user's e-mail or id. Each row holds: model, history_id, object_id,
    changed_at, history_user_id, ip_address, user_agent, correlation_id, history_type, reason.
    Enrich a page of rows with :func:`audit_records_detail`.
    """
    models_by_label = audited_models()
    if model:
        label = model.lower()
        matches = {k: v for k, v in models_by_label.items() if label in (k, k.split(".")[1])}
        if not matches:
            raise invalid("Unknown model.", model=f"Choose one of: {', '.join(models_by_label)}.")
        models_by_label = matches
    actor_id = _actor_id(actor) if actor else None

    querysets = []
    for label, tracked in models_by_label.items():
        history = _historical(tracked)
        pk_name = tracked._meta.pk.attname
        qs = history.objects.all()
        if object_id is not None:
            qs = qs.filter(**{pk_name: object_id})
        if actor:
            qs = qs.filter(history_user_id=actor_id)
        if since:
            qs = qs.filter(history_date__gte=since)
        if until:
            qs = qs.filter(history_date__lt=until)
        if correlation_id:
            qs = qs.filter(correlation_id=correlation_id)
        # Aliases carry an audit_ prefix: an audited model may have fields named "model",
        # "reason" or "changed_at" of its own.
        querysets.append(
            qs.annotate(
                audit_model=Value(label, output_field=CharField()),
                audit_object_id=Cast(F(pk_name), CharField()),
                audit_changed_at=F("history_date"),
                audit_reason=F("history_change_reason"),
            ).values(
                "audit_model",
                "history_id",
                "audit_object_id",
                "audit_changed_at",
                "history_user_id",
                "ip_address",
                "user_agent",
                "correlation_id",
                "history_type",
                "audit_reason",
            )
        )
    if not querysets:
        return _historical(get_user_model()).objects.none().values()
    first, *rest = querysets
    return first.union(*rest, all=True).order_by("-audit_changed_at", "-history_id")


def _actor_id(actor: str) -> int | None:
    users = get_user_model().objects
    if actor.isdigit():
        return int(actor)
    found = users.filter(email__iexact=actor).values_list("pk", flat=True).first()
    return found if found is not None else -1


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


def _changes(record: models.Model, previous: models.Model | None) -> dict[str, list[Any]]:
    if record.history_type == "-":
        return {}
    if previous is None:
        tracked = {f.attname for f in record.instance_type._meta.concrete_fields}
        pairs = {
            f.attname: (None, getattr(record, f.attname))
            for f in record._meta.concrete_fields
            if f.attname in tracked
        }
    else:
        delta = record.diff_against(previous)
        pairs = {change.field: (change.old, change.new) for change in delta.changes}
    return {
        field: (["***", "***"] if field in MASKED_FIELDS else [_plain(old), _plain(new)])
        for field, (old, new) in pairs.items()
    }


def audit_records_detail(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the actor's e-mail and the field changes to a page of :func:`audit_records` rows."""
    rows = list(rows)
    models_by_label = audited_models()
    wanted: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        wanted[row["audit_model"]].append(row["history_id"])
    records: dict[tuple[str, int], models.Model] = {}
    for label, ids in wanted.items():
        history = _historical(models_by_label[label])
        for record in history.objects.filter(history_id__in=ids):
            records[(label, record.history_id)] = record
    emails = dict(
        get_user_model()
        .objects.filter(pk__in={r["history_user_id"] for r in rows if r["history_user_id"]})
        .values_list("pk", "email")
    )
    detailed = []
    for row in rows:
        record = records.get((row["audit_model"], row["history_id"]))
        previous = record.prev_record if record is not None and record.history_type == "~" else None
        detailed.append(
            {
                "model": row["audit_model"],
                "history_id": row["history_id"],
                "object_id": row["audit_object_id"],
                "changed_at": row["audit_changed_at"],
                "actor": emails.get(row["history_user_id"]),
                "ip": row["ip_address"],
                "user_agent": row["user_agent"],
                "correlation_id": row["correlation_id"],
                "change_type": CHANGE_TYPES.get(row["history_type"], row["history_type"]),
                "changes": _changes(record, previous) if record is not None else {},
                "reason": row["audit_reason"] or "",
            }
        )
    return detailed
