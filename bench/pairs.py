"""Connected peer pairs in one process: ours (webrtcbin) and aiortc's, timed the same way.

The clock starts at ``create_offer`` and stops when the data channel is open on both sides.
Before it: both peers exist and are started (``async with`` for ours, the constructor for
aiortc) and the offerer has created its channel. Ours trickles candidates; aiortc gathers
before its descriptions (it does not trickle). aiortc always runs with ``iceServers=[]``.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: an aiortc-only child process never loads GStreamer
    from aiogstwebrtc import DataChannel, IceCandidate, PeerConnection

__all__ = [
    "OPEN_TIMEOUT",
    "OursPair",
    "TheirPair",
    "aiortc_peer",
    "open_aiortc",
    "open_ours",
    "set_pacing",
]

OPEN_TIMEOUT = 30.0


@dataclass
class OursPair:
    """Two webrtcbin peers with a channel open on both sides."""

    offerer: PeerConnection
    answerer: PeerConnection
    channel: DataChannel
    remote: DataChannel
    open_s: float
    stack: AsyncExitStack
    marks: dict[str, float]
    raw: dict[str, Any]

    async def close(self) -> None:
        """Close both peers."""
        await self.stack.aclose()


@dataclass
class TheirPair:
    """Two aiortc peers with a channel open on both sides."""

    offerer: Any
    answerer: Any
    channel: Any
    remote: Any
    open_s: float

    async def close(self) -> None:
        """Close both peers."""
        await asyncio.gather(self.offerer.close(), self.answerer.close())


def _forward(target: PeerConnection) -> Any:
    async def send(candidate: IceCandidate | None) -> None:
        if candidate is not None:
            await target.add_ice_candidate(candidate)

    return send


async def set_pacing(pc: PeerConnection, milliseconds: int) -> None:
    """Set libnice's Ta (``stun-pacing-timer``) on ``pc``'s agent (an experiment knob)."""
    from aiogstwebrtc.gst import read_ice_agent

    def apply(_pipeline: Any, webrtcbin: Any) -> None:
        agent = read_ice_agent(webrtcbin).get_property("agent")
        agent.set_property("stun-pacing-timer", milliseconds)

    await pc.run_in_glib(apply)


async def open_ours(
    *,
    label: str = "bench",
    pacing_ms: int | None = None,
    negotiated_raw_id: int | None = None,
    timeout: float = OPEN_TIMEOUT,
) -> OursPair:
    """Connect two of our peers over a data channel and time it.

    ``pacing_ms`` sets libnice's Ta on both agents before the offer (the experiment behind
    the recommended core change). ``negotiated_raw_id`` also creates, on both sides and
    with bare PyGObject calls, a negotiated channel with that id which the library never
    wraps (see :mod:`bench.wrapper`); they are in ``raw`` as ``raw_offerer``/``raw_answerer``.
    """
    from aiogstwebrtc import PeerConnection

    stack = AsyncExitStack()
    try:
        offerer = await stack.enter_async_context(PeerConnection())
        answerer = await stack.enter_async_context(PeerConnection())
        if pacing_ms is not None:
            await set_pacing(offerer, pacing_ms)
            await set_pacing(answerer, pacing_ms)
        raws: dict[str, Any] = {}
        if negotiated_raw_id is not None:
            for name, pc in (("raw_offerer", offerer), ("raw_answerer", answerer)):
                raws[name] = await pc.run_in_glib(_create_raw_channel, negotiated_raw_id)
        loop = asyncio.get_running_loop()
        remote_future: asyncio.Future[DataChannel] = loop.create_future()
        answerer.on(
            "datachannel",
            lambda ch: None if remote_future.done() else remote_future.set_result(ch),
        )
        offerer.on("icecandidate", _forward(answerer))
        answerer.on("icecandidate", _forward(offerer))
        channel = await offerer.create_data_channel(label)
        marks: dict[str, float] = {}
        start = time.perf_counter()

        def mark(name: str) -> None:
            marks.setdefault(name, time.perf_counter() - start)

        offerer.on("connectionstatechange", lambda: mark(f"offerer_{offerer.connection_state}"))
        answerer.on("connectionstatechange", lambda: mark(f"answerer_{answerer.connection_state}"))

        async def negotiate() -> DataChannel:
            offer = await offerer.create_offer()
            mark("offer_created")
            await offerer.set_local_description(offer)
            answer = await answerer.handle_offer(offer)
            mark("answer_set_locally")
            await offerer.set_remote_description(answer)
            mark("answer_applied")
            await channel.wait_open(timeout)
            mark("offerer_open")
            remote = await remote_future
            await remote.wait_open(timeout)
            mark("answerer_open")
            return remote

        remote = await asyncio.wait_for(negotiate(), timeout)
        elapsed = time.perf_counter() - start
        return OursPair(offerer, answerer, channel, remote, elapsed, stack, marks, raws)
    except BaseException:
        await stack.aclose()
        raise


def _create_raw_channel(_pipeline: Any, webrtcbin: Any, stream_id: int) -> Any:
    """GLib thread: a negotiated channel made with PyGObject only (no library wrapper)."""
    from aiogstwebrtc.gst import Gst

    options = Gst.Structure.from_string(
        f"application/data-channel, ordered=(boolean)true, negotiated=(boolean)true, "
        f"id=(int){stream_id}"
    )[0]
    return webrtcbin.emit("create-data-channel", "raw", options)


def aiortc_peer() -> Any:
    """An aiortc peer that never contacts a STUN or TURN server."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def open_aiortc(*, label: str = "bench", timeout: float = OPEN_TIMEOUT) -> TheirPair:
    """Connect two aiortc peers over a data channel and time it the same way."""
    offerer, answerer = aiortc_peer(), aiortc_peer()
    try:
        loop = asyncio.get_running_loop()
        remote_future: asyncio.Future[Any] = loop.create_future()
        opened: asyncio.Future[None] = loop.create_future()
        answerer.on(
            "datachannel",
            lambda ch: None if remote_future.done() else remote_future.set_result(ch),
        )
        channel = offerer.createDataChannel(label)
        channel.on("open", lambda: None if opened.done() else opened.set_result(None))
        start = time.perf_counter()

        async def negotiate() -> Any:
            await offerer.setLocalDescription(await offerer.createOffer())
            await answerer.setRemoteDescription(offerer.localDescription)
            await answerer.setLocalDescription(await answerer.createAnswer())
            await offerer.setRemoteDescription(answerer.localDescription)
            await opened
            return await remote_future

        remote = await asyncio.wait_for(negotiate(), timeout)
        return TheirPair(offerer, answerer, channel, remote, time.perf_counter() - start)
    except BaseException:
        await asyncio.gather(offerer.close(), answerer.close(), return_exceptions=True)
        raise
