"""Publishing to the WebSocket feed.

Streams are named like channel-layer groups: ``md.<channel>.<instrument id>`` for market data
(quotes, depth, trades) and ``md.user.<user id>.<channel>`` for a user's private streams
(orders, account, notifications). Only a consumer authenticated as that user ever joins the
latter.

Two transports (``MARKETDATA_FEED_TRANSPORT``): ``hub`` (default) publishes each update once
with Redis PUBLISH and every daphne process fans it out to its connections
(apps.marketdata.hub); ``layer`` uses the channel layer's groups. bench/channel_layers.py
measures them; docs/performance.md has the figures.

Every published item carries its stream's sequence number (``seq``): market streams number
from :class:`~apps.marketdata.models.MarketState`, private streams from a cache counter.
Consumers use them to drop stale or repeated items and to notice lost ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache

from apps.marketdata import hub

logger = logging.getLogger("bourse.marketdata.realtime")

MARKET_EVENT = "md.update"
PRIVATE_EVENT = "md.private"
HUB = "hub"
LAYER = "layer"

Publication = tuple[str, dict[str, Any]]


def transport() -> str:
    return settings.MARKETDATA_FEED_TRANSPORT


def market_group(channel: str, instrument_id: int) -> str:
    return f"md.{channel}.{instrument_id}"


def private_group(channel: str, user_id: int) -> str:
    return f"md.user.{user_id}.{channel}"


def market_message(channel: str, symbol: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": MARKET_EVENT, "channel": channel, "symbol": symbol, "items": items}


def private_message(channel: str, seq: int, data: Any) -> dict[str, Any]:
    return {"type": PRIVATE_EVENT, "channel": channel, "items": [{"seq": seq, "data": data}]}


def next_private_seq(user_id: int, channel: str, count: int = 1) -> int:
    """The next number of a user's private stream (atomic in Redis and in process memory);
    with ``count``, reserves that many and returns the last."""
    key = f"md:seq:{channel}:{user_id}"
    cache.add(key, 0, timeout=None)
    try:
        return cache.incr(key, count)
    except ValueError:  # evicted between add and incr
        cache.add(key, 0, timeout=None)
        return cache.incr(key, count)


_redis_lock = threading.Lock()
_redis_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    """A client for publishing, shared by the threads of this process (redis-py pools)."""
    url = settings.REDIS_URL
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            client = _redis_clients[url] = redis.Redis.from_url(url)
    return client


def _hub_publish(publications: list[Publication]) -> None:
    if not settings.REDIS_URL:
        for group, message in publications:
            hub.local_publish(group, message)
        return
    pipe = _redis().pipeline(transaction=False)
    for group, message in publications:
        pipe.publish(hub.redis_channel(group), json.dumps(message, separators=(",", ":")))
    pipe.execute()


async def _layer_publish(publications: list[Publication]) -> None:
    layer = get_channel_layer()
    for group, message in publications:
        await layer.group_send(group, message)


def publish(publications: list[Publication]) -> None:
    """Send now. At most once: a failure is logged, and the sequence numbers let subscribers
    notice the gap and resync from the REST snapshots."""
    if not publications:
        return
    try:
        if transport() == LAYER:
            async_to_sync(_layer_publish)(publications)
        else:
            _hub_publish(publications)
    except Exception:
        logger.exception("Publishing %d market data message(s) failed", len(publications))


async def apublish(publications: list[Publication]) -> None:
    """:func:`publish` for code already on an event loop."""
    if transport() == LAYER:
        await _layer_publish(publications)
    else:
        await asyncio.to_thread(_hub_publish, publications)
