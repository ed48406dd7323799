"""Fixtures of the marketdata tests: instruments, API tokens and sessions for WebSocket
connections to the real ASGI application (real Redis channel layer when REDIS_URL is set)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from apps.accounts import services as account_services
from apps.marketdata import storage
from tests.factories.accounts import PASSWORD, next_static_token
from tests.factories.marketdata import InstrumentFactory


@pytest.fixture(autouse=True)
def _fresh_storage_mode() -> Iterator[None]:
    storage.reset_storage_mode()
    yield
    storage.reset_storage_mode()


@pytest.fixture
def instrument(db):
    return InstrumentFactory(symbol="ACME", name="Acme Corp.")


@pytest.fixture
def fast_feed(settings) -> Any:
    """Conflation quick enough for tests to watch several windows."""
    settings.MARKETDATA_WS_QUOTES_PER_SECOND = 10
    settings.MARKETDATA_WS_DEPTH_PER_SECOND = 10
    settings.MARKETDATA_WS_TRADES_PER_SECOND = 10
    settings.MARKETDATA_WS_BATCH_WINDOW_MS = 30
    return settings


def run(scenario: Callable[[], Any]) -> Any:
    """Run an async scenario from a sync test. Database calls the consumer makes through
    database_sync_to_async run back on this thread, with this test's connection."""
    return async_to_sync(scenario)()


def api_token(user: Any, *, otp: bool = False) -> str:
    """A raw API token for ``user`` (issued with an OTP when ``otp``)."""
    _, raw = account_services.api_token_issue(
        email=user.email, password=PASSWORD, otp_token=next_static_token(user) if otp else None
    )
    return raw


def session_cookie(user: Any, *, otp: bool = False) -> str:
    """A portal session for ``user``; ``otp`` records a verified second factor in it."""
    client = Client()
    client.force_login(user)
    if otp:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = user.staticdevice_set.get().persistent_id
        session.save()
    return client.cookies["sessionid"].value


class Socket:
    """A WebSocket client of the real ASGI application."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def send(self, message: Any) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        await self.communicator.send_to(text_data=text)

    async def output(self, timeout: float = 3) -> dict[str, Any]:
        """The next ASGI message the application sent; a timeout leaves it running (the
        communicator's own receive would cancel it)."""
        if self.communicator.future.done():
            self.communicator.future.result()
        return await asyncio.wait_for(self.communicator.output_queue.get(), timeout)

    async def receive(self, timeout: float = 3) -> dict[str, Any]:
        output = await self.output(timeout)
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    async def receive_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Messages up to and including the first matching ``predicate`` (and those before)."""
        seen: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"No matching message within {timeout}s; got {seen}")
            message = await self.receive(timeout=remaining)
            seen.append(message)
            if predicate(message):
                return message, seen

    async def drain(self, quiet: float = 0.4) -> list[dict[str, Any]]:
        """Everything that arrives until the socket stays quiet for ``quiet`` seconds."""
        messages = []
        while True:
            try:
                messages.append(await self.receive(timeout=quiet))
            except TimeoutError:
                return messages

    async def nothing(self, wait: float = 0.5) -> bool:
        return await self.communicator.receive_nothing(timeout=wait)

    async def subscribe(self, channel: str, symbols: list[str] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"action": "subscribe", "channel": channel}
        if symbols is not None:
            message["symbols"] = symbols
        await self.send(message)
        return await self.receive()

    async def closed_with(self, timeout: float = 3) -> int:
        output = await self.output(timeout)
        assert output["type"] == "websocket.close", output
        return output.get("code")

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_socket(
    *, token: str | None = None, cookie: str | None = None, origin: str | None = "http://testserver"
) -> Socket:
    from config.asgi import application

    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    path = "/ws/" if token is None else f"/ws/?token={token}"
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected, "the handshake was refused"
    return Socket(communicator)
