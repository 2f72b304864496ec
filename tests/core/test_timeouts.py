"""The library's waits can always be cancelled: a task cancelled just as what it waits for
arrives ends cancelled (Python 3.11's ``asyncio.wait_for`` would hand it the result and
let it carry on, gh-86296), and a wait that runs out still raises ``TimeoutError``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from aiogstwebrtc.promises import bounded_wait
from aiogstwebrtc.timeouts import wait_for


def _wait_for(future: asyncio.Future[int]) -> Awaitable[int]:
    return wait_for(future, 10)


def _bounded_wait(future: asyncio.Future[int]) -> Awaitable[int]:
    return bounded_wait(future, 10, "an operation", lambda: "a state")


@pytest.mark.parametrize("wait", [_wait_for, _bounded_wait])
async def test_a_cancellation_as_the_result_arrives_is_not_lost(
    wait: Callable[[asyncio.Future[int]], Awaitable[int]],
) -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    carried_on = asyncio.Event()

    async def waiter() -> None:
        await wait(future)
        carried_on.set()  # a lost cancellation: the task goes on
        await asyncio.sleep(3600)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    future.set_result(1)
    task.cancel()  # in the same loop iteration as the result
    await asyncio.wait({task}, timeout=2)
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=2)
    assert not carried_on.is_set()
    assert task.cancelled()


async def test_a_wait_that_runs_out_raises_timeout_and_cancels_what_it_waited_for() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await wait_for(future, 0.05)
    assert future.cancelled()
    assert await wait_for(asyncio.sleep(0, result=7), None) == 7
    assert await wait_for(asyncio.sleep(0.01, result=8), 5) == 8
