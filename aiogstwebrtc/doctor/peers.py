"""The second peer of a doctor run: it makes the offer that the approach under test answers.

Two kinds: our own webrtcbin :class:`~aiogstwebrtc.PeerConnection` (on loopback only:
``127.0.0.1`` is added to ICE and only loopback candidates are exchanged), and aiortc (whose
ICE skips loopback, so it only runs inside a network namespace made for it). Both send a
data channel ``"chat"``; a ``media`` offer also asks to receive audio and video.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..config import Configuration
from ..datachannel import DataChannel
from ..gst import Gst, GstWebRTC
from ..peerconnection import PeerConnection
from ..sdp import IceCandidate
from ..timeouts import wait_for

__all__ = ["AiortcOfferer", "OfferingPeer", "WebrtcbinOfferer", "aiortc_version"]

log = logging.getLogger(__name__)

LABEL = "chat"
LOOPBACK = "127.0.0.1"
_AUDIO_CAPS = "application/x-rtp,media=audio,encoding-name=OPUS,payload=96,clock-rate=48000"
_VIDEO_CAPS = "application/x-rtp,media=video,encoding-name=VP8,payload=97,clock-rate=90000"


def aiortc_version() -> str | None:
    """aiortc's version, or None when it is not installed."""
    try:
        import aiortc
    except ImportError:
        return None
    return str(getattr(aiortc, "__version__", "unknown"))


class OfferingPeer:
    """The interface of a second peer (one per scenario, closed at its end)."""

    name = "peer"

    async def make_offer(self, media: bool) -> str:
        """Start, create and apply the offer, gather candidates; return the SDP to send."""
        raise NotImplementedError

    def candidates(self) -> list[IceCandidate]:
        """This peer's candidates to trickle to the answerer (after its answer)."""
        return []

    def accepts(self, candidate: IceCandidate) -> bool:
        """Whether an answerer candidate may be sent to this peer."""
        return True

    async def apply_answer(self, sdp: str) -> None:
        """Apply the answerer's SDP answer."""
        raise NotImplementedError

    async def add_candidate(self, candidate: IceCandidate) -> None:
        """Add one candidate trickled by the answerer."""
        raise NotImplementedError

    async def wait_open(self, timeout: float) -> None:
        """Wait until this side of the ``chat`` channel is open."""
        raise NotImplementedError

    async def round_trip(self, text: str, timeout: float) -> str:
        """Send ``text`` on the channel and return the next message received."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close everything this peer opened."""
        raise NotImplementedError


class WebrtcbinOfferer(OfferingPeer):
    """A webrtcbin PeerConnection (default ``asyncio`` strategy), loopback only."""

    name = "webrtcbin"

    def __init__(self, operation_timeout: float) -> None:
        self._pc = PeerConnection(
            Configuration(local_addresses=[LOOPBACK], operation_timeout=operation_timeout)
        )
        self._timeout = operation_timeout
        self._channel: DataChannel | None = None
        self._gathered: list[IceCandidate] = []
        self._pc.on("icecandidate", self._on_candidate)

    def _on_candidate(self, candidate: IceCandidate | None) -> None:
        if candidate is not None and candidate.address == LOOPBACK:
            self._gathered.append(candidate)

    async def make_offer(self, media: bool) -> str:
        if media:

            def add_transceivers(_pipeline: Gst.Pipeline, webrtc: Gst.Element) -> None:
                direction = GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY
                for caps in (_AUDIO_CAPS, _VIDEO_CAPS):
                    webrtc.emit("add-transceiver", direction, Gst.Caps.from_string(caps))

            await self._pc.run_in_glib(add_transceivers)
        self._channel = await self._pc.create_data_channel(LABEL)
        offer = await self._pc.create_offer()
        await self._pc.set_local_description(offer)
        await self._pc.wait_for_ice_gathering_complete(self._timeout)
        return offer.sdp

    def candidates(self) -> list[IceCandidate]:
        return list(self._gathered)

    def accepts(self, candidate: IceCandidate) -> bool:
        return candidate.address == LOOPBACK

    async def apply_answer(self, sdp: str) -> None:
        await self._pc.set_remote_description({"type": "answer", "sdp": sdp})

    async def add_candidate(self, candidate: IceCandidate) -> None:
        await self._pc.add_ice_candidate(candidate)

    async def wait_open(self, timeout: float) -> None:
        assert self._channel is not None
        await self._channel.wait_open(timeout)

    async def round_trip(self, text: str, timeout: float) -> str:
        assert self._channel is not None
        self._channel.send(text)
        reply = await wait_for(self._channel.recv(), timeout)
        return reply if isinstance(reply, str) else reply.decode()

    async def close(self) -> None:
        await self._pc.close()


class AiortcOfferer(OfferingPeer):
    """aiortc's RTCPeerConnection with no ICE servers (run it only in a network namespace)."""

    name = "aiortc"

    def __init__(self) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        self._pc: Any = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._channel: Any = None
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._messages: asyncio.Queue[str] = asyncio.Queue()

    async def make_offer(self, media: bool) -> str:
        if media:
            self._pc.addTransceiver("audio", direction="recvonly")
            self._pc.addTransceiver("video", direction="recvonly")
        channel = self._pc.createDataChannel(LABEL)
        self._channel = channel
        opened = self._opened

        def on_open() -> None:
            if not opened.done():
                opened.set_result(None)

        def on_message(message: str | bytes) -> None:
            self._messages.put_nowait(message if isinstance(message, str) else message.decode())

        channel.on("open", on_open)
        channel.on("message", on_message)

        # aiortc gathers every candidate here and puts them in its SDP (it does not trickle).
        await self._pc.setLocalDescription(await self._pc.createOffer())
        return str(self._pc.localDescription.sdp)

    async def apply_answer(self, sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def add_candidate(self, candidate: IceCandidate) -> None:
        from aiortc.sdp import candidate_from_sdp

        text = candidate.candidate.removeprefix("candidate:")
        converted = candidate_from_sdp(text)
        converted.sdpMid = candidate.sdp_mid
        converted.sdpMLineIndex = candidate.sdp_mline_index
        await self._pc.addIceCandidate(converted)

    async def wait_open(self, timeout: float) -> None:
        if self._channel is not None and self._channel.readyState == "open":
            return
        await wait_for(asyncio.shield(self._opened), timeout)

    async def round_trip(self, text: str, timeout: float) -> str:
        self._channel.send(text)
        return await wait_for(self._messages.get(), timeout)

    async def close(self) -> None:
        await self._pc.close()
