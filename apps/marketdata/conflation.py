"""Per-connection conflation of the WebSocket feed (pure Python, no I/O, clock passed in).

A connection holds at most one pending item per (snapshot channel, symbol) - quotes and
depth, where the latest wins - and at most ``max_pending`` items per (append channel, key) -
trades and the private streams, where every item counts and the oldest go first when a
client cannot keep up. So whatever the publishers do, a connection's pending state is bounded
by its subscriptions.

Each (channel, key) is sent at most ``rate`` times per second; items arriving within
``batch_window`` of each other are sent together, and everything of one market channel that
is due goes out in one message (several symbols batched).

Every message carries ``seq``, numbered per connection and channel. It advances by one per
message, and skips a number when the connection lost something the client needed (an item
dropped here, or a gap in the publisher's numbering upstream): a client that sees a gap
reloads that channel's snapshot from the REST API. Quotes and depth are full snapshots, so
conflating them loses nothing and never makes a gap.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SNAPSHOT = "snapshot"  # latest wins
APPEND = "append"  # every item, bounded
PRIVATE = "private"  # every item, one message each, bounded

KINDS: dict[str, str] = {
    "quotes": SNAPSHOT,
    "depth": SNAPSHOT,
    "trades": APPEND,
    "orders": PRIVATE,
    "account": PRIVATE,
    "notifications": PRIVATE,
}


@dataclass
class _Stream:
    kind: str
    latest: dict[str, Any] | None = None
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    since: float | None = None  # when the oldest pending item arrived
    last_sent: float = -math.inf
    last_seq: int | None = None
    lost: bool = False

    @property
    def pending(self) -> bool:
        return self.latest is not None or bool(self.queue)


class Conflator:
    """Pending state of one connection. ``rates`` maps channel -> messages per second per
    key (``math.inf`` or missing: no limit)."""

    def __init__(
        self,
        *,
        rates: Mapping[str, float],
        batch_window: float,
        max_pending: int,
    ) -> None:
        self.rates = dict(rates)
        self.batch_window = max(0.0, batch_window)
        self.max_pending = max(1, max_pending)
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._due: set[tuple[str, str]] = set()
        self._channel_seq: dict[str, int] = {}

    # -- input ---------------------------------------------------------------------------

    def offer(self, channel: str, key: str, items: Iterable[dict[str, Any]], now: float) -> bool:
        """Take published items (each with the publisher's ``seq``); returns whether any was
        kept. Items not newer than what this stream already had are ignored."""
        kind = KINDS[channel]
        stream = self._streams.get((channel, key))
        if stream is None:
            stream = self._streams[(channel, key)] = _Stream(kind=kind)
        kept = False
        for item in items:
            seq = item.get("seq")
            if seq is not None and stream.last_seq is not None and seq <= stream.last_seq:
                continue  # stale or repeated
            if kind == SNAPSHOT:
                stream.latest = item
            else:
                if seq is not None and stream.last_seq is not None and seq > stream.last_seq + 1:
                    stream.lost = True  # the publisher numbered items we never received
                if len(stream.queue) >= self.max_pending:
                    stream.queue.popleft()
                    stream.lost = True
                stream.queue.append(item)
            if seq is not None:
                stream.last_seq = seq
            kept = True
        if kept:
            if stream.since is None:
                stream.since = now
            self._due.add((channel, key))
        return kept

    def baseline(self, channel: str, key: str, seq: int) -> None:
        """Start a stream at ``seq`` (the snapshot a client was just given)."""
        stream = self._streams.setdefault((channel, key), _Stream(kind=KINDS[channel]))
        if stream.last_seq is None or seq > stream.last_seq:
            stream.last_seq = seq

    def forget(self, channel: str, key: str) -> None:
        """Drop a stream (unsubscribed): nothing of it is sent any more."""
        self._streams.pop((channel, key), None)
        self._due.discard((channel, key))

    # -- output --------------------------------------------------------------------------

    def _deadline(self, channel: str, stream: _Stream) -> float:
        rate = self.rates.get(channel, math.inf)
        earliest = stream.since + self.batch_window
        if rate and math.isfinite(rate):
            earliest = max(earliest, stream.last_sent + 1.0 / rate)
        return earliest

    def next_deadline(self) -> float | None:
        """When the next message is due (None: nothing pending)."""
        deadlines = [self._deadline(c, self._streams[(c, k)]) for c, k in self._due]
        return min(deadlines) if deadlines else None

    def pending_items(self) -> int:
        """Items held for this connection (bounded by subscriptions x max_pending)."""
        return sum(
            (1 if s.latest is not None else 0) + len(s.queue) for s in self._streams.values()
        )

    def _next_seq(self, channel: str, lost: bool) -> int:
        seq = self._channel_seq.get(channel, 0) + (2 if lost else 1)
        self._channel_seq[channel] = seq
        return seq

    def drain(self, now: float) -> list[dict[str, Any]]:
        """The messages due at ``now``, in channel order; their streams are reset."""
        due: dict[str, list[tuple[str, _Stream]]] = {}
        for channel, key in sorted(self._due):
            stream = self._streams[(channel, key)]
            if self._deadline(channel, stream) <= now:
                due.setdefault(channel, []).append((key, stream))
        messages: list[dict[str, Any]] = []
        for channel, streams in due.items():
            kind = KINDS[channel]
            if kind == PRIVATE:
                for key, stream in streams:
                    lost = stream.lost
                    for item in stream.queue:
                        messages.append(
                            {
                                "channel": channel,
                                "seq": self._next_seq(channel, lost),
                                "data": item.get("data"),
                            }
                        )
                        lost = False
                    self._reset(channel, key, stream, now)
                continue
            data: list[dict[str, Any]] = []
            lost = False
            for key, stream in streams:
                lost = lost or stream.lost
                if kind == SNAPSHOT:
                    data.append(stream.latest)
                else:
                    data.extend(stream.queue)
                self._reset(channel, key, stream, now)
            messages.append(
                {"channel": channel, "seq": self._next_seq(channel, lost), "data": data}
            )
        return messages

    def _reset(self, channel: str, key: str, stream: _Stream, now: float) -> None:
        stream.latest = None
        stream.queue.clear()
        stream.since = None
        stream.lost = False
        stream.last_sent = now
        self._due.discard((channel, key))
