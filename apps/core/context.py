"""Who is acting, from where, under which correlation id: one context per request or task.

The context travels with the code path (contextvars), so services, history rows and log lines
read it without passing the request around. Middleware binds it for HTTP, a Celery signal for
tasks, the WebSocket consumer for its connection.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class AuditContext:
    correlation_id: str = ""
    actor: Any = None  # a User, or None for the system
    ip_address: str | None = None
    user_agent: str = ""


_EMPTY = AuditContext()
_current: contextvars.ContextVar[AuditContext] = contextvars.ContextVar("bourse_audit_context")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current() -> AuditContext:
    return _current.get(_EMPTY)


def correlation_id() -> str:
    return _current.get(_EMPTY).correlation_id


@contextmanager
def bind(**changes: Any) -> Iterator[AuditContext]:
    """Bind fields of the audit context for the duration of the block."""
    token = _current.set(replace(_current.get(_EMPTY), **changes))
    try:
        yield _current.get(_EMPTY)
    finally:
        _current.reset(token)


def set_actor(actor: Any) -> None:
    """Record the authenticated user once authentication has happened inside a bound block."""
    _current.set(replace(_current.get(_EMPTY), actor=actor))


def activate(ctx: AuditContext) -> contextvars.Token[AuditContext]:
    """Make ``ctx`` current until :func:`deactivate` (for code that can't use ``bind``)."""
    return _current.set(ctx)


def deactivate(token: contextvars.Token[AuditContext]) -> None:
    _current.reset(token)
