"""Helpers of the command-line programs: clean ends on SIGINT/SIGTERM, user output."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Iterator

__all__ = ["say", "stop_on_signals", "wait_first"]

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by the first SIGINT or SIGTERM; a second one interrupts at once."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []

    def on_signal(signum: signal.Signals) -> None:
        log.info("%s received: stopping", signum.name)
        stop.set()
        _remove(loop, installed)  # a second Ctrl-C now interrupts the shutdown

    for signum in _SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError):  # not the main thread / platform
            continue
        installed.append(signum)
    try:
        yield stop
    finally:
        _remove(loop, installed)


def _remove(loop: asyncio.AbstractEventLoop, installed: list[signal.Signals]) -> None:
    while installed:
        loop.remove_signal_handler(installed.pop())


async def wait_first(*waits: Awaitable[object]) -> None:
    """Return as soon as one of ``waits`` finishes; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def say(text: str) -> None:
    """Write a line for the person running the command (stdout, flushed)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
