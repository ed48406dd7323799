"""Signals of the accounts app, and the admin sign-in log.

``trading_account_closing`` is sent inside the closing transaction with the locked account;
an app that still holds something for it (cash, securities, open orders) raises
ApplicationError from its receiver to refuse the close.
"""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import Signal, receiver

from apps.accounts.choices import SignInMethod

trading_account_closing = Signal()


def _is_admin(request: Any) -> bool:
    return request is not None and request.path.startswith("/admin/")


@receiver(user_logged_in)
def _record_admin_sign_in(
    sender: Any, request: Any = None, user: Any = None, **kwargs: Any
) -> None:
    if _is_admin(request):
        from apps.accounts.services import sign_in_record

        sign_in_record(email=user.email, user=user, method=SignInMethod.ADMIN, succeeded=True)


@receiver(user_login_failed)
def _record_admin_sign_in_failure(
    sender: Any, credentials: dict[str, Any] | None = None, request: Any = None, **kwargs: Any
) -> None:
    if _is_admin(request):
        from apps.accounts.services import sign_in_record

        email = str((credentials or {}).get("username") or (credentials or {}).get("email") or "")
        sign_in_record(
            email=email,
            method=SignInMethod.ADMIN,
            succeeded=False,
            failure_reason="bad_credentials",
        )
