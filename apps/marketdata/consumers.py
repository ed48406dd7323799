"""The WebSocket feed at ``/ws/`` (API.md "WebSocket").

Protocol (JSON text frames)::

    -> {"action": "subscribe", "channel": "quotes" | "depth" | "trades", "symbols": ["ACME"]}
    -> {"action": "subscribe", "channel": "orders" | "account" | "notifications"}
    -> {"action": "unsubscribe", "channel": "...", "symbols": [...]}   (no symbols: all)
    <- {"channel": "subscribed" | "unsubscribed", "data": {"channel": "...", "symbols": [...]}}
    <- {"channel": "quotes", "seq": 7, "data": [{"symbol": "ACME", "bid": "..", ..., "seq": 41}]}
    <- {"channel": "orders", "seq": 3, "data": {...}}
    <- {"channel": "error", "data": {"code": "...", "message": "...", "details": {...}}}

Connections authenticate by session or ``?token=`` (apps.marketdata.ws_auth); anonymous
ones, staff without a verified second factor, and users over their connection limit are told
why and closed (4401, 4401, 4429). Private channels are the connection's own user's: the
group is derived from the authenticated user, never from the message.

Outgoing data goes through a per-connection :class:`~apps.marketdata.conflation.Conflator`:
quotes and depth at most N per second per symbol (latest wins), several symbols per message,
bounded pending state, and a per-channel ``seq`` that skips when something was lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.cache import cache

from apps.core import context
from apps.core.errors import ErrorCode
from apps.marketdata import realtime, selectors, snapshots
from apps.marketdata.choices import MARKET_CHANNELS, PRIVATE_CHANNELS, StreamChannel
from apps.marketdata.conflation import Conflator
from apps.marketdata.errors import MarketDataError
from apps.marketdata.hub import feed_hub
from apps.marketdata.registry import connection_registry

logger = logging.getLogger("bourse.marketdata.ws")

MAX_MESSAGE_CHARS = 64 * 1024
CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_TOO_MANY_CONNECTIONS = 4429
ACTIONS = ("subscribe", "unsubscribe")


def _settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def session_second_factor(user: Any, session: Any) -> bool:
    """Whether a portal session passed a second factor (what django-otp's middleware checks
    for HTTP requests: the verified device recorded in the session is the user's)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id:
        return False
    device = Device.from_persistent_id(persistent_id, for_verify=False)
    return device is not None and device.user_id == user.pk


class MarketDataConsumer(AsyncWebsocketConsumer):
    """One client connection: its subscriptions, its conflation, its flush task."""

    def _make_conflator(self) -> Conflator:
        return Conflator(
            rates={
                StreamChannel.QUOTES: settings.MARKETDATA_WS_QUOTES_PER_SECOND,
                StreamChannel.DEPTH: settings.MARKETDATA_WS_DEPTH_PER_SECOND,
                StreamChannel.TRADES: settings.MARKETDATA_WS_TRADES_PER_SECOND,
            },
            batch_window=settings.MARKETDATA_WS_BATCH_WINDOW_MS / 1000,
            max_pending=settings.MARKETDATA_WS_MAX_PENDING,
        )

    # -- connection ------------------------------------------------------------------------

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.registered = False
        self.flusher: asyncio.Task | None = None
        self.market: dict[str, dict[str, int]] = {str(c): {} for c in MARKET_CHANNELS}
        self.private: set[str] = set()
        self.conflator = self._make_conflator()
        self._waiter: asyncio.Future | None = None
        self._wake_at = math.inf
        self._resync_requested = False
        self.transport = realtime.transport()
        self._context = context.activate(
            context.AuditContext(
                correlation_id=context.new_correlation_id(),
                actor=self.user if getattr(self.user, "is_authenticated", False) else None,
                ip_address=(self.scope.get("client") or [None])[0],
            )
        )
        # Decide before accepting, so an accepted connection is already counted; a refused
        # one is still accepted, to be told why before it is closed.
        refusal = await self._refusal()
        limit = settings.MARKETDATA_WS_MAX_CONNECTIONS_PER_USER
        if refusal is None:
            self.registered = await connection_registry().register(
                self.user.pk, self.channel_name, limit
            )
        await self.accept()
        if refusal is not None:
            code, message = refusal
            await self._error(code, message)
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        if not self.registered:
            await self._error(
                ErrorCode.LIMIT_EXCEEDED,
                f"You already have {limit} live connections; close one before opening another.",
                limit=limit,
            )
            await self.close(code=CLOSE_TOO_MANY_CONNECTIONS)
            return
        self.flusher = asyncio.ensure_future(self._flush_loop())

    async def _refusal(self) -> tuple[str, str] | None:
        if self.scope.get("auth_error"):
            return ErrorCode.NOT_AUTHENTICATED, self.scope["auth_error"]
        user = self.user
        if user is None or not user.is_authenticated:
            return (
                ErrorCode.NOT_AUTHENTICATED,
                "Sign in to the portal, or connect with ?token=<your API token>.",
            )
        if user.is_staff:
            if self.scope.get("auth_method") == "token":
                verified = bool(getattr(self.scope.get("auth_token"), "otp_verified", False))
            else:
                verified = await database_sync_to_async(session_second_factor)(
                    user, self.scope.get("session")
                )
            if not verified:
                return (
                    ErrorCode.OTP_REQUIRED,
                    "Staff connections need a sign-in verified with a one-time password.",
                )
        return None

    async def disconnect(self, code: int) -> None:
        if self.flusher is not None:
            self.flusher.cancel()
        for channel, symbols in self.market.items():
            for instrument_id in symbols.values():
                await self._leave(realtime.market_group(channel, instrument_id))
        for channel in self.private:
            await self._leave(realtime.private_group(channel, self.user.pk))
        if self.registered:
            await connection_registry().unregister(self.user.pk, self.channel_name)
        context.deactivate(self._context)

    # -- client messages -------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self._error(MarketDataError.BAD_JSON, "Send JSON in text frames.")
            return
        if len(text_data) > MAX_MESSAGE_CHARS:
            await self._error(ErrorCode.INVALID, "Messages are at most 64 KiB.")
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self._error(MarketDataError.BAD_JSON, "The message is not valid JSON.")
            return
        if not isinstance(message, dict):
            await self._error(ErrorCode.INVALID, "A message is a JSON object.")
            return
        action = message.get("action")
        if action not in ACTIONS:
            await self._error(
                ErrorCode.INVALID, 'The action must be "subscribe" or "unsubscribe".', action=action
            )
            return
        channel = message.get("channel")
        if channel not in StreamChannel.values:
            await self._error(
                MarketDataError.UNKNOWN_CHANNEL,
                f"Unknown channel {channel!r}; channels: {', '.join(StreamChannel.values)}.",
                channel=channel,
            )
            return
        if channel in PRIVATE_CHANNELS:
            await self._private(action, channel)
            return
        symbols = message.get("symbols")
        if symbols is None and action == "unsubscribe":
            await self._unsubscribe(channel, list(self.market[channel]))
            return
        if (
            not isinstance(symbols, list)
            or not symbols
            or not all(isinstance(s, str) and s.strip() for s in symbols)
        ):
            await self._error(
                ErrorCode.INVALID, f'"{channel}" needs "symbols": a list of instrument symbols.'
            )
            return
        symbols = list(dict.fromkeys(s.strip().upper() for s in symbols))
        if action == "subscribe":
            await self._subscribe(channel, symbols)
        else:
            await self._unsubscribe(channel, symbols)

    async def _subscribe(self, channel: str, symbols: list[str]) -> None:
        held = {(c, s) for c, subs in self.market.items() for s in subs}
        new = [s for s in symbols if (channel, s) not in held]
        limit = settings.MARKETDATA_WS_MAX_SYMBOLS
        if len(held) + len(new) > limit:
            await self._error(
                ErrorCode.LIMIT_EXCEEDED,
                f"A connection follows at most {limit} symbol streams.",
                limit=limit,
            )
            return
        instruments = await self.instruments(new)
        unknown = [s for s in new if s not in instruments]
        if unknown:
            await self._error(
                MarketDataError.UNKNOWN_SYMBOL,
                f"Unknown symbol{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
                symbols=unknown,
            )
            return
        for symbol in new:
            instrument = instruments[symbol]
            await self._join(realtime.market_group(channel, instrument.pk))
            self.market[channel][symbol] = instrument.pk
        await self._send({"channel": "subscribed", "data": self._subscriptions(channel)})
        if channel in (StreamChannel.QUOTES, StreamChannel.DEPTH) and new:
            read = snapshots.quote if channel == StreamChannel.QUOTES else snapshots.depth
            entries = await database_sync_to_async(lambda: [read(instruments[s]) for s in new])()
            now = asyncio.get_running_loop().time()
            for symbol, entry in zip(new, entries, strict=True):
                self.conflator.offer(channel, symbol, [entry], now)
            self._wake()

    async def _unsubscribe(self, channel: str, symbols: list[str]) -> None:
        for symbol in symbols:
            instrument_id = self.market[channel].pop(symbol, None)
            if instrument_id is None:
                continue
            await self._leave(realtime.market_group(channel, instrument_id))
            self.conflator.forget(channel, symbol)
        await self._send({"channel": "unsubscribed", "data": self._subscriptions(channel)})

    async def _private(self, action: str, channel: str) -> None:
        group = realtime.private_group(channel, self.user.pk)
        if action == "subscribe":
            if channel not in self.private:
                await self._join(group)
                self.private.add(channel)
            await self._send({"channel": "subscribed", "data": {"channel": channel}})
        else:
            if channel in self.private:
                await self._leave(group)
                self.private.discard(channel)
                self.conflator.forget(channel, "")
            await self._send({"channel": "unsubscribed", "data": {"channel": channel}})

    async def instruments(self, symbols: list[str]) -> dict[str, Any]:
        """Symbol -> instrument for the symbols that exist."""
        return await database_sync_to_async(selectors.instruments_by_symbol)(symbols)

    def _subscriptions(self, channel: str) -> dict[str, Any]:
        return {"channel": channel, "symbols": sorted(self.market[channel])}

    # -- published updates -----------------------------------------------------------------

    async def _join(self, group: str) -> None:
        if self.transport == realtime.HUB:
            await feed_hub().join(group, self)
        else:
            await self.channel_layer.group_add(group, self.channel_name)

    async def _leave(self, group: str) -> None:
        if self.transport == realtime.HUB:
            await feed_hub().leave(group, self)
        else:
            await self.channel_layer.group_discard(group, self.channel_name)

    def feed(self, event: dict[str, Any]) -> None:
        """Take a published update (from the hub, or the channel layer's handlers)."""
        channel = event["channel"]
        if event["type"] == realtime.MARKET_EVENT:
            key = event["symbol"]
            if key not in self.market.get(channel, {}):
                return  # unsubscribed while it was in flight
        elif channel in self.private:
            key = ""
        else:
            return
        if self.conflator.offer(channel, key, event["items"], asyncio.get_running_loop().time()):
            self._wake()

    def resync_soon(self) -> None:
        """Updates may have been lost upstream: re-read the snapshots now."""
        self._resync_requested = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Published updates never touch the database, so they skip the thread hop channels
        # makes before every handler to close stale database connections: at thousands of
        # updates a second per process that hop, not the feed, would be the cost.
        handler = FEED_HANDLERS.get(message.get("type", ""))
        if handler is not None:
            await handler(self, message)
        else:
            await super().dispatch(message)

    async def md_update(self, event: dict[str, Any]) -> None:
        self.feed(event)

    async def md_private(self, event: dict[str, Any]) -> None:
        self.feed(event)

    # -- output ----------------------------------------------------------------------------

    def _wake(self) -> None:
        """Have the flush loop look again if something is now due before it planned to."""
        deadline = self.conflator.next_deadline()
        if deadline is not None and deadline < self._wake_at:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        heartbeat = settings.MARKETDATA_WS_HEARTBEAT_SECONDS
        next_beat = loop.time() + heartbeat
        try:
            while True:
                now = loop.time()
                for message in self.conflator.drain(now):
                    await self._send(message)
                if now >= next_beat:
                    await connection_registry().touch(self.user.pk, self.channel_name)
                    next_beat = now + heartbeat
                    self._resync_requested = True
                if self._resync_requested:
                    self._resync_requested = False
                    await self._resync_snapshots()
                    continue  # the resync may have made something due
                deadline = self.conflator.next_deadline()
                self._wake_at = next_beat if deadline is None else min(deadline, next_beat)
                if self._wake_at <= loop.time():
                    continue
                self._waiter = loop.create_future()
                timer = loop.call_at(self._wake_at, _settle, self._waiter)
                try:
                    await self._waiter
                finally:
                    timer.cancel()
                    self._wake_at = -math.inf  # awake: offers need not wake it
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("The feed of %s stopped; closing the connection", self.channel_name)
            await self.close(code=1011)

    async def _resync_snapshots(self) -> None:
        """Offer the cached quote and depth of every subscribed symbol again.

        Delivery through the channel layer is at most once: if the last update of a quiet
        symbol was lost, nothing later would reveal it. The cache has the latest state; an
        entry this connection already sent is ignored by its sequence number.
        """
        keys = {}
        for channel, template in (
            (StreamChannel.QUOTES, snapshots.QUOTE),
            (StreamChannel.DEPTH, snapshots.DEPTH),
        ):
            for symbol, instrument_id in self.market[channel].items():
                keys[template.format(instrument_id)] = (channel, symbol)
        if not keys:
            return
        found = await cache.aget_many(list(keys))
        now = asyncio.get_running_loop().time()
        for key, entry in found.items():
            channel, symbol = keys[key]
            self.conflator.offer(channel, symbol, [entry], now)

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=_dumps(message))

    async def _error(self, code: str, message: str, **details: Any) -> None:
        data: dict[str, Any] = {"code": str(code), "message": message}
        if details:
            data["details"] = details
        await self._send({"channel": "error", "data": data})


FEED_HANDLERS = {
    realtime.MARKET_EVENT: MarketDataConsumer.md_update,
    realtime.PRIVATE_EVENT: MarketDataConsumer.md_private,
}
