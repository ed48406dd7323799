"""Fan-out of the feed inside each daphne process: one Redis subscription per stream.

Publishers send each stream update once, with Redis ``PUBLISH`` on the stream's channel
(``<REDIS_KEY_PREFIX>:md:<group>``). In every process with subscribers, one
:class:`FeedHub` per event loop holds one pub/sub connection, subscribed to the streams its
WebSocket connections follow, decodes each update once and hands it to each of them by a
plain function call. Nothing is queued per connection here: the connection's conflator
decides what to keep (see apps.marketdata.conflation).

Without Redis (the single-process mode) publishers hand updates to the hubs of this process
directly, from whatever thread they run in.

Delivery is at most once, like any pub/sub: updates published while the hub reconnects to
Redis are lost. Members are asked to resync their snapshots when that happens, and gaps in
the sequence numbers of prints and private events tell clients to reload those.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import weakref
from typing import Any, Protocol

from django.conf import settings
from redis import asyncio as aioredis

logger = logging.getLogger("bourse.marketdata.hub")


class Member(Protocol):
    def feed(self, message: dict[str, Any]) -> None: ...

    def resync_soon(self) -> None: ...


def redis_channel(group: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:md:{group}"


class FeedHub:
    """The subscriptions of one event loop's WebSocket connections."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.members: dict[str, set[Member]] = {}
        self._lock = asyncio.Lock()
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task | None = None

    # -- membership ------------------------------------------------------------------------

    async def join(self, group: str, member: Member) -> None:
        async with self._lock:
            members = self.members.setdefault(group, set())
            first = not members
            members.add(member)
            if first and settings.REDIS_URL:
                await self._connected()
                await self._pubsub.subscribe(redis_channel(group))

    async def leave(self, group: str, member: Member) -> None:
        async with self._lock:
            members = self.members.get(group)
            if not members or member not in members:
                return
            members.discard(member)
            if members:
                return
            del self.members[group]
            if self._pubsub is not None:
                if self.members:
                    await self._pubsub.unsubscribe(redis_channel(group))
                else:
                    await self._disconnect()

    # -- delivery --------------------------------------------------------------------------

    def dispatch(self, group: str, message: dict[str, Any]) -> None:
        """Hand ``message`` to every member of ``group`` (on this hub's loop)."""
        for member in tuple(self.members.get(group, ())):
            try:
                member.feed(message)
            except Exception:
                logger.exception("A feed member failed on %s", group)

    def _resync_members(self) -> None:
        for members in self.members.values():
            for member in tuple(members):
                member.resync_soon()

    # -- Redis -----------------------------------------------------------------------------

    async def _connected(self) -> None:
        if self._pubsub is None:
            self._client = aioredis.Redis.from_url(
                settings.REDIS_URL, client_name=f"{settings.REDIS_KEY_PREFIX}:feed"
            )
            self._pubsub = self._client.pubsub()
        if self._reader is None or self._reader.done():
            self._reader = self.loop.create_task(self._read())

    async def _disconnect(self) -> None:
        reader, pubsub, client = self._reader, self._pubsub, self._client
        self._reader = self._pubsub = self._client = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if pubsub is not None:
            await pubsub.aclose()
        if client is not None:
            await client.aclose()

    async def _read(self) -> None:
        prefix = len(redis_channel(""))
        failed = False
        while True:
            pubsub = self._pubsub
            if pubsub is None:
                return
            try:
                if not pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Feed subscription interrupted; reconnecting", exc_info=True)
                failed = True
                await asyncio.sleep(0.5)
                continue
            if failed:
                failed = False
                self._resync_members()  # updates may have been missed meanwhile
            if message is None:
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            try:
                payload = json.loads(message["data"])
            except ValueError:
                logger.warning("Dropping an undecodable feed message on %s", channel)
                continue
            self.dispatch(channel[prefix:], payload)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FeedHub] = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def feed_hub() -> FeedHub:
    """The hub of the running event loop."""
    loop = asyncio.get_running_loop()
    with _hubs_lock:
        hub = _hubs.get(loop)
        if hub is None:
            hub = _hubs[loop] = FeedHub(loop)
    return hub


def local_publish(group: str, message: dict[str, Any]) -> None:
    """Single-process mode: hand an update to every hub of this process, from any thread."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        if hub.loop.is_closed() or group not in hub.members:
            continue
        hub.loop.call_soon_threadsafe(hub.dispatch, group, message)
