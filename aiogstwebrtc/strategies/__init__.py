"""How promises are driven: the seed's solutions as interchangeable strategies.

=============  ==================================================================
``asyncio``    Solution 4 (default): change-func → ``call_soon_threadsafe`` → future
``sync``       Solution 1: ``Gst.Promise.new()`` + a guarded ``wait()`` on the GLib thread
``callback``   Solution 3: change-func reschedules the reply onto the GLib thread
``gi-events``  asyncio itself runs on the GLib loop (PyGObject ``gi.events``)
=============  ==================================================================

Solution 2 (an early data channel) is ``Configuration(init_data_channel=True)`` and
combines with any strategy.
"""

from __future__ import annotations

from .base import Strategy
from .callback import CallbackStrategy
from .futures import AsyncioStrategy, GiEventsStrategy
from .sync import SyncStrategy

__all__ = [
    "STRATEGIES",
    "AsyncioStrategy",
    "CallbackStrategy",
    "GiEventsStrategy",
    "Strategy",
    "SyncStrategy",
    "get_strategy",
]

STRATEGIES: dict[str, type[Strategy]] = {
    "asyncio": AsyncioStrategy,
    "sync": SyncStrategy,
    "callback": CallbackStrategy,
    "gi-events": GiEventsStrategy,
}
"""The promise strategies by the name ``Configuration(strategy=...)`` takes."""


def get_strategy(name: str) -> Strategy:
    """The strategy called ``name``; ``ValueError`` names the valid ones."""
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}"
        ) from None
