"""Carry the correlation id from the code that enqueues a task into the worker that runs it."""

from __future__ import annotations

from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun

from apps.core import context

HEADER = "bourse_correlation_id"
_tokens: dict[str, Any] = {}


@before_task_publish.connect
def _attach_correlation_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if headers is not None and not headers.get(HEADER):
        headers[HEADER] = context.correlation_id() or context.new_correlation_id()


@task_prerun.connect
def _bind_task_context(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task is None or task.request.is_eager:
        return  # an eager task runs inside the caller's context already
    correlation_id = getattr(task.request, HEADER, None) or task_id or context.new_correlation_id()
    _tokens[task_id] = context.activate(
        context.AuditContext(correlation_id=correlation_id, user_agent=f"celery:{task.name}")
    )


@task_postrun.connect
def _reset_task_context(task_id: str | None = None, **kwargs: Any) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        context.deactivate(token)
