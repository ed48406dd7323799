"""Request middleware: bind the audit context and answer with the correlation id."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
REQUEST_ID_HEADER = "X-Request-ID"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, trusting X-Forwarded-For only for the configured proxy count."""
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Gives every request a correlation id (the caller's X-Request-ID when it is well formed),
    binds it with the caller's IP and user agent for the audit trail and logs, and returns it in
    the X-Request-ID response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        correlation_id = supplied if _REQUEST_ID.match(supplied) else context.new_correlation_id()
        request.correlation_id = correlation_id
        with context.bind(
            correlation_id=correlation_id,
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
            actor=None,
        ):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = correlation_id
        return response


class AuditActorMiddleware:
    """Records the session-authenticated user as the actor. Token-authenticated API calls set
    the actor in their authentication class, since DRF authenticates inside the view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            context.set_actor(user)
        return self.get_response(request)
