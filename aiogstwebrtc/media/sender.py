"""Sending: a source's encoding bin linked to a webrtcbin sink pad, and its transceiver."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ClosedError, InvalidStateError
from ..events import EventEmitter
from ..gst import GLib, Gst, GstWebRTC
from .codecs import Codec
from .sources import MediaSource

if TYPE_CHECKING:
    from ..glibloop import GLibLoop

__all__ = ["DIRECTIONS", "RtpSender", "Transceiver", "build_sender_bin"]

log = logging.getLogger(__name__)

DIRECTIONS = {
    "sendrecv": GstWebRTC.WebRTCRTPTransceiverDirection.SENDRECV,
    "sendonly": GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY,
    "recvonly": GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY,
    "inactive": GstWebRTC.WebRTCRTPTransceiverDirection.INACTIVE,
}


def _sink_pad_name(webrtc: Gst.Element, mline: int | None) -> str:
    """The webrtcbin sink pad to ask for: that of the transceiver webrtcbin already made
    for the pending remote offer's m-line ``mline``, if it made one, else a new one.

    webrtcbin 1.26 makes the transceivers of a remote offer when the offer is set (1.22
    only when it answers): a track added then must take that transceiver's pad, or the
    answer leaves the m-line to a transceiver without media.
    """
    if mline is not None:
        for index in range(64):
            transceiver = webrtc.emit("get-transceiver", index)
            if transceiver is None:
                break
            if transceiver.get_property("mlineindex") == mline:
                if webrtc.get_static_pad(f"sink_{mline}") is None:
                    # It was made receive-only from the offer: webrtcbin gives a sending
                    # pad only to a transceiver that may send.
                    transceiver.set_property("direction", DIRECTIONS["sendrecv"])
                    return f"sink_{mline}"
    return "sink_%u"


def build_sender_bin(
    pipeline: Gst.Pipeline,
    webrtc: Gst.Element,
    source: MediaSource,
    pt: int | None = None,
    mline: int | None = None,
) -> tuple[Gst.Bin, Gst.Pad]:
    """GLib thread: encode ``source`` and link it to a new webrtcbin sink pad.

    ``pt``: the payload type (default: the codec's), e.g. the one a pending remote offer
    uses for the codec; ``mline``: that offer's m-line the source answers.
    """
    codec = source.codec
    pt = codec.default_payload_type if pt is None else pt
    description = (
        f"{source.encoded_description()} ! {codec.payloader} pt={pt} ! "
        f'capsfilter name=rtpcaps caps="{codec.rtp_caps(pt)}"'
    )
    try:
        # Ghost only our output: a source with dynamic pads (uridecodebin) still has its
        # next element's sink pad unlinked here, and ghosting it would break that link.
        bin_ = Gst.parse_bin_from_description(description, False)
    except GLib.Error as exc:
        raise ValueError(f"invalid source pipeline {source.pipeline!r}: {exc.message}") from None
    bin_.add_pad(Gst.GhostPad.new("src", bin_.get_by_name("rtpcaps").get_static_pad("src")))
    # A non-live source (a file) prerolls asynchronously; handled inside the bin, that does
    # not make the whole running pipeline lose its PLAYING state.
    bin_.set_property("async-handling", True)
    pipeline.add(bin_)
    pad = webrtc.request_pad_simple(_sink_pad_name(webrtc, mline))
    if pad is None or bin_.get_static_pad("src").link(pad) != Gst.PadLinkReturn.OK:
        pipeline.remove(bin_)
        if pad is not None:
            webrtc.release_request_pad(pad)
        raise ValueError("webrtcbin refused a new sending pad")
    try:
        source._attach(bin_)
    except BaseException:
        bin_.get_static_pad("src").unlink(pad)
        webrtc.release_request_pad(pad)
        pipeline.remove(bin_)
        raise
    bin_.sync_state_with_parent()
    return bin_, pad


class Transceiver:
    """A webrtcbin transceiver: one m-line, its kind, direction and mid."""

    def __init__(self, kind: str, gst_transceiver: Any, direction: str) -> None:
        self.kind = kind
        self._gst = gst_transceiver
        self._direction = direction
        self.mid: str | None = None
        self.sender: RtpSender | None = None

    @property
    def direction(self) -> str:
        """The direction we asked for: sendrecv, sendonly, recvonly or inactive."""
        return self._direction

    def _set_direction(self, direction: str) -> None:
        """GLib thread."""
        if self._gst is not None:
            self._gst.set_property("direction", DIRECTIONS[direction])
        self._direction = direction

    def _refresh(self) -> None:
        """GLib thread: read the mid webrtcbin assigned."""
        if self._gst is not None:
            self.mid = self._gst.get_property("mid")

    def _release(self) -> None:
        """GLib thread, once the pipeline is NULL: let go of webrtcbin's transceiver.

        The transceiver owns the DTLS and ICE transports and, through them, libnice's
        sockets: a Python reference left here would keep them open until the garbage
        collector happened to free this object.
        """
        self._gst = None
        self.sender = None

    def __repr__(self) -> str:
        return f"<Transceiver {self.kind} mid={self.mid} {self._direction}>"


class _SenderEvents(EventEmitter):
    _event_names = frozenset({"ended"})


class RtpSender:
    """What :meth:`PeerConnection.add_track` returns: one source being sent.

    Event ``ended(reason)``: the source ended for every connection sending it (a
    :class:`Broadcast` whose camera or publisher is gone); nothing more will be sent. The
    peer connection stays up; closing it or removing the track is the application's call.
    """

    def __init__(
        self,
        source: MediaSource,
        bin_: Gst.Bin,
        pad: Gst.Pad,
        transceiver: Transceiver,
        glib: GLibLoop,
    ) -> None:
        self.source = source
        self.transceiver = transceiver
        self._bin: Gst.Bin | None = bin_
        self._pad: Gst.Pad | None = pad
        self._glib = glib
        self.payload_type = source.codec.default_payload_type
        self._exact_payload_type: int | None = None  # set for a pending offer's m-line
        self._events = _SenderEvents()
        self._end_reason: str | None = None
        self._unwatch_source: Callable[[], None] = source._watch_end(self._source_ended)

    def on(self, event: str, handler: Any = None) -> Any:
        """Register ``handler`` for ``ended`` (``@sender.on("ended")`` works too)."""
        return self._events.on(event, handler)

    def off(self, event: str, handler: Any) -> None:
        """Remove ``handler`` from ``event``."""
        self._events.off(event, handler)

    @property
    def ended(self) -> bool:
        """True once the source ended for good (see the ``ended`` event)."""
        return self._end_reason is not None

    @property
    def end_reason(self) -> str | None:
        """Why the source ended, once it did."""
        return self._end_reason

    def _source_ended(self, reason: str) -> None:
        """Asyncio thread: the source ended for every sender."""
        if self._end_reason is not None:
            return
        self._end_reason = reason
        log.info("%s ended: %s", self, reason)
        self._events.emit("ended", reason)

    @property
    def kind(self) -> str:
        """``audio`` or ``video``."""
        return self.source.kind

    @property
    def codec(self) -> Codec:
        """The codec being sent."""
        return self.source.codec

    @property
    def active(self) -> bool:
        """False once removed from its peer connection."""
        return self._bin is not None

    async def set_bitrate(self, bitrate: int) -> None:
        """Change the encoder's target bitrate (bits per second) while sending.

        A passed-through source (:meth:`VideoSource.encoded`, :meth:`VideoSource.from_rtsp`)
        has no encoder: :class:`TypeError`.
        """
        if self.source.passthrough:
            raise TypeError(
                f"{self.source!r} is passed through without an encoder: its bitrate is the "
                "source's own (set it at the camera or encoder that produces it)"
            )
        if not isinstance(bitrate, int) or bitrate <= 0:
            raise ValueError("bitrate must be a positive number of bits per second")
        bin_ = self._bin
        if bin_ is None:
            raise ClosedError("this sender was removed")
        codec = self.codec

        def apply() -> None:
            encoder = bin_.get_by_name("encoder")
            if encoder is None:
                raise InvalidStateError(
                    f"{self.source!r} is not encoded by this sender: no bitrate to set here"
                )
            encoder.set_property(codec.bitrate_property, bitrate // codec.bitrate_scale)

        await self._glib.call(apply)
        self.source.bitrate = bitrate

    def _set_payload_type(self, payload_type: int, exact: bool = False) -> None:
        """GLib thread: send with the payload type the remote offer chose.

        Also the transceiver's codec preferences: webrtcbin's answer matches a transceiver
        to an offered m-line by caps (from the preferences, else the pad's current caps,
        payload type included), and the new caps on the pad reach it only later, from the
        streaming thread: without preferences it found no transceiver for an offer made
        after our add_track and answered with a new one, ``a=inactive``.
        """
        bin_ = self._bin
        if bin_ is None:
            return
        if exact:
            self._exact_payload_type = payload_type
        exact = exact or self._exact_payload_type == payload_type
        # Without the payload type: the pad's caps may still carry the old one when the
        # answer is made, and webrtcbin rejects the m-line if they disagree.
        # ``exact`` (a pad that never carried another payload type): with it, so that the
        # answer uses the payload type we send, not the offer's first of the codec.
        preferences = Gst.Caps.from_string(self.codec.rtp_caps(payload_type if exact else None))
        self.transceiver._gst.set_property("codec-preferences", preferences)
        if payload_type == self.payload_type:
            return
        bin_.get_by_name("payloader").set_property("pt", payload_type)
        caps = Gst.Caps.from_string(self.codec.rtp_caps(payload_type))
        bin_.get_by_name("rtpcaps").set_property("caps", caps)
        self.payload_type = payload_type
        log.debug("%s sender now uses payload type %d", self.codec.name, payload_type)

    def _release(self) -> None:
        """GLib thread, once the pipeline is NULL: drop the bin and webrtcbin's sink pad.

        The pad holds webrtcbin's transceiver (and so its transports and sockets). Its
        source was detached before the pipeline stopped (:meth:`_detach_source`).
        """
        self._bin = self._pad = None

    def _detach_source(self) -> None:
        """GLib thread: tell the source this sender stops (before the pipeline stops)."""
        self._unwatch_source()
        self.source._detach(self._bin)

    def _remove(self, pipeline: Gst.Pipeline, webrtc: Gst.Element) -> None:
        """GLib thread: stop sending, take the bin out and give webrtcbin its sink pad back.

        The transceiver stays (its m-line is kept, ``recvonly``); each add/remove cycle
        leaves webrtcbin with the sink pads it had before.
        """
        self._detach_source()
        bin_, pad = self._bin, self._pad
        self._bin = self._pad = None
        if bin_ is None:
            return
        src = bin_.get_static_pad("src")
        if pad is not None and src is not None:
            src.unlink(pad)
        bin_.set_state(Gst.State.NULL)
        pipeline.remove(bin_)
        if pad is not None and pad.get_parent() is webrtc:
            webrtc.release_request_pad(pad)

    def __repr__(self) -> str:
        return f"<RtpSender {self.kind} {self.codec.name} pt={self.payload_type}>"
