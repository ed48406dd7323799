"""Writes of the accounts app: users, sign-in, second factor, API tokens, trading accounts."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode
from django_fsm import can_proceed, has_transition_perm
from django_otp import devices_for_user, match_token
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.choices import AccountStatus, AccountType, Role, SignInMethod
from apps.accounts.models import ApiToken, SignInEvent, TradingAccount, User
from apps.accounts.signals import trading_account_closing
from apps.core import context
from apps.core.audit import stamp
from apps.core.errors import (
    ApplicationError,
    ErrorCode,
    invalid,
    invalid_state,
    permission_denied,
)

ACCOUNT_NUMBER_SEQUENCE = "accounts_tradingaccount_number_seq"


# --- Users ----------------------------------------------------------------------------------


def user_register(
    *, email: str, password: str, first_name: str = "", last_name: str = "", phone: str = ""
) -> User:
    """Create a client user. Raises ``invalid`` for a taken e-mail or a weak password."""
    email = User.objects.normalize(email)
    candidate = User(email=email, first_name=first_name, last_name=last_name, phone=phone)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise invalid("The password is too weak.", password=exc.messages) from exc
    if User.objects.filter(email__iexact=email).exists():
        raise invalid("An account with this e-mail already exists.", email="Already registered.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email, password, first_name=first_name, last_name=last_name, phone=phone
            )
            user.groups.add(Group.objects.get(name=Role.CLIENT))
    except IntegrityError as exc:  # a concurrent registration of the same address
        raise invalid(
            "An account with this e-mail already exists.", email="Already registered."
        ) from exc
    return user


def user_profile_update(*, user: User, **fields: str) -> User:
    """Change a user's own profile fields (name, phone)."""
    allowed = {"first_name", "last_name", "phone"}
    unknown = set(fields) - allowed
    if unknown:
        raise invalid(
            "These fields can't be changed here.", **dict.fromkeys(unknown, "Not editable.")
        )
    for field, value in fields.items():
        setattr(user, field, value.strip())
    stamp(user, actor=user, reason="Profile updated")
    user.save(update_fields=[*fields])
    return user


def sign_in_record(
    *,
    email: str,
    method: str,
    succeeded: bool,
    user: User | None = None,
    failure_reason: str = "",
) -> SignInEvent:
    ctx = context.current()
    return SignInEvent.objects.create(
        user=user,
        email=email[:254],
        method=method,
        succeeded=succeeded,
        failure_reason=failure_reason,
        ip_address=ctx.ip_address,
        user_agent=ctx.user_agent,
        correlation_id=ctx.correlation_id,
    )


def user_requires_otp(user: User) -> bool:
    """Staff always sign in with a second factor; clients once they have enrolled a device."""
    return user.is_staff or any(devices_for_user(user, confirmed=True))


def user_check_password(*, email: str, password: str, method: str) -> User:
    """The user with these credentials, or ``not_authenticated`` (the attempt is recorded)."""
    user = authenticate(None, email=email, password=password)
    if user is None:
        sign_in_record(
            email=email, method=method, succeeded=False, failure_reason="bad_credentials"
        )
        raise ApplicationError(ErrorCode.NOT_AUTHENTICATED, "Invalid e-mail or password.")
    return user


def otp_verify(
    *, user: User, otp_token: str | None, method: str = SignInMethod.API
) -> Device | None:
    """Check a one-time password for a user who has (or, as staff, must have) a device.

    Returns the matching device, or None when the user needs no second factor.
    Raises ``otp_required`` when the password is missing or wrong.
    """
    if not user_requires_otp(user):
        return None
    if not any(devices_for_user(user, confirmed=True)):
        raise ApplicationError(
            ErrorCode.OTP_REQUIRED,
            "Staff must enrol a second factor before signing in; ask an administrator for "
            "a static token (manage.py addstatictoken).",
        )
    if not otp_token:
        raise ApplicationError(
            ErrorCode.OTP_REQUIRED, "A one-time password is required.", {"field": "otp_token"}
        )
    device = match_token(user, str(otp_token).strip())
    if device is None:
        sign_in_record(
            email=user.email, user=user, method=method, succeeded=False, failure_reason="bad_otp"
        )
        raise ApplicationError(
            ErrorCode.OTP_REQUIRED,
            "The one-time password is wrong or expired.",
            {"field": "otp_token"},
        )
    return device


# --- API tokens -----------------------------------------------------------------------------


def token_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_token_issue(
    *, email: str, password: str, otp_token: str | None = None
) -> tuple[ApiToken, str]:
    """Sign in for the API: check the password, then the OTP when the user needs one.

    Returns the token and its raw key (shown once; only the digest is stored).
    """
    user = user_check_password(email=email, password=password, method=SignInMethod.API)
    device = otp_verify(user=user, otp_token=otp_token, method=SignInMethod.API)
    raw_key = secrets.token_hex(24)
    ctx = context.current()
    with transaction.atomic():
        token = ApiToken(
            user=user,
            key_digest=token_digest(raw_key),
            prefix=raw_key[:8],
            otp_verified=device is not None,
            otp_device=device.persistent_id if device is not None else "",
            expires_at=timezone.now() + settings.API_TOKEN_TTL,
            ip_address=ctx.ip_address,
            user_agent=ctx.user_agent,
        )
        stamp(token, actor=user, reason="API sign-in")
        token.save()
        User.objects.filter(pk=user.pk).update(last_login=timezone.now())
        sign_in_record(email=user.email, user=user, method=SignInMethod.API, succeeded=True)
    return token, raw_key


def api_token_revoke(
    *, token: ApiToken, actor: User | None = None, reason: str = "Signed out"
) -> None:
    stamp(token, actor=actor or token.user, reason=reason)
    token.delete()


def api_tokens_purge_expired() -> int:
    deleted, _ = ApiToken.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def api_tokens_revoke_all(*, user: User, reason: str) -> int:
    tokens = list(ApiToken.objects.filter(user=user))
    for token in tokens:
        stamp(token, actor=user, reason=reason)
        token.delete()
    return len(tokens)


# --- Second factor --------------------------------------------------------------------------


@transaction.atomic
def totp_enroll(*, user: User) -> TOTPDevice:
    """Start TOTP enrolment: a new unconfirmed device (replacing any earlier unconfirmed one)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


@transaction.atomic
def totp_confirm(*, user: User, token: str) -> TOTPDevice:
    """Confirm enrolment with a code from the app; from then on sign-in needs a code."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).last()
    if device is None:
        raise invalid_state("Start enrolment first (POST /api/v1/auth/totp/enroll).")
    if not device.verify_token(str(token).strip()):
        raise invalid("The code is wrong or expired.", token="Invalid code.")  # noqa: S106
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return device


def totp_secret_base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


# --- Password reset -------------------------------------------------------------------------


def password_reset_request(*, email: str) -> None:
    """E-mail a reset link if the address belongs to an active user; silent otherwise."""
    base = settings.PORTAL_BASE_URL.rstrip("/")
    form = PasswordResetForm(data={"email": email})
    if form.is_valid():
        form.save(
            domain_override=base.split("://", 1)[-1],
            use_https=base.startswith("https://"),
            subject_template_name="accounts/email/password_reset_subject.txt",
            email_template_name="accounts/email/password_reset.txt",
            extra_email_context={"site_name": "Bourse"},
        )


def password_reset_user(*, uidb64: str, token: str) -> User | None:
    try:
        user = User.objects.get(pk=force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError, User.DoesNotExist):
        return None
    return user if default_token_generator.check_token(user, token) else None


@transaction.atomic
def password_reset_confirm(*, uidb64: str, token: str, new_password: str) -> User:
    """Set a new password from a reset link; every API token of the user is revoked."""
    user = password_reset_user(uidb64=uidb64, token=token)
    if user is None:
        raise invalid(
            "The reset link is invalid or has expired.",
            token="Invalid or expired.",  # noqa: S106
        )
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise invalid("The password is too weak.", new_password=exc.messages) from exc
    user.set_password(new_password)
    stamp(user, actor=user, reason="Password reset")
    user.save()
    api_tokens_revoke_all(user=user, reason="Password reset")
    return user


# --- Trading accounts -----------------------------------------------------------------------


def trading_account_open(
    *, owner: User, actor: User, type: str = AccountType.CASH, currency: str | None = None
) -> TradingAccount:
    """Open a trading account, pending until KYC approval activates it."""
    currency = (currency or settings.BASE_CURRENCY).upper()
    if currency not in settings.CURRENCIES:
        raise invalid(
            "Unsupported currency.", currency=f"Choose one of {sorted(settings.CURRENCIES)}."
        )
    if type != AccountType.CASH:
        raise invalid("Only cash accounts can be opened.", type="Margin accounts are not offered.")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval(%s)", [ACCOUNT_NUMBER_SEQUENCE])
            (sequence,) = cursor.fetchone()
        account = TradingAccount(
            owner=owner, type=type, currency=currency, number=f"BRS-{sequence:06d}"
        )
        stamp(account, actor=actor, reason="Account opened")
        account.save()
    return account


def _transition(
    *,
    account: TradingAccount,
    action: str,
    actor: Any,
    reason: str,
    enforce_permission: bool,
    changes: dict[str, Any] | None = None,
) -> TradingAccount:
    if not reason or not reason.strip():
        raise invalid("A reason is required.", reason="This field is required.")
    with transaction.atomic():
        locked = TradingAccount.objects.select_for_update().get(pk=account.pk)
        method = getattr(locked, action)
        if not can_proceed(method):
            raise invalid_state(
                f"An account that is {locked.status} cannot be {action}d.",
                status=locked.status,
                action=action,
            )
        if enforce_permission and not has_transition_perm(method, actor):
            raise permission_denied(f"Your role may not {action} trading accounts.")
        if action == "close":
            trading_account_closing.send(sender=TradingAccount, account=locked)
        method()
        for field, value in (changes or {}).items():
            setattr(locked, field, value)
        locked.status_reason = reason.strip()
        stamp(locked, actor=actor, reason=reason.strip())
        locked.save()
    return locked


def trading_account_activate(
    *, account: TradingAccount, actor: Any, reason: str, enforce_permission: bool = True
) -> TradingAccount:
    """Activate a pending account, or reactivate a restricted or suspended one."""
    return _transition(
        account=account,
        action="activate",
        actor=actor,
        reason=reason,
        enforce_permission=enforce_permission,
    )


def trading_account_restrict(
    *,
    account: TradingAccount,
    actor: Any,
    reason: str,
    until: datetime | None = None,
    enforce_permission: bool = True,
) -> TradingAccount:
    """Restrict an active account, optionally until a given instant."""
    return _transition(
        account=account,
        action="restrict",
        actor=actor,
        reason=reason,
        enforce_permission=enforce_permission,
        changes={"restricted_until": until},
    )


def trading_account_suspend(
    *, account: TradingAccount, actor: Any, reason: str, enforce_permission: bool = True
) -> TradingAccount:
    return _transition(
        account=account,
        action="suspend",
        actor=actor,
        reason=reason,
        enforce_permission=enforce_permission,
    )


def trading_account_close(
    *, account: TradingAccount, actor: Any, reason: str, enforce_permission: bool = True
) -> TradingAccount:
    """Close an account. Apps holding its assets refuse through ``trading_account_closing``."""
    return _transition(
        account=account,
        action="close",
        actor=actor,
        reason=reason,
        enforce_permission=enforce_permission,
    )


SETTINGS_FIELDS = (
    "lot_relief_method",
    "tax_non_resident",
    "daily_withdrawal_limit",
    "per_withdrawal_limit",
)


def trading_account_settings_update(
    *, account: TradingAccount, actor: User, reason: str, **fields: Any
) -> TradingAccount:
    """Change an account's settings (lot relief method, tax residence, withdrawal limits)."""
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise invalid(
            "These fields can't be changed here.", **dict.fromkeys(unknown, "Not editable.")
        )
    if not reason or not reason.strip():
        raise invalid("A reason is required.", reason="This field is required.")
    for limit in ("daily_withdrawal_limit", "per_withdrawal_limit"):
        if fields.get(limit) is not None and fields[limit] < 0:
            raise invalid("Limits can't be negative.", **{limit: "Must be zero or more."})
    with transaction.atomic():
        locked = TradingAccount.objects.select_for_update().get(pk=account.pk)
        for field, value in fields.items():
            setattr(locked, field, value)
        stamp(locked, actor=actor, reason=reason.strip())
        locked.save(update_fields=[*fields])
    return locked


def trading_accounts_activate_pending(
    *, owner: User, actor: Any, reason: str
) -> list[TradingAccount]:
    """Activate every pending account of ``owner`` (KYC approval); returns those activated."""
    pending = TradingAccount.objects.filter(owner=owner, status=AccountStatus.PENDING)
    return [
        trading_account_activate(account=a, actor=actor, reason=reason, enforce_permission=False)
        for a in pending
    ]
