"""The ordered outbox of a cluster server: every write to Redis, in the order it was made.

Presence updates (``HSET``/``HDEL`` and their ``PUBLISH``) and routed messages go through
one queue, written by one task in pipelines, one after the other: Redis receives them in
the order the server made them, so a peer's messages reach the other server in order and
a session is never opened there before its consumer is known there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeAlias

from redis.asyncio import Redis

__all__ = ["Command", "Outbox"]

log = logging.getLogger(__name__)

Command: TypeAlias = tuple[str, tuple[Any, ...]]
"""``(method name of a redis pipeline, its arguments)``, e.g. ``("publish", (ch, text))``."""

_BATCH = 512  # commands sent in one pipeline at most


class Outbox:
    """Queue of Redis commands written in order; dropped while Redis is unreachable.

    ``after_batch`` returns commands appended to each pipeline that wrote to this server's
    peer hash (its expiry, so a hash written just before a crash still expires).
    """

    def __init__(self, after_batch: Callable[[list[Command]], list[Command]]) -> None:
        self._queue: asyncio.Queue[Command] = asyncio.Queue()
        self._after_batch = after_batch
        self._open = False
        self.dropped = 0
        """Commands dropped because Redis was unreachable (since the start)."""

    @property
    def open(self) -> bool:
        """True while commands are accepted (Redis reachable)."""
        return self._open

    def put(self, name: str, *args: Any) -> None:
        """Queue one command (dropped, and counted, while closed)."""
        if self._open:
            self._queue.put_nowait((name, args))
        else:
            self.dropped += 1

    def open_(self) -> None:
        """Accept commands again (Redis is back; the caller re-publishes its state first)."""
        self._open = True

    def close(self) -> None:
        """Stop accepting commands and forget the queued ones (Redis is lost)."""
        self._open = False
        self.dropped += self._queue.qsize()
        self._queue = asyncio.Queue()

    async def run(self, redis: Redis) -> None:
        """Write queued commands until cancelled; a Redis error propagates."""
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < _BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            pipe = redis.pipeline(transaction=False)
            for name, args in batch + self._after_batch(batch):
                getattr(pipe, name)(*args)
            await pipe.execute()
