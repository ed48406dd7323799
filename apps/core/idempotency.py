"""The Idempotency-Key mechanism for API endpoints that move money or create orders.

Decorate a DRF view method with :func:`idempotent`. A request carrying ``Idempotency-Key``:

* the first time: runs, and its response (success or a 4xx refusal) is stored;
* again with the same body: answers the stored response and does nothing more;
* again with a different body: 422 ``idempotency_conflict``;
* while the first is still running: 409 ``idempotency_in_progress``.

Keys are scoped to the user and the endpoint (method and path) and kept for
``IDEMPOTENCY_KEY_TTL``. A record left "in progress" by a process that died is taken over after
``IDEMPOTENCY_STALE_AFTER``; the services behind idempotent endpoints also dedupe on the key,
so a takeover never moves money twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core import context
from apps.core.api.exception_handler import envelope_exception_handler
from apps.core.errors import ApplicationError, ErrorCode, invalid
from apps.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _fingerprint(request: Request) -> str:
    body = json.dumps(_plain(request.data), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _plain(data: Any) -> Any:
    if hasattr(data, "lists"):  # QueryDict from a form or multipart body
        return {k: v if len(v) > 1 else v[0] for k, v in data.lists()}
    return data


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def _claim(user: Any, scope: str, key: str, fingerprint: str) -> IdempotencyRecord | Response:
    """Insert the in-progress record, or answer from the one already there."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=user,
                scope=scope,
                key=key,
                request_hash=fingerprint,
                correlation_id=context.correlation_id(),
            )
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.get(user=user, scope=scope, key=key)
    if record.request_hash != fingerprint:
        raise ApplicationError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "This Idempotency-Key was already used with a different request.",
            {"key": key},
        )
    if record.state == IdempotencyRecord.State.COMPLETED:
        return _replay(record)
    stale_before = timezone.now() - settings.IDEMPOTENCY_STALE_AFTER
    taken_over = record.updated_at < stale_before and IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS, updated_at=record.updated_at
    ).update(updated_at=timezone.now(), correlation_id=context.correlation_id())
    if not taken_over:
        raise ApplicationError(
            ErrorCode.IDEMPOTENCY_IN_PROGRESS,
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            {"key": key},
        )
    return record


def _store(record: IdempotencyRecord, response: Response) -> None:
    body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.COMPLETED,
        response_status=response.status_code,
        response_body=body,
        updated_at=timezone.now(),
    )


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, validated; services store it to dedupe their writes."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise invalid(
            "Idempotency-Key must be 1 to 255 printable characters.",
            **{HEADER: "Invalid key."},
        )
    return key


def idempotent(view_method: Callable[..., Response]) -> Callable[..., Response]:
    """Make a DRF view method honour the Idempotency-Key header (see module docstring)."""

    @functools.wraps(view_method)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = idempotency_key(request)
        if key is None or not request.user.is_authenticated:
            return view_method(self, request, *args, **kwargs)
        scope = f"{request.method} {request.path}"
        claimed = _claim(request.user, scope, key, _fingerprint(request))
        if isinstance(claimed, Response):
            return claimed
        try:
            response = view_method(self, request, *args, **kwargs)
        except Exception as exc:
            response = envelope_exception_handler(exc, {"view": self, "request": request})
            if response is None or response.status_code >= 500:
                IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
                raise
        if response.status_code >= 500:
            IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
        else:
            _store(claimed, response)
        return response

    return wrapper
