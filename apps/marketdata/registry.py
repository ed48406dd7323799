"""Live WebSocket connections per user, for the per-user connection limit.

With Redis, one sorted set per user across every daphne process: members are connection
names, scores their expiry; a connection refreshes its entry on each heartbeat, so a process
that died without saying goodbye frees its slots after ``MARKETDATA_WS_HEARTBEAT_SECONDS``
x 3. Without Redis (the single-process mode), a table in this process.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from typing import Any

from django.conf import settings
from redis import asyncio as aioredis

_REGISTER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _ttl() -> int:
    return max(3, settings.MARKETDATA_WS_HEARTBEAT_SECONDS * 3)


class RedisRegistry:
    def __init__(self) -> None:
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # Connections opening in a burst wait for a pooled Redis connection rather than
            # fail (redis-py's default pool refuses the 101st at once).
            pool = aioredis.BlockingConnectionPool.from_url(
                settings.REDIS_URL, max_connections=20, timeout=30
            )
            client = aioredis.Redis(connection_pool=pool)
            self._clients[loop] = client
        return client

    @staticmethod
    def _key(user_id: int) -> str:
        return f"{settings.REDIS_KEY_PREFIX}:md:connections:{user_id}"

    async def register(self, user_id: int, connection: str, limit: int) -> bool:
        now = time.time()
        result = await self._client().eval(
            _REGISTER, 1, self._key(user_id), now, now + _ttl(), connection, limit, _ttl()
        )
        return bool(result)

    async def touch(self, user_id: int, connection: str) -> None:
        await self._client().zadd(self._key(user_id), {connection: time.time() + _ttl()}, xx=True)

    async def unregister(self, user_id: int, connection: str) -> None:
        await self._client().zrem(self._key(user_id), connection)

    async def count(self, user_id: int) -> int:
        client = self._client()
        await client.zremrangebyscore(self._key(user_id), "-inf", time.time())
        return int(await client.zcard(self._key(user_id)))


class LocalRegistry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: dict[int, dict[str, float]] = {}

    def _live(self, user_id: int) -> dict[str, float]:
        now = time.time()
        entries = self._connections.setdefault(user_id, {})
        for name in [n for n, expires in entries.items() if expires <= now]:
            del entries[name]
        return entries

    async def register(self, user_id: int, connection: str, limit: int) -> bool:
        with self._lock:
            entries = self._live(user_id)
            if connection not in entries and len(entries) >= limit:
                return False
            entries[connection] = time.time() + _ttl()
            return True

    async def touch(self, user_id: int, connection: str) -> None:
        with self._lock:
            entries = self._live(user_id)
            if connection in entries:
                entries[connection] = time.time() + _ttl()

    async def unregister(self, user_id: int, connection: str) -> None:
        with self._lock:
            self._live(user_id).pop(connection, None)

    async def count(self, user_id: int) -> int:
        with self._lock:
            return len(self._live(user_id))


_redis_registry = RedisRegistry()
_local_registry = LocalRegistry()


def connection_registry() -> RedisRegistry | LocalRegistry:
    return _redis_registry if settings.REDIS_URL else _local_registry
