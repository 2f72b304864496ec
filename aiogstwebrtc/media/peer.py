"""The media half of :class:`~aiogstwebrtc.PeerConnection`: tracks, transceivers, remote tracks.

A mixin: :class:`PeerConnection` provides the state and helpers declared at the top.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..errors import InvalidStateError, WebRTCError
from ..events import EventEmitter
from ..glibloop import GLibLoop
from ..gst import Gst
from ..sdp import SessionDescription
from ..tracing import trace
from .codecs import CODECS, payload_types_for
from .receiver import RemoteTrack
from .sender import DIRECTIONS, RtpSender, Transceiver, build_sender_bin
from .sources import MediaSource

__all__ = ["PeerMedia"]

log = logging.getLogger(__name__)


class PeerMedia:
    """``add_track``, ``add_transceiver``, ``remove_track`` and the ``track`` event."""

    # Provided by PeerConnection.
    _senders: list[RtpSender]
    _transceivers: list[Transceiver]
    _tracks: list[RemoteTrack]
    _tracks_built: list[RemoteTrack]
    _negotiable: int
    _events: EventEmitter
    _closed: bool
    _loop: asyncio.AbstractEventLoop | None
    _glib: GLibLoop | None
    _pipeline: Gst.Pipeline | None
    _remote_description: SessionDescription | None

    async def _ensure_started(self) -> None:
        raise NotImplementedError

    def _require_webrtc(self) -> Gst.Element:
        raise NotImplementedError

    def _require_glib(self) -> GLibLoop:
        raise NotImplementedError

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        raise NotImplementedError

    @property
    def transceivers(self) -> list[Transceiver]:
        """The transceivers added locally (by :meth:`add_track` or :meth:`add_transceiver`)."""
        return list(self._transceivers)

    @property
    def tracks(self) -> list[RemoteTrack]:
        """The remote tracks received so far."""
        return list(self._tracks)

    async def add_track(self, source: MediaSource) -> RtpSender:
        """Send ``source`` (a :class:`VideoSource` or :class:`AudioSource`) to the peer.

        On a connected peer this fires ``negotiationneeded``: renegotiate to bring it up.
        """
        if not isinstance(source, MediaSource):
            raise TypeError("add_track needs a VideoSource or AudioSource")
        if any(sender.source is source for sender in self._senders if sender.active):
            raise InvalidStateError("this source is already being sent")
        await self._ensure_started()
        webrtc, pipeline = self._require_webrtc(), self._pipeline
        glib = self._require_glib()

        def build() -> RtpSender:
            bin_, pad = build_sender_bin(pipeline, webrtc, source)
            gst_transceiver = pad.get_property("transceiver")
            transceiver = Transceiver(source.kind, gst_transceiver, "sendrecv")
            gst_transceiver.set_property("direction", DIRECTIONS["sendrecv"])
            sender = RtpSender(source, bin_, pad, transceiver, glib)
            transceiver.sender = sender
            return sender

        self._negotiable += 1  # before webrtcbin can announce negotiation-needed
        try:
            sender = await glib.call(build)
        except BaseException:
            self._negotiable -= 1
            raise
        self._senders.append(sender)
        self._transceivers.append(sender.transceiver)
        return sender

    async def add_transceiver(self, kind: str, direction: str = "sendrecv") -> Transceiver:
        """Add an m-line of ``kind`` (``audio``/``video``) in ``direction`` without a source.

        ``recvonly`` asks the remote peer to send us that kind of media.
        """
        if kind not in ("audio", "video"):
            raise ValueError("kind must be 'audio' or 'video'")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        await self._ensure_started()
        webrtc = self._require_webrtc()
        caps_text = ";".join(
            codec.rtp_caps(codec.default_payload_type)
            for codec in CODECS.values()
            if codec.kind == kind
        )

        def add() -> Transceiver:
            caps = Gst.Caps.from_string(caps_text)
            gst_transceiver = webrtc.emit("add-transceiver", DIRECTIONS[direction], caps)
            if gst_transceiver is None:
                raise WebRTCError(f"webrtcbin refused a {kind} transceiver")
            return Transceiver(kind, gst_transceiver, direction)

        self._negotiable += 1
        try:
            transceiver = await self._require_glib().call(add)
        except BaseException:
            self._negotiable -= 1
            raise
        self._transceivers.append(transceiver)
        return transceiver

    async def remove_track(self, sender: RtpSender) -> None:
        """Stop sending ``sender``'s source; its m-line becomes ``recvonly``.

        Fires ``negotiationneeded``: renegotiate to tell the peer.
        """
        if sender not in self._senders:
            raise ValueError("this sender does not belong to this peer connection")
        if not sender.active:
            return
        await self._ensure_started()
        webrtc, pipeline = self._require_webrtc(), self._pipeline

        def remove() -> None:
            sender._remove(pipeline, webrtc)
            sender.transceiver._set_direction("recvonly")

        await self._require_glib().call(remove)
        self._events.emit("negotiationneeded")

    async def _after_remote_description(self, description: SessionDescription) -> None:
        """Fit our senders to the remote offer's payload types; end tracks it stopped."""
        glib = self._require_glib()
        if self._transceivers:
            await glib.call(self._refresh_transceivers)
        if description.type == "offer":
            plan = self._payload_types_for_offer(description)

            def apply_plan() -> None:
                for sender, payload_type in plan:
                    sender._set_payload_type(payload_type)

            if plan:
                await glib.call(apply_plan)
        stopped = {
            section.mid
            for section in description.media
            if section.mid is not None and not section.sends
        }
        for track in self._tracks:
            if track.mid is not None and track.mid in stopped:
                track._end()

    def _payload_types_for_offer(self, offer: SessionDescription) -> list[tuple[RtpSender, int]]:
        sections = offer.media
        claimed: set[str | None] = {t.mid for t in self._transceivers if t.mid is not None}
        plan = []
        for sender in self._senders:
            if not sender.active:
                continue
            mid = sender.transceiver.mid
            if mid is not None:
                candidates = [s for s in sections if s.mid == mid]
            else:
                candidates = [
                    s
                    for s in sections
                    if s.kind == sender.kind and s.receives and s.mid not in claimed
                ]
            for section in candidates[:1]:
                claimed.add(section.mid)
                types = payload_types_for(offer.sdp, section.index, sender.codec)
                if types:
                    plan.append((sender, types[0]))
                else:
                    log.warning(
                        "the remote offer has no %s for m-line %d", sender.codec.name, section.index
                    )
        return plan

    def _refresh_transceivers(self) -> None:
        """GLib thread: read the mids webrtcbin assigned."""
        for transceiver in self._transceivers:
            transceiver._refresh()

    def _gst_on_pad_added(self, _webrtc: Gst.Element, pad: Gst.Pad) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        loop, glib, pipeline = self._loop, self._glib, self._pipeline
        if loop is None or glib is None or pipeline is None:
            return
        caps = pad.get_current_caps() or pad.query_caps(None)
        structure = caps.get_structure(0)
        kind = structure.get_string("media") or "video"
        encoding = structure.get_string("encoding-name") or ""
        trace(f"pad-added {pad.get_name()} {kind} {encoding}")
        transceiver = pad.get_property("transceiver")
        mid = transceiver.get_property("mid") if transceiver is not None else None
        del transceiver
        track = RemoteTrack(kind, encoding, mid or pad.get_name(), loop, glib)
        track.mid = mid
        track._build(pipeline, pad)  # linked before returning: no data is lost
        self._tracks_built.append(track)
        self._post(self._on_remote_track, track)

    def _on_remote_track(self, track: RemoteTrack) -> None:
        if self._closed:
            return
        self._tracks.append(track)
        self._events.emit("track", track)
