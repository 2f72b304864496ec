"""A received track as a :class:`~aiogstwebrtc.media.Broadcast` source: no decode, no encode.

``Broadcast(video=RelayedVideoSource(track))`` re-sends what a remote peer sends us (a WHIP
publisher, say) to any number of viewers. A branch of the track's encoded (depayloaded)
stream ends in a ``fakesink`` in the receiving peer's pipeline; its pad probe hands each
buffer, retimed to the broadcast's running time, to an ``appsrc`` at the head of the
broadcast's chain. Only buffers cross between the pipelines. A viewer's key-unit request
(its PLI, or joining) goes upstream through the track to the remote sender as a PLI.

Threads: the branch is built on the GLib thread; buffers are handed over on the receiving
peer's streaming thread under a lock, which :meth:`_Relay.attach` and ``detach`` take too.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ..errors import ClosedError, WebRTCError
from ..gst import Gst, GstVideo
from .retime import Retimer
from .sources import _PASSTHROUGH_PARSERS, AudioSource, EncodedVideoSource

if TYPE_CHECKING:
    from .receiver import RemoteTrack

__all__ = ["RelayedAudioSource", "RelayedVideoSource"]

log = logging.getLogger(__name__)

_APPSRC = (
    "appsrc name=relay is-live=true format=time block=false max-buffers=60 max-bytes=0 "
    "leaky-type=downstream"
)


class _Relay:
    """The buffers of one remote track, handed to the appsrc of whoever attached."""

    def __init__(self, track: RemoteTrack) -> None:
        if track.codec is None:
            raise WebRTCError(f"cannot relay {track.encoding_name}: not a codec we know")
        self.track = track
        self._lock = threading.Lock()
        self._appsrc: Gst.Element | None = None
        self._caps: Gst.Caps | None = None
        self._retimer: Retimer | None = None
        self._branch_sink: Gst.Pad | None = None
        self.relayed = 0

    async def start(self) -> None:
        """Branch the track's encoded stream off to this relay (GLib thread)."""
        track = self.track
        from .receiver import _link_branch

        def link() -> None:
            if track._tee is None or track._pipeline is None:
                raise ClosedError("the track's peer connection is closed")
            branch = _link_branch(
                track._pipeline,
                track._tee,
                "queue leaky=downstream max-size-buffers=60 max-size-bytes=0 max-size-time=0 ! "
                "fakesink name=out sync=false async=false enable-last-sample=false",
            )
            pad = branch.get_by_name("out").get_static_pad("sink")
            pad.add_probe(Gst.PadProbeType.BUFFER, self._gst_on_buffer)
            pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._gst_on_caps)
            self._branch_sink = branch.get_static_pad("sink")

        await track._glib.call(link)

    def attach(self, appsrc: Gst.Element, pipeline: Gst.Element | None) -> None:
        with self._lock:
            self._appsrc, self._retimer = appsrc, Retimer(pipeline)
            if self._caps is not None:
                appsrc.set_property("caps", self._caps)

    def detach(self) -> None:
        with self._lock:
            self._appsrc = self._retimer = None

    def request_keyframe(self) -> bool:
        """Any thread: a PLI to the remote sender (through the track's depayloader)."""
        pad = self._branch_sink
        if pad is None:
            return False
        event = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
        return bool(pad.push_event(event))

    def _gst_on_caps(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        event = info.get_event()
        if event is not None and event.type == Gst.EventType.CAPS:
            caps = event.parse_caps()
            with self._lock:
                self._caps = caps
                if self._appsrc is not None:
                    self._appsrc.set_property("caps", caps)
        return Gst.PadProbeReturn.OK

    def _gst_on_buffer(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        buffer = info.get_buffer()
        if buffer is None:
            return Gst.PadProbeReturn.OK
        with self._lock:
            appsrc, retimer = self._appsrc, self._retimer
            if appsrc is None or retimer is None:
                return Gst.PadProbeReturn.OK
            copy = retimer.copy(buffer)
            if copy is None:
                return Gst.PadProbeReturn.OK
            appsrc.emit("push-buffer", copy)
            self.relayed += 1
        return Gst.PadProbeReturn.OK


class _RelayedSource:
    """What both relayed kinds do: branch the track off, feed the broadcast's appsrc."""

    _relay: _Relay

    async def start(self) -> None:
        """Branch the track off to this source (before the broadcast starts)."""
        await self._relay.start()

    def _attach(self, bin_: Gst.Bin) -> None:
        self._relay.attach(bin_.get_by_name("relay"), bin_.get_parent())

    def _detach(self, bin_: Gst.Bin | None = None) -> None:
        self._relay.detach()


class RelayedVideoSource(_RelayedSource, EncodedVideoSource):
    """The video a remote peer sends us, re-sent as it is (call :meth:`start` first)."""

    asks_upstream_for_keyframes = True

    def __init__(self, track: RemoteTrack) -> None:
        self._relay = _Relay(track)
        assert track.codec is not None
        super().__init__(_APPSRC, track.codec.name)

    def encoded_description(self) -> str:
        return f"{self.pipeline} ! {_PASSTHROUGH_PARSERS[self.codec.name]}"

    def request_keyframe(self) -> bool:
        return self._relay.request_keyframe()


class RelayedAudioSource(_RelayedSource, AudioSource):
    """The audio (Opus) a remote peer sends us, re-sent as it is (call :meth:`start`)."""

    passthrough = True

    def __init__(self, track: RemoteTrack) -> None:
        self._relay = _Relay(track)
        assert track.codec is not None
        super().__init__(_APPSRC, track.codec.name)

    def encoded_description(self) -> str:
        return f"{self.pipeline} ! audio/x-opus"
