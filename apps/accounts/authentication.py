"""API token authentication: ``Authorization: Token <key>``.

Tokens are looked up by SHA-256 digest; expired tokens and inactive users are refused. The
authenticated user becomes the actor of the audit context.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from apps.accounts.models import ApiToken
from apps.accounts.services import token_digest
from apps.core import context

KEYWORD = "Token"


def token_user(raw_key: str) -> tuple[Any, ApiToken] | None:
    """The (user, token) of a raw key, or None when it is unknown, expired or its user inactive."""
    token = ApiToken.objects.select_related("user").filter(key_digest=token_digest(raw_key)).first()
    if token is None or token.is_expired or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > settings.API_TOKEN_TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header.")
        try:
            raw_key = parts[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token header.") from exc
        found = token_user(raw_key)
        if found is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        context.set_actor(found[0])
        return found

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD
