"""The media part of :class:`~aiogstwebrtc.PeerConnection`: tracks, transceivers, remote tracks.

:class:`PeerMedia` works on the :class:`~aiogstwebrtc.pipeline.PeerPipeline` it is given;
the peer connection starts it before calling in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..errors import InvalidStateError, WebRTCError
from ..events import EventEmitter
from ..glibloop import post
from ..gst import Gst
from ..sdp import MediaSection, SessionDescription
from ..tracing import trace
from .caps_wait import SENDER_CAPS_WAIT, wait_for_caps
from .codecs import CODECS, encodings_in, payload_types_for
from .receiver import RemoteTrack, discard_pad
from .sender import DIRECTIONS, RtpSender, Transceiver, build_sender_bin
from .sources import MediaSource

if TYPE_CHECKING:
    from ..pipeline import PeerPipeline

__all__ = ["PeerMedia"]

log = logging.getLogger(__name__)


class PeerMedia:
    """``add_track``, ``add_transceiver``, ``remove_track`` and the ``track`` event.

    A :class:`~aiogstwebrtc.pipeline.PipelinePart`: its tracks are detached and its senders
    and transceivers released at teardown.
    """

    def __init__(self, pipeline: PeerPipeline, events: EventEmitter) -> None:
        """The media of the peer connection running ``pipeline``, announced on ``events``."""
        self._pipeline = pipeline
        self._events = events
        self._senders: list[RtpSender] = []
        self._transceivers: list[Transceiver] = []
        self._tracks: list[RemoteTrack] = []
        self._tracks_built: list[RemoteTrack] = []  # appended on GStreamer threads
        self.negotiable = 0  # m-lines added here: negotiation-needed means something

    @property
    def transceivers(self) -> list[Transceiver]:
        """The transceivers added locally (by :meth:`add_track` or :meth:`add_transceiver`)."""
        return list(self._transceivers)

    @property
    def tracks(self) -> list[RemoteTrack]:
        """The remote tracks received so far."""
        return list(self._tracks)

    @property
    def senders(self) -> list[RtpSender]:
        """Every sender :meth:`add_track` made, in order; a removed one stays (inactive)."""
        return list(self._senders)

    # --- checks, before the peer connection starts -------------------------------------------

    def check_source(self, source: MediaSource) -> None:
        """``TypeError`` or :class:`InvalidStateError` unless :meth:`add_track` can send it."""
        if not isinstance(source, MediaSource):
            raise TypeError("add_track needs a VideoSource or AudioSource")
        if any(sender.source is source for sender in self._senders if sender.active):
            raise InvalidStateError("this source is already being sent")

    @staticmethod
    def check_transceiver(kind: str, direction: str) -> None:
        """``ValueError`` unless :meth:`add_transceiver` takes ``kind`` and ``direction``."""
        if kind not in ("audio", "video"):
            raise ValueError("kind must be 'audio' or 'video'")
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")

    def is_sending(self, sender: RtpSender) -> bool:
        """Whether ``sender`` still sends; ``ValueError`` if it is not this peer's."""
        if sender not in self._senders:
            raise ValueError("this sender does not belong to this peer connection")
        return sender.active

    # --- on the started pipeline -------------------------------------------------------------

    async def add_track(
        self, source: MediaSource, pending_offer: SessionDescription | None = None
    ) -> RtpSender:
        """Send ``source`` (checked by :meth:`check_source`) to the peer.

        ``pending_offer``: the remote offer we are about to answer, if any; the track is
        then sent from its first packet with the payload type that offer uses for its
        codec (webrtcbin matches it to the offer's m-line by that).
        """
        webrtc, pipeline = self._pipeline.require_webrtc(), self._pipeline.pipeline
        glib = self._pipeline.require_glib()
        pt, mline = self._offered_slot(pending_offer, source) if pending_offer else (None, None)

        def build() -> RtpSender:
            bin_, pad = build_sender_bin(pipeline, webrtc, source, pt, mline)
            gst_transceiver = pad.get_property("transceiver")
            transceiver = Transceiver(source.kind, gst_transceiver, "sendrecv")
            gst_transceiver.set_property("direction", DIRECTIONS["sendrecv"])
            sender = RtpSender(source, bin_, pad, transceiver, glib)
            transceiver.sender = sender
            if pt is not None:
                sender.payload_type = pt
                sender._set_payload_type(pt, exact=True)  # and the codec preferences
            return sender

        self.negotiable += 1  # before webrtcbin can announce negotiation-needed
        try:
            sender = await glib.call(build)
        except BaseException:
            self.negotiable -= 1
            raise
        self._senders.append(sender)
        self._transceivers.append(sender.transceiver)
        return sender

    async def wait_for_sender_caps(self, timeout: float = SENDER_CAPS_WAIT) -> None:
        """Before an offer or answer: until webrtcbin has every active sender's caps
        (bounded by ``timeout``; see :mod:`.caps_wait`)."""
        pads = [s._pad for s in self._senders if s._pad is not None]
        if pads:
            await wait_for_caps(self._pipeline.require_glib(), pads, timeout)

    async def add_transceiver(self, kind: str, direction: str) -> Transceiver:
        """Add an m-line of ``kind`` in ``direction`` (checked by :meth:`check_transceiver`)."""
        webrtc = self._pipeline.require_webrtc()
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

        self.negotiable += 1
        try:
            transceiver: Transceiver = await self._pipeline.call(add)
        except BaseException:
            self.negotiable -= 1
            raise
        self._transceivers.append(transceiver)
        return transceiver

    async def remove_track(self, sender: RtpSender) -> None:
        """Stop sending ``sender``'s source; its m-line becomes ``recvonly``."""
        webrtc, pipeline = self._pipeline.require_webrtc(), self._pipeline.pipeline

        def remove() -> None:
            sender._remove(pipeline, webrtc)
            sender.transceiver._set_direction("recvonly")

        await self._pipeline.call(remove)
        self._events.emit("negotiationneeded")

    async def refresh_transceivers(self) -> None:
        """After a description is applied: read the mids webrtcbin assigned."""
        if self._transceivers:
            await self._pipeline.call(self._refresh_transceivers)

    async def after_remote_description(self, description: SessionDescription) -> None:
        """Fit our senders to the remote offer's payload types; end tracks it stopped."""
        glib = self._pipeline.require_glib()
        if self._transceivers:
            await glib.call(self._refresh_transceivers)
        if description.type == "offer":
            await self.fit_to_offer(description)
        stopped = {
            section.mid
            for section in description.media
            if section.mid is not None and not section.sends
        }
        for track in self._tracks:
            if track.mid is not None and track.mid in stopped:
                track._end()

    def _offered_slot(
        self, offer: SessionDescription, source: MediaSource
    ) -> tuple[int | None, int | None]:
        """The payload type ``offer`` uses for ``source``'s codec and the index of its m-line:
        the first of its kind that accepts media and that no sender of ours already takes."""
        claimed = {section.mid for _sender, section in self._sections_of_senders(offer)}
        for section in offer.media:
            if section.kind == source.kind and section.receives and section.mid not in claimed:
                types = payload_types_for(offer.sdp, section.index, source.codec)
                return (types[0] if types else None), section.index
        return None, None

    async def fit_to_offer(self, offer: SessionDescription) -> None:
        """Give each sender the payload type the remote ``offer`` uses for its codec.

        After the offer is applied, and again right before the answer is made (for tracks
        added in between).
        """
        plan = self._payload_types_for_offer(offer)

        def apply_plan() -> None:
            for sender, payload_type in plan:
                sender._set_payload_type(payload_type)

        if plan:
            await self._pipeline.require_glib().call(apply_plan)

    def _sections_of_senders(
        self, description: SessionDescription
    ) -> list[tuple[RtpSender, MediaSection]]:
        """Each active sender with the m-section of ``description`` it sends on.

        By mid once webrtcbin assigned one; before that (a remote offer), the first section
        of the sender's kind that accepts media and no other sender claimed.
        """
        sections = description.media
        claimed: set[str | None] = {t.mid for t in self._transceivers if t.mid is not None}
        pairs = []
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
                pairs.append((sender, section))
        return pairs

    def check_codecs(self, description: SessionDescription) -> str | None:
        """Why ``description`` cannot carry one of our senders' codecs, or None if it can.

        A remote offer with no payload type for a sender's codec on the section it would
        send on, or an answer that takes none (or rejects the section), names both sides'
        codecs.
        """
        problems = []
        for sender, section in self._sections_of_senders(description):
            if section.rejected and description.type == "offer":
                continue  # a section the offerer turned off sends nothing: not a codec matter
            theirs = encodings_in(description.sdp, section.index)
            if not section.rejected and payload_types_for(
                description.sdp, section.index, sender.codec
            ):
                continue
            what = "is rejected" if section.rejected else "takes"
            problems.append(
                f"the remote {description.type}'s {section.kind} m-line {section.index} "
                f"{what} {', '.join(theirs) or 'no codec'}, we send {sender.codec.encoding_name}"
            )
        return "; ".join(problems) or None

    def _payload_types_for_offer(self, offer: SessionDescription) -> list[tuple[RtpSender, int]]:
        plan = []
        for sender, section in self._sections_of_senders(offer):
            types = payload_types_for(offer.sdp, section.index, sender.codec)
            if types:
                plan.append((sender, types[0]))
        return plan

    def _refresh_transceivers(self) -> None:
        """GLib thread: read the mids webrtcbin assigned."""
        for transceiver in self._transceivers:
            transceiver._refresh()

    def end_tracks(self, *, all_built: bool = False) -> None:
        """asyncio thread: end the remote tracks (``all_built``: also those not yet posted)."""
        for track in self._tracks_built if all_built else self._tracks:
            track._end()

    # --- GStreamer threads -> asyncio --------------------------------------------------------

    def track_from_pad(self, pad: Gst.Pad) -> RemoteTrack | None:
        """Streaming thread: a remote track for webrtcbin's new source pad, linked at once."""
        if pad.get_direction() != Gst.PadDirection.SRC:
            return None
        loop, glib, pipeline = self._pipeline.loop, self._pipeline.glib, self._pipeline.pipeline
        if loop is None or glib is None or pipeline is None:
            return None
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
        try:
            track._build(pipeline, pad)  # linked before returning: no data is lost
        except WebRTCError as exc:  # not raised into GStreamer's thread: to the user
            discard_pad(pipeline, pad)
            post(loop, self._on_track_failed, exc)
            return None
        self._tracks_built.append(track)
        return track

    def _on_track_failed(self, error: WebRTCError) -> None:
        """asyncio thread: a remote track could not be received: the ``error`` event."""
        if self._pipeline.closed:
            return
        log.error("%s", error)
        self._events.emit("error", error)

    def on_remote_track(self, track: RemoteTrack) -> None:
        """asyncio thread: announce ``track``."""
        if self._pipeline.closed:
            return
        self._tracks.append(track)
        self._events.emit("track", track)

    # --- PipelinePart (GLib thread) ----------------------------------------------------------

    def detach(self) -> None:
        """Detach the remote tracks and the senders' sources from GStreamer."""
        for track in self._tracks_built:
            track._detach()
        for sender in self._senders:
            sender._detach_source()

    def release(self) -> None:
        """Drop the senders' and transceivers' references to GStreamer objects."""
        for sender in self._senders:
            sender._release()
        for transceiver in self._transceivers:
            transceiver._release()
