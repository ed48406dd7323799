"""One error type for every business rule a service enforces.

Services raise :class:`ApplicationError` with a code from API.md; the API's exception handler
turns it into the error envelope ``{"error": {"code", "message", "details"}}`` with the HTTP
status registered for the code here. Apps keep their codes in their own ``errors.py`` as a
``StrEnum`` and register statuses for new ones with :func:`register_status`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID = "invalid"
    NOT_AUTHENTICATED = "not_authenticated"
    OTP_REQUIRED = "otp_required"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INSUFFICIENT_POSITION = "insufficient_position"
    KYC_REQUIRED = "kyc_required"
    LIMIT_EXCEEDED = "limit_exceeded"
    INSTRUMENT_NOT_TRADABLE = "instrument_not_tradable"
    INVALID_STATE = "invalid_state"
    CONFLICT = "conflict"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"
    THROTTLED = "throttled"
    SERVER_ERROR = "server_error"


_STATUS: dict[str, int] = {
    ErrorCode.INVALID: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.OTP_REQUIRED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.INSUFFICIENT_FUNDS: 422,
    ErrorCode.INSUFFICIENT_POSITION: 422,
    ErrorCode.KYC_REQUIRED: 422,
    ErrorCode.LIMIT_EXCEEDED: 422,
    ErrorCode.INSTRUMENT_NOT_TRADABLE: 422,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.IDEMPOTENCY_CONFLICT: 422,
    ErrorCode.IDEMPOTENCY_IN_PROGRESS: 409,
    ErrorCode.THROTTLED: 429,
    ErrorCode.SERVER_ERROR: 500,
}

DEFAULT_STATUS = 422  # a well-formed request that a business rule refuses


def register_status(code: str, status: int) -> None:
    """Declare the HTTP status of an app-specific error code (call at import of errors.py)."""
    _STATUS[str(code)] = status


def status_for(code: str) -> int:
    return _STATUS.get(str(code), DEFAULT_STATUS)


class ApplicationError(Exception):
    """A refusal with a stable code, a human message and structured details."""

    def __init__(
        self,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.details = details or {}
        self.status = status or status_for(self.code)

    def __repr__(self) -> str:
        return f"ApplicationError({self.code!r}, {self.message!r}, {self.details!r})"


def invalid(message: str, **field_errors: str | list[str]) -> ApplicationError:
    """A 400 ``invalid`` error naming the offending fields."""
    details = {k: v if isinstance(v, list) else [v] for k, v in field_errors.items()}
    return ApplicationError(ErrorCode.INVALID, message, details)


def invalid_state(message: str, **details: Any) -> ApplicationError:
    return ApplicationError(ErrorCode.INVALID_STATE, message, details)


def not_found(message: str = "Not found.") -> ApplicationError:
    return ApplicationError(ErrorCode.NOT_FOUND, message)


def permission_denied(message: str = "You do not have permission to do this.") -> ApplicationError:
    return ApplicationError(ErrorCode.PERMISSION_DENIED, message)
