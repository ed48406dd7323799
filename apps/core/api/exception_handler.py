"""Every API error, whatever raised it, leaves as the envelope of API.md:

{"error": {"code": "<snake_case>", "message": "<human>", "details": {...}}}
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django_fsm import ConcurrentTransition, TransitionNotAllowed
from rest_framework import exceptions
from rest_framework.response import Response

from apps.core import context
from apps.core.errors import ApplicationError, ErrorCode, status_for

logger = logging.getLogger("bourse.api")

_DRF_CODES: list[tuple[type[exceptions.APIException], str]] = [
    (exceptions.ValidationError, ErrorCode.INVALID),
    (exceptions.ParseError, ErrorCode.INVALID),
    (exceptions.NotAuthenticated, ErrorCode.NOT_AUTHENTICATED),
    (exceptions.AuthenticationFailed, ErrorCode.NOT_AUTHENTICATED),
    (exceptions.PermissionDenied, ErrorCode.PERMISSION_DENIED),
    (exceptions.NotFound, ErrorCode.NOT_FOUND),
    (exceptions.MethodNotAllowed, ErrorCode.METHOD_NOT_ALLOWED),
    (exceptions.NotAcceptable, ErrorCode.NOT_ACCEPTABLE),
    (exceptions.UnsupportedMediaType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (exceptions.Throttled, ErrorCode.THROTTLED),
]


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": str(code), "message": message, "details": details or {}}}


def _message_of(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _message_of(detail[0])
    if isinstance(detail, dict) and detail:
        return _message_of(next(iter(detail.values())))
    return str(detail)


def _from_api_exception(exc: exceptions.APIException) -> tuple[str, str, dict[str, Any]]:
    code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), None)
    # Authentication classes raise AuthenticationFailed with a specific code (otp_required).
    detail_code = getattr(exc.detail, "code", None)
    if detail_code in {ErrorCode.OTP_REQUIRED}:
        code = detail_code
    code = code or (detail_code if isinstance(detail_code, str) else ErrorCode.INVALID)
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return code, "The request is invalid: " + _message_of(exc.detail), details
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait) if exc.wait is not None else None
        return code, "Too many requests; slow down.", {"retry_after": wait}
    return code, _message_of(exc.detail), {}


def envelope_exception_handler(exc: Exception, ctx: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        code, message, details, status = exc.code, exc.message, exc.details, exc.status
    elif isinstance(exc, exceptions.APIException):
        code, message, details = _from_api_exception(exc)
        status = exc.status_code
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    elif isinstance(exc, Http404):
        code, message, details = ErrorCode.NOT_FOUND, "Not found.", {}
        status = 404
    elif isinstance(exc, DjangoPermissionDenied):
        code, message, details = ErrorCode.PERMISSION_DENIED, str(exc) or "Permission denied.", {}
        status = 403
    elif isinstance(exc, DjangoValidationError):
        details = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        code, message = ErrorCode.INVALID, "The request is invalid: " + _message_of(details)
        status = 400
    elif isinstance(exc, ConcurrentTransition):
        code, message, details = (
            ErrorCode.INVALID_STATE,
            "The object was changed by someone else at the same time; reload and try again.",
            {},
        )
        status = 409
    elif isinstance(exc, TransitionNotAllowed):
        code, message, details = ErrorCode.INVALID_STATE, str(exc), {}
        status = 409
    else:
        logger.exception("Unhandled error in API view", exc_info=exc)
        code, message = ErrorCode.SERVER_ERROR, "An internal error occurred; it has been logged."
        details = {"request_id": context.correlation_id()}
        status = status_for(code)
    return Response(envelope(code, message, details), status=status, headers=headers)
