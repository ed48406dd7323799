"""Throttles for sign-in and other abuse-prone endpoints, backed by the cache (Redis when set).

They work on DRF requests and on plain Django requests, so the portal's forms share them.
"""

from __future__ import annotations

from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from apps.core.errors import ApplicationError, ErrorCode


class IpScopedThrottle(SimpleRateThrottle):
    """Counts requests per client address within ``scope``."""

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginThrottle(IpScopedThrottle):
    scope = "login"


class RegisterThrottle(IpScopedThrottle):
    scope = "register"


class PasswordResetThrottle(IpScopedThrottle):
    scope = "password_reset"


class LoginEmailThrottle(SimpleRateThrottle):
    """Counts sign-in attempts per e-mail address, whatever address they come from."""

    scope = "login_email"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        email = str(data.get("email") or data.get("username") or "").strip().lower()
        if not email:
            return None
        return self.cache_format % {"scope": self.scope, "ident": email}


def enforce(throttles: list[type[SimpleRateThrottle]], request: Any) -> None:
    """Apply throttles outside a DRF view (the portal's forms); raises ``throttled``."""
    for throttle_class in throttles:
        throttle = throttle_class()
        if not throttle.allow_request(request, None):
            wait = throttle.wait()
            raise ApplicationError(
                ErrorCode.THROTTLED,
                "Too many attempts; wait a moment and try again.",
                {"retry_after": int(wait) if wait else None},
            )
