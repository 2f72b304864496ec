"""The approaches the doctor knows: the seed's four solutions, ``gi-events``, the broken ways.

Importing this module does not import GStreamer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..strategies import Strategy

__all__ = [
    "APPROACHES",
    "PREFERENCE",
    "Approach",
    "by_key",
    "select",
]


@dataclass(frozen=True)
class Approach:
    """One way of driving webrtcbin's promises, run end to end by the doctor.

    ``kind`` is ``"solution"`` (the seed's four, numbered 1 to 4), ``"extra"`` (``gi-events``)
    or ``"broken"`` (kept to show why it fails; ``expected_failure`` says how).
    """

    key: str
    title: str
    kind: str
    strategy: str
    summary: str
    number: int | None = None
    init_data_channel: bool = False
    loop: str = "asyncio"
    expected_failure: str | None = None

    @property
    def broken(self) -> bool:
        """True for the approaches that are expected to fail."""
        return self.kind == "broken"

    def make_strategy(self) -> Strategy:
        """A fresh strategy instance for this approach (imports GStreamer)."""
        if self.broken:
            from ..strategies.broken import get_broken_strategy

            return get_broken_strategy(self.strategy)
        from ..strategies import get_strategy

        return get_strategy(self.strategy)

    @property
    def configuration_strategy(self) -> str:
        """The name to give ``Configuration(strategy=...)`` (broken ones override it)."""
        return "asyncio" if self.broken else self.strategy


APPROACHES: tuple[Approach, ...] = (
    Approach(
        key="sync",
        number=1,
        title="Solution 1: synchronous promises on the GLib thread",
        kind="solution",
        strategy="sync",
        summary="Gst.Promise.new() + wait() on the GLib thread, never on a webrtcbin thread",
    ),
    Approach(
        key="init-data-channel",
        number=2,
        title="Solution 2: an early data channel (init_data_channel=True)",
        kind="solution",
        strategy="asyncio",
        init_data_channel=True,
        summary="a 'control' data channel made before the offer, with the asyncio strategy",
    ),
    Approach(
        key="callback",
        number=3,
        title="Solution 3: change-funcs that reschedule onto the GLib thread",
        kind="solution",
        strategy="callback",
        summary="the change-func only posts an idle call to the GLib thread, which reads the reply",
    ),
    Approach(
        key="asyncio",
        number=4,
        title="Solution 4: asyncio futures woken with call_soon_threadsafe (the default)",
        kind="solution",
        strategy="asyncio",
        summary="the change-func reads the reply and resolves the future thread-safely",
    ),
    Approach(
        key="gi-events",
        title="asyncio on the GLib loop (PyGObject gi.events)",
        kind="extra",
        strategy="gi-events",
        loop="gi-events",
        summary="asyncio itself runs on GLib's main loop: no second thread",
    ),
    Approach(
        key="naive-set-result",
        title="Broken: future.set_result() from webrtcbin's thread",
        kind="broken",
        strategy="naive-set-result",
        expected_failure="lost-wakeup",
        summary="the change-func resolves the future without waking the event loop",
    ),
    Approach(
        key="wait-in-handler",
        title="Broken: promise.wait() inside a webrtcbin callback",
        kind="broken",
        strategy="wait-in-handler",
        expected_failure="deadlock",
        summary="a change-func runs the next step and waits for it on webrtcbin's own thread",
    ),
    Approach(
        key="idle-without-loop",
        title="Broken: GLib.idle_add with no GLib main loop running",
        kind="broken",
        strategy="idle-without-loop",
        expected_failure="timeout",
        summary="the reply is queued on the default main context, which nothing iterates",
    ),
    Approach(
        key="before-playing",
        title="Broken: operations before the pipeline is up",
        kind="broken",
        strategy="before-playing",
        expected_failure="error",
        summary="webrtcbin below READY refuses every operation ('webrtcbin is closed')",
    ),
)

#: Which working approach to recommend first.
PREFERENCE = ("asyncio", "sync", "callback", "gi-events", "init-data-channel")

_BY_KEY = {approach.key: approach for approach in APPROACHES}
_BY_NUMBER = {str(a.number): a for a in APPROACHES if a.number is not None}


def by_key(key: str) -> Approach:
    """The approach called ``key``; ``KeyError`` if there is none."""
    return _BY_KEY[key]


def select(spec: str) -> list[Approach]:
    """Approaches from ``"1"`` to ``"4"``, ``"5"``/``"all"`` or names, comma-separated.

    Raises ``ValueError`` naming the valid choices.
    """
    chosen: list[Approach] = []
    for part in (item.strip().lower() for item in spec.split(",")):
        if not part:
            continue
        if part in ("5", "all"):
            found = list(APPROACHES)
        elif part in _BY_NUMBER:
            found = [_BY_NUMBER[part]]
        elif part in _BY_KEY:
            found = [_BY_KEY[part]]
        else:
            raise ValueError(
                f"unknown approach {part!r}; choose 1, 2, 3, 4, all or one of " + ", ".join(_BY_KEY)
            )
        chosen.extend(approach for approach in found if approach not in chosen)
    if not chosen:
        raise ValueError("no approach chosen")
    return chosen
