"""aiogstwebrtc: asyncio-native WebRTC for Python on GStreamer's webrtcbin.

The public API::

    from aiogstwebrtc import PeerConnection, Configuration, SessionDescription, IceCandidate

    async with PeerConnection(Configuration()) as pc:
        channel = await pc.create_data_channel("chat")
        offer = await pc.create_offer()
        await pc.set_local_description(offer)
        ...

Every operation returns when webrtcbin has done it or raises a clear error within
``Configuration.operation_timeout``; no callback is lost between GStreamer's threads and
asyncio. See :mod:`aiogstwebrtc.errors` for the exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ._version import __version__
from .config import Configuration, IceServer
from .errors import (
    ClosedError,
    InvalidSDPError,
    InvalidStateError,
    MessageTooLargeError,
    MissingComponentError,
    NegotiationError,
    OperationTimeoutError,
    WebRTCError,
)
from .sdp import IceCandidate, SessionDescription
from .tracing import enable_thread_tracing

if TYPE_CHECKING:
    from .datachannel import DataChannel
    from .peerconnection import PeerConnection
    from .strategies import STRATEGIES

# Names that need GStreamer are imported on first use, so that the GStreamer-free parts
# (aiogstwebrtc.signalling, the doctor's environment check) work without it.
_LAZY = {
    "DataChannel": "datachannel",
    "PeerConnection": "peerconnection",
    "STRATEGIES": "strategies",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aiogstwebrtc' has no attribute {name!r}")
    import importlib

    try:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    except AttributeError as exc:  # keep a failure inside the import visible as such
        raise ImportError(f"importing aiogstwebrtc.{module} failed: {exc}") from exc
    globals()[name] = value
    return value


__all__ = [
    "STRATEGIES",
    "ClosedError",
    "Configuration",
    "DataChannel",
    "IceCandidate",
    "IceServer",
    "InvalidSDPError",
    "InvalidStateError",
    "MessageTooLargeError",
    "MissingComponentError",
    "NegotiationError",
    "OperationTimeoutError",
    "PeerConnection",
    "SessionDescription",
    "WebRTCError",
    "__version__",
    "enable_thread_tracing",
    "prewarm",
    "run",
]

T = TypeVar("T")


def prewarm() -> None:
    """Initialise GStreamer and start its one-time set-up now, in the background.

    The first connection of a process loads the plugins its transports need and sets up
    their classes once (OpenSSL, libsrtp, usrsctp, libnice), and GStreamer 1.22 makes a
    process-wide default DTLS key (RSA-2048, 80-350 ms) then. The first peer connection
    starts all that on a thread of its own when it starts; an application that calls
    ``prewarm()`` at start-up has it done before its first offer. Optional, cheap, safe
    to call twice.
    """
    from .gst import warm_up_elements

    warm_up_elements()


def run(main: Coroutine[Any, Any, T], *, gi_events: bool = False) -> T:
    """Run ``main`` like ``asyncio.run``; with ``gi_events=True`` on PyGObject's GLib loop.

    On the GLib loop no second thread is needed (``Configuration(strategy="gi-events")``).
    """
    if not gi_events:
        return asyncio.run(main)
    from gi.events import GLibEventLoopPolicy

    # asyncio.Runner, as asyncio.run: tasks still pending at the end are cancelled and
    # awaited before the loop closes (not destroyed pending at interpreter exit).
    with asyncio.Runner(loop_factory=GLibEventLoopPolicy().new_event_loop) as runner:
        asyncio.set_event_loop(runner.get_loop())
        try:
            return runner.run(main)
        finally:
            asyncio.set_event_loop(None)
