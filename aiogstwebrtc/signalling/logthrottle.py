"""Log lines that an attacker can trigger at will, at most once per interval each.

A refused connection, a malformed HTTP request, a client resetting during the upgrade or
the process running out of file descriptors can each happen thousands of times a second.
:class:`ThrottledLog` logs the first occurrence of each kind at once, then one summary
line per interval with how many happened and from how many addresses, and never a
traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ThrottledLog"]

_ADDRESSES_KEPT = 1000  # distinct addresses remembered per kind and interval


@dataclass(slots=True)
class _Tally:
    count: int = 0
    addresses: set[str] = field(default_factory=set)


class ThrottledLog:
    """Counts events by kind and logs each kind at most once per ``interval`` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        level: int = logging.WARNING,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._level = level
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._pending: dict[str, _Tally] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self.totals: dict[str, int] = {}
        """How many events of each kind were counted since this log was made."""

    def event(self, kind: str, address: str | None = None) -> None:
        """Count one event of ``kind`` (a phrase such as ``"refused: too many connections"``)."""
        self.totals[kind] = self.totals.get(kind, 0) + 1
        now = self._clock()
        last = self._last.get(kind)
        if last is None or (now - last >= self._interval and kind not in self._pending):
            self._last[kind] = now
            self._logger.log(self._level, "%s (from %s)", kind, address or "an unknown address")
            return
        tally = self._pending.setdefault(kind, _Tally())
        tally.count += 1
        if address is not None and len(tally.addresses) < _ADDRESSES_KEPT:
            tally.addresses.add(address)
        self._schedule(max(0.0, last + self._interval - now))

    def flush(self) -> None:
        """Log the summary of every kind counted since its last line."""
        self._flush_handle = None
        now = self._clock()
        for kind, tally in self._pending.items():
            self._last[kind] = now
            addresses = len(tally.addresses)
            self._logger.log(
                self._level,
                "%s: %d more time(s) in the last %g s, from %s%d address(es)",
                kind,
                tally.count,
                self._interval,
                "at least " if addresses >= _ADDRESSES_KEPT else "",
                addresses,
            )
        self._pending.clear()

    def close(self) -> None:
        """Log what is pending now and stop the timer."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self.flush()

    def _schedule(self, delay: float) -> None:
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (unit tests): the next flush() reports it
            return
        self._flush_handle = loop.call_later(delay, self.flush)
