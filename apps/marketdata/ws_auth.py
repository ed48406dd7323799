"""Who is on the other end of a WebSocket: an API token or the portal session.

* ``?token=<key>``: the API token (apps.accounts.authentication.token_user). Tokens are not
  ambient credentials a browser attaches by itself, so these connections need no Origin.
* otherwise the Django session cookie (channels' AuthMiddlewareStack), accepted only from an
  allowed Origin, which stops another site from opening a socket with a visitor's cookie.

The scope then carries ``user`` (AnonymousUser when neither worked), ``auth_method``
(``token``/``session``), ``auth_token`` and ``auth_error``. The consumer decides what to
refuse, so refusals reach the client as readable error messages.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser

from apps.accounts.authentication import token_user


def _query_token(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return values[0].strip() if values else None


class WebSocketAuthMiddleware:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.session_app = AllowedHostsOriginValidator(AuthMiddlewareStack(self._session_scope))

    async def _session_scope(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope, auth_method="session", auth_token=None, auth_error=None)
        return await self.inner(scope, receive, send)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        raw_key = _query_token(scope)
        if raw_key is None:
            return await self.session_app(scope, receive, send)
        found = await database_sync_to_async(token_user)(raw_key) if raw_key else None
        scope = dict(
            scope,
            user=found[0] if found else AnonymousUser(),
            auth_method="token",
            auth_token=found[1] if found else None,
            auth_error=None if found else "The token is invalid or has expired.",
        )
        return await self.inner(scope, receive, send)
