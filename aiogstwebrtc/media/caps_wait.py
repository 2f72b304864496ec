"""Waiting until webrtcbin knows what each of our senders sends.

webrtcbin writes an m-line's codec parameters (H.264 ``profile-level-id`` and
``sprop-parameter-sets``) and its ``a=ssrc`` lines from the caps on the sink pad of the
transceiver, and those arrive with the sender's first buffer. An offer or answer made
before that has neither: Chromium then set up no receiver for the stream at all (measured
on GStreamer 1.26: 1 WHEP session in 5 connected, got ~390 KB and decoded 0 frames). So
an offer or answer waits, bounded, until every sender's pad has caps.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..glibloop import post, resolve_future
from ..gst import Gst
from ..timeouts import wait_for

if TYPE_CHECKING:
    from ..glibloop import GLibLoop

__all__ = ["SENDER_CAPS_WAIT", "wait_for_caps"]

log = logging.getLogger(__name__)

SENDER_CAPS_WAIT = 2.0
"""Seconds an offer or answer waits for a sender's first caps before going on without."""


async def wait_for_caps(glib: GLibLoop, pads: Sequence[Gst.Pad], timeout: float) -> list[str]:
    """Wait until every pad in ``pads`` has caps, at most ``timeout`` s; returns the names
    of the pads still without (empty: all have them)."""
    if not pads:
        return []
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    lock = threading.Lock()
    missing: set[int] = set()
    handlers: list[tuple[Gst.Pad, int]] = []

    def on_caps(pad: Gst.Pad, _spec: Any) -> None:  # the streaming thread that set them
        with lock:
            if id(pad) in missing and pad.has_current_caps():
                missing.discard(id(pad))
                if not missing:
                    post(loop, resolve_future, ready)

    def watch() -> None:  # GLib thread
        with lock:
            for pad in pads:
                missing.add(id(pad))
                handlers.append((pad, pad.connect("notify::caps", on_caps)))
            for pad in pads:  # caps that came before the handler
                if pad.has_current_caps():
                    missing.discard(id(pad))
            if not missing:
                post(loop, resolve_future, ready)

    def unwatch() -> list[str]:  # GLib thread
        with lock:
            for pad, handler in handlers:
                pad.disconnect(handler)
            handlers.clear()
            return [pad.get_name() for pad in pads if id(pad) in missing]

    await glib.call(watch)
    try:
        await wait_for(asyncio.shield(ready), timeout)
    except TimeoutError:
        pass
    finally:
        still = await glib.call(unwatch)
    if still:
        log.info(
            "no caps on %s after %.1f s: the description goes without their codec details",
            ", ".join(still),
            timeout,
        )
    return still
