"""A cluster server's Redis tasks end when they are cancelled, whatever moment of a Redis
write the cancellation lands on. On Python 3.11 ``asyncio.wait_for`` (redis-py's socket
timeout) can lose a cancellation that arrives just as a write completes: the server's
writer then waited for its next command forever, and with it ``stop()`` or the
reconnection after a Redis outage (seen as a 120 s hang when a test stopped its servers)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from aiogstwebrtc.signalling.cluster.cancelling import cancel_and_wait
from aiogstwebrtc.signalling.cluster.outbox import Outbox

from .redis_server import redis_server

STEPS = 40  # loop iterations between the write being queued and the cancellation


async def test_a_writer_cancelled_at_any_step_of_a_write_ends() -> None:
    async with redis_server() as server:
        # the client as a cluster server makes it: a socket timeout, no retries
        redis = Redis.from_url(server.url, socket_timeout=2.0, retry=Retry(NoBackoff(), 0))
        try:
            for step in range(STEPS):
                outbox = Outbox(lambda batch: [])
                outbox.open_()
                writer = asyncio.create_task(outbox.run(redis))
                outbox.put("rpush", "written", step)
                for _ in range(step):
                    await asyncio.sleep(0)
                stopping = asyncio.create_task(cancel_and_wait([writer]))
                await asyncio.wait({stopping}, timeout=5)
                assert writer.done(), f"the writer outlived its cancellation at step {step}"
                await stopping
            # the client is still usable, and each write was made whole or not at all
            written = [int(v) for v in await redis.lrange("written", 0, -1)]  # type: ignore[misc]
            assert written == sorted(set(written))
            assert all(0 <= v < STEPS for v in written)
        finally:
            await redis.aclose()


async def test_the_caller_cancelled_meanwhile_still_ends_the_tasks_first() -> None:
    ended = asyncio.Event()

    async def stubborn() -> None:
        # swallows the first cancellation, as 3.11's wait_for can
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass
        try:
            await asyncio.sleep(3600)
        finally:
            ended.set()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    caller = asyncio.create_task(cancel_and_wait([task]))
    await asyncio.sleep(0.01)
    caller.cancel()
    async with asyncio.timeout(5):
        await asyncio.wait({caller})
    assert caller.cancelled()
    assert ended.is_set() and task.done()
