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
from typing import Any, TypeVar

from .config import Configuration, IceServer
from .datachannel import DataChannel
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
from .peerconnection import PeerConnection
from .sdp import IceCandidate, SessionDescription
from .strategies import STRATEGIES
from .tracing import enable_thread_tracing

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
    "run",
]

__version__ = "0.1.0"
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, gi_events: bool = False) -> T:
    """Run ``main`` like ``asyncio.run``; with ``gi_events=True`` on PyGObject's GLib loop.

    On the GLib loop no second thread is needed (``Configuration(strategy="gi-events")``).
    """
    if not gi_events:
        return asyncio.run(main)
    from gi.events import GLibEventLoopPolicy

    policy = GLibEventLoopPolicy()
    loop = policy.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        result: T = loop.run_until_complete(main)
        return result
    finally:
        asyncio.set_event_loop(None)
        loop.close()
