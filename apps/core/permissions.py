"""Base API permissions: staff roles with a verified second factor, and client ownership."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from apps.core.errors import ApplicationError, ErrorCode


def second_factor_verified(request: Request) -> bool:
    """Whether this request's authentication passed a second factor.

    A token carries the fact from the moment it was issued (``otp_verified``); a session
    carries it through django-otp's middleware (``user.is_verified()``).
    """
    auth = request.auth
    if auth is not None and hasattr(auth, "otp_verified"):
        return bool(auth.otp_verified)
    user = request.user
    return bool(getattr(user, "is_verified", lambda: False)())


class IsVerifiedStaff(BasePermission):
    """Staff member whose sign-in passed a second factor. Staff endpoints start here."""

    message = "This endpoint is for staff."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_staff and user.is_active):
            return False
        if not second_factor_verified(request):
            raise ApplicationError(
                ErrorCode.OTP_REQUIRED,
                "Staff access needs a sign-in verified with a one-time password.",
            )
        return True


def staff_permission(*perms: str) -> type[BasePermission]:
    """A permission class for verified staff holding every one of ``perms`` (app.codename)."""

    class _HasStaffPermissions(IsVerifiedStaff):
        message = "Your role does not allow this action."

        def has_permission(self, request: Request, view: Any) -> bool:
            return super().has_permission(request, view) and request.user.has_perms(perms)

    _HasStaffPermissions.__name__ = "HasStaffPermissions_" + "_".join(
        p.replace(".", "_") for p in perms
    )
    return _HasStaffPermissions
