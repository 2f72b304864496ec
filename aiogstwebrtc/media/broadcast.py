"""One capture and one encode shared by any number of peer connections.

A :class:`Broadcast` runs its own GStreamer pipeline: each source is captured and encoded
once and ends in a ``fakesink``, whose pad probe hands every encoded buffer to each
viewer. ``pc.add_track(broadcast.video)`` gives that peer connection an ``appsrc`` in its
own pipeline, followed by its own payloader with the payload type *that* connection
negotiated. Only buffers cross between the two pipelines (shallow copies sharing the
encoded memory, retimed to the viewer's running time): no pad, query or event links them,
so a viewer's pipeline can start, stall or stop without the broadcast ever waiting for it
or being stopped by it. A viewer's appsrc is leaky: one that stalls drops its own oldest.
Every viewer is handed the same buffer (a reference, not a copy): its appsrc's pad offset
turns the broadcast's timestamps into the viewer's running time, so the per-viewer work on
the broadcast's streaming thread is one push.
(Before: ``tee ! queue ! proxysink`` per viewer; a push reaching a viewer's ``proxysrc``
before it ran answered FLUSHING, which stopped that branch's queue for good and, through
the tee, once the whole broadcast: ~1 join in 10 lost its frames.)

Keyframes: a joining viewer, and a viewer's PLI/FIR (GStreamer's upstream force-key-unit
event, caught at the viewer's ``appsrc``), ask the shared encoder for a key unit, at
most once per ``keyframe_interval`` (default 0.5 s) so that joins and lossy viewers cannot
storm it. An already-encoded source has no encoder to ask: its viewers start at its next
keyframe.

Threads: the pipeline is built, changed and stopped on the GLib thread; counters are
updated on GStreamer's streaming threads under a lock; events reach asyncio through
:func:`~aiogstwebrtc.glibloop.post`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .. import exits
from ..errors import ClosedError, InvalidStateError, OperationTimeoutError, WebRTCError
from ..events import EventEmitter
from ..glibloop import GLibLoop, acquire_glib_loop, post
from ..gst import GLib, Gst, GstVideo, GstWebRTC, ensure_init, iterate
from ..threadstate import keep_thread_state
from ..timeouts import wait_for
from .sources import AudioSource, MediaSource, VideoSource

__all__ = ["Broadcast", "BroadcastTrack"]

log = logging.getLogger(__name__)

#: Buffers a viewer's appsrc may hold before its oldest are dropped (about 1 s of video).
VIEWER_QUEUE_BUFFERS = 30
_START_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 5.0


class _BroadcastEvents(EventEmitter):
    _event_names = frozenset({"viewer_joined", "viewer_left", "ended"})


@dataclass
class _Branch:
    """One viewer's share of one track: the ``appsrc`` in the viewer's sender bin.

    Built and removed on the GLib thread; fed on the broadcast's streaming thread under the
    broadcast's lock (so once removed, it is never fed again).
    """

    viewer: str
    appsrc: Gst.Element
    pipeline: Gst.Element | None  # the viewer's pipeline: its clock times the stream
    wants_keyframe: bool  # read and cleared by the viewer's streaming thread only
    offset: int | None = None  # broadcast timestamps -> the viewer's running time
    probes: list[tuple[Gst.Pad, int]] = field(default_factory=list)
    keyframe_probe: int = 0  # drops what comes before the first key unit, then removed
    webrtc: Gst.Element | None = None  # the viewer's webrtcbin, watched for "connected"
    connected_handler: int = 0
    caps: Gst.Caps | None = None
    bytes_out: int = 0
    dropped: int = 0


@dataclass
class _Chain:
    """One source's capture + encode inside the broadcast pipeline, ending in a fakesink."""

    bin: Gst.Bin
    encoder: Gst.Element | None
    caps: Gst.Caps | None = None
    branches: dict[int, _Branch] = field(default_factory=dict)  # id(viewer's sender bin)


def _gst_start_timing(branch: _Branch, stamp: int) -> bool:
    """The broadcast's streaming thread, a viewer's first buffer (``stamp``, broadcast
    time): set its appsrc's pad offset so that buffer plays at the viewer's running time
    now; False while the viewer's pipeline has no clock yet (not PLAYING)."""
    pipeline = branch.pipeline
    clock = pipeline.get_clock() if pipeline is not None else None
    if pipeline is None or clock is None:
        return False
    branch.offset = int(clock.get_time() - pipeline.get_base_time()) - stamp
    branch.appsrc.get_static_pad("src").set_offset(branch.offset)
    return True


class BroadcastTrack(MediaSource):
    """One kind (video or audio) of a :class:`Broadcast`: pass it to ``pc.add_track``.

    The same track can be added to any number of peer connections; each gets the one
    encoded stream, payloaded for its own negotiated payload type.
    """

    def __init__(self, broadcast: Broadcast, source: MediaSource) -> None:
        # Not MediaSource.__init__: everything comes from the (already checked) source.
        self.kind = source.kind
        self.codec = source.codec
        self.pipeline = source.pipeline
        self.bitrate = source.bitrate
        self.source = source
        self.broadcast = broadcast

    def raw_description(self) -> str:
        raise InvalidStateError("a broadcast track is encoded once, by its broadcast")

    def encoded_description(self) -> str:
        """An ``appsrc`` that the broadcast feeds with its encoded stream, for one viewer.

        Live and leaky: it holds at most :data:`VIEWER_QUEUE_BUFFERS` buffers and drops
        its oldest beyond that, so a viewer that does not take its media (DTLS not up yet,
        a stalled network) never makes the broadcast wait.
        """
        return (
            "appsrc name=broadcast is-live=true format=time block=false "
            f"max-buffers={VIEWER_QUEUE_BUFFERS} max-bytes=0 leaky-type=downstream"
        )

    def _attach(self, bin_: Gst.Bin) -> None:
        """GLib thread, a sender bin was built for it: start feeding its appsrc."""
        self.broadcast._join(self, bin_)

    def _detach(self, bin_: Gst.Bin | None = None) -> None:
        """GLib thread, the sender goes away: stop feeding it (idempotent)."""
        if bin_ is not None:
            self.broadcast._leave(self, bin_)

    def _watch_end(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """``callback(reason)`` on the asyncio thread when the broadcast ends by itself."""
        return self.broadcast._watch_end(callback)

    def __repr__(self) -> str:
        return f"<BroadcastTrack {self.kind} {self.codec.name} of {self.broadcast!r}>"


class Broadcast:
    """Capture and encode ``video`` and/or ``audio`` once, for any number of viewers.

    ``async with Broadcast(video=VideoSource(...)) as broadcast:`` (or ``await start()``
    and ``await close()``), then ``await pc.add_track(broadcast.video)`` on each viewer's
    peer connection. Events: ``viewer_joined(viewer_id)``, ``viewer_left(viewer_id)``,
    ``ended(reason)`` when a source ends or fails (every viewer's stream stops then).
    """

    _names = itertools.count(1)

    def __init__(
        self,
        video: VideoSource | None = None,
        audio: AudioSource | None = None,
        *,
        keyframe_interval: float = 0.5,
    ) -> None:
        if video is None and audio is None:
            raise ValueError("a broadcast needs a video or an audio source")
        if video is not None and (not isinstance(video, VideoSource)):
            raise TypeError("video must be a VideoSource")
        if audio is not None and (not isinstance(audio, AudioSource)):
            raise TypeError("audio must be an AudioSource")
        if not isinstance(keyframe_interval, (int, float)) or keyframe_interval < 0:
            raise ValueError("keyframe_interval must be a number of seconds >= 0")
        self.name = f"broadcast{next(self._names)}"
        self.video = BroadcastTrack(self, video) if video is not None else None
        self.audio = BroadcastTrack(self, audio) if audio is not None else None
        self.keyframe_interval = float(keyframe_interval)
        self._events = _BroadcastEvents()
        self._lock = threading.Lock()  # chains' branches and the counters below
        self._end_watchers: dict[object, Callable[[str], None]] = {}  # senders of its tracks
        self._chains: dict[str, _Chain] = {}
        self._viewers: dict[str, int] = {}  # viewer id -> branches it holds
        self._frames_in: dict[str, int] = {}
        self._keyframes_forced = 0
        self._last_keyframe_request = -float("inf")
        self._keyframe_deferred = False
        self._pipeline: Gst.Pipeline | None = None
        self._glib: GLibLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closed = False
        self._end_reason: str | None = None
        self._flowing = asyncio.Event()  # every chain has its caps, or the broadcast ended
        self._ended = asyncio.Event()

    # --- lifecycle (asyncio thread) -----------------------------------------------------------

    async def start(self) -> None:
        """Start capturing and encoding (idempotent)."""
        if self._closed:
            raise ClosedError("this broadcast is closed")
        if self._started:
            return
        loop = asyncio.get_running_loop()
        ensure_init()
        self._loop = loop
        self._glib = acquire_glib_loop(loop)
        self._started = True
        exits.add(self)  # stopped at interpreter exit if nobody closes it
        try:
            await wait_for(self._glib.call(self._build), _START_TIMEOUT)
            await self._wait_flowing()
        except BaseException:
            await self.close()
            raise

    async def _wait_flowing(self) -> None:
        """Until every source's encoded stream has its caps (what a viewer's offer needs)."""
        try:
            await wait_for(self._flowing.wait(), _START_TIMEOUT)
        except TimeoutError:
            raise OperationTimeoutError(
                f"{self.name}: no encoded stream within {_START_TIMEOUT:.0f} s",
                operation="Broadcast.start",
                state="starting",
            ) from None
        if self._end_reason is not None:
            raise WebRTCError(f"{self.name} did not start: {self._end_reason}")

    async def close(self) -> None:
        """Stop the pipeline; every viewer's stream ends (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._ended.set()
        exits.discard(self)
        glib, self._glib = self._glib, None
        if glib is None:
            return
        try:
            await wait_for(glib.call(self._teardown), _CLOSE_TIMEOUT)
        except TimeoutError:
            log.error("%s did not stop within %s s; abandoning it", self.name, _CLOSE_TIMEOUT)
            glib.abandon()
        if glib.release():
            await glib.wait_stopped(1.0)
        self._events.remove_all_listeners()

    async def __aenter__(self) -> Broadcast:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _stop_now(self) -> None:
        """Interpreter exit: stop synchronously, no asyncio involved."""
        self._closed = True
        glib, self._glib = self._glib, None
        if glib is not None:
            try:
                glib.call_sync(self._teardown, timeout=_CLOSE_TIMEOUT)
            except Exception:
                log.exception("stopping %s at exit failed", self.name)

    # --- what users read (asyncio thread) -----------------------------------------------------

    @property
    def viewers(self) -> int:
        """How many peer connections currently receive this broadcast."""
        with self._lock:
            return len(self._viewers)

    @property
    def ended(self) -> bool:
        """True once a source ended or failed (see the ``ended`` event) or it was closed."""
        return self._end_reason is not None or self._closed

    @property
    def end_reason(self) -> str | None:
        """Why the broadcast ended, if it did by itself."""
        return self._end_reason

    async def wait_ended(self) -> str:
        """Wait until a source ends or fails, or the broadcast is closed; return why."""
        await self._ended.wait()
        return self._end_reason or "closed"

    def stats(self) -> dict[str, Any]:
        """``frames_in`` per kind, ``keyframes_forced``, and ``bytes_out`` per viewer id."""
        with self._lock:
            bytes_out: dict[str, int] = {}
            for chain in self._chains.values():
                for branch in chain.branches.values():
                    bytes_out[branch.viewer] = bytes_out.get(branch.viewer, 0) + branch.bytes_out
            return {
                "frames_in": dict(self._frames_in),
                "keyframes_forced": self._keyframes_forced,
                "bytes_out": bytes_out,
                "viewers": len(self._viewers),
            }

    def on(self, event: str, handler: Any = None) -> Any:
        """Register ``handler`` for ``viewer_joined``, ``viewer_left`` or ``ended``."""
        return self._events.on(event, handler)

    def off(self, event: str, handler: Any) -> None:
        """Remove a handler registered with :meth:`on`."""
        self._events.off(event, handler)

    def request_keyframe(self) -> None:
        """Ask the shared video encoder for a key unit (rate-limited; see the module doc)."""
        glib = self._glib
        if glib is not None and not self._closed:
            glib.call_soon(self._request_keyframe)

    def encoders(self) -> list[Gst.Element]:
        """The encoders in this broadcast's pipeline (one per source that is not encoded)."""
        return [chain.encoder for chain in self._chains.values() if chain.encoder is not None]

    def elements(self) -> list[Gst.Element]:
        """Every element of the broadcast's pipeline (for inspection; do not change them)."""
        pipeline = self._pipeline
        if pipeline is None:
            return []
        return iterate(pipeline.iterate_recurse())

    # --- GLib thread --------------------------------------------------------------------------

    def _build(self) -> None:
        pipeline = Gst.Pipeline.new(self.name)
        bus = pipeline.get_bus()
        bus.enable_sync_message_emission()
        bus.connect("sync-message", self._gst_on_bus_message)
        for track in (self.video, self.audio):
            if track is None:
                continue
            description = (
                f"{track.source.encoded_description()} ! "
                "fakesink name=out sync=false async=false enable-last-sample=false"
            )
            try:
                bin_ = Gst.parse_bin_from_description(description, False)
            except GLib.Error as exc:
                raise ValueError(
                    f"invalid {track.kind} source {track.source.pipeline!r}: {exc.message}"
                ) from None
            bin_.set_name(f"{self.name}-{track.kind}")
            pipeline.add(bin_)
            chain = _Chain(bin_, bin_.get_by_name("encoder"))
            sink_pad = bin_.get_by_name("out").get_static_pad("sink")
            sink_pad.add_probe(Gst.PadProbeType.BUFFER, self._gst_fan_out, (track.kind, chain))
            sink_pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._gst_on_caps, chain)
            self._frames_in[track.kind] = 0
            self._chains[track.kind] = chain
            track.source._attach(bin_)
        self._pipeline = pipeline
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise WebRTCError(f"{self.name}: the sources did not start")

    def _teardown(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        with self._lock:
            branches = [(chain, key) for chain in self._chains.values() for key in chain.branches]
        for chain, key in branches:
            self._remove_branch(chain, key)
        for track in (self.video, self.audio):
            built = self._chains.get(track.kind) if track is not None else None
            if track is not None and built is not None:
                track.source._detach(built.bin)
        if pipeline is not None:
            pipeline.get_bus().disable_sync_message_emission()
            pipeline.set_state(Gst.State.NULL)
        with self._lock:
            self._chains.clear()
            self._viewers.clear()

    def _join(self, track: BroadcastTrack, sender_bin: Gst.Bin) -> None:
        """GLib thread: feed ``sender_bin``'s appsrc with ``track``'s encoded stream."""
        chain = self._chains.get(track.kind)
        if self._pipeline is None or chain is None:
            raise ClosedError(f"{self.name} is not running")
        if self._end_reason is not None:
            raise ClosedError(f"{self.name} ended: {self._end_reason}")
        appsrc = sender_bin.get_by_name("broadcast")
        viewer_pipeline = sender_bin.get_parent()
        viewer = (
            viewer_pipeline.get_name() if viewer_pipeline is not None else sender_bin.get_name()
        )
        branch = _Branch(viewer, appsrc, viewer_pipeline, wants_keyframe=track.kind == "video")
        src = appsrc.get_static_pad("src")
        branch.probes.append(
            (src, src.add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._gst_on_upstream_event))
        )
        if branch.wants_keyframe:
            branch.keyframe_probe = src.add_probe(
                Gst.PadProbeType.BUFFER, self._gst_until_keyframe, branch
            )
            branch.probes.append((src, branch.keyframe_probe))
        # What the viewer was sent before its DTLS was up never reached it, the join's key
        # unit included: one more once it connects.
        peer = sender_bin.get_static_pad("src").get_peer()
        webrtc = peer.get_parent_element() if peer is not None else None
        if webrtc is not None:
            branch.webrtc = webrtc
            branch.connected_handler = webrtc.connect(
                "notify::connection-state", self._gst_on_viewer_state
            )
        with self._lock:
            if chain.caps is not None:
                appsrc.set_property("caps", chain.caps)
                branch.caps = chain.caps
            chain.branches[id(sender_bin)] = branch
            joined = self._viewers.get(viewer, 0) == 0
            self._viewers[viewer] = self._viewers.get(viewer, 0) + 1
        self._request_keyframe()
        if joined:
            self._post(self._events.emit, "viewer_joined", viewer)

    def _end_viewers(self) -> None:
        """GLib thread: end of stream to every viewer (their RTP sessions say BYE)."""
        with self._lock:
            appsrcs = [b.appsrc for c in self._chains.values() for b in c.branches.values()]
        for appsrc in appsrcs:
            appsrc.emit("end-of-stream")

    def _leave(self, track: BroadcastTrack, sender_bin: Gst.Bin) -> None:
        """GLib thread: stop feeding ``sender_bin``'s appsrc (idempotent)."""
        chain = self._chains.get(track.kind)
        if chain is not None:
            self._remove_branch(chain, id(sender_bin))

    def _remove_branch(self, chain: _Chain, key: int) -> None:
        with self._lock:  # after this, the streaming thread never feeds the branch again
            branch = chain.branches.pop(key, None)
            if branch is None:
                return
            left = self._viewers.get(branch.viewer, 0) <= 1
            if left:
                self._viewers.pop(branch.viewer, None)
            else:
                self._viewers[branch.viewer] -= 1
        for pad, probe_id in branch.probes:
            pad.remove_probe(probe_id)
        branch.probes.clear()
        if branch.webrtc is not None:
            branch.webrtc.disconnect(branch.connected_handler)
            branch.webrtc = None
        branch.pipeline = None
        if left:
            self._post(self._events.emit, "viewer_left", branch.viewer)

    def _request_keyframe(self) -> bool:
        """Any thread: ask the video encoder for a key unit, at most once per interval.

        A request inside the interval is not lost: one deferred request goes out when the
        interval ends (the asyncio loop times it, the GLib thread sends it).
        """
        chain, track = self._chains.get("video"), self.video
        if chain is None or track is None:
            return False
        if chain.encoder is None and not track.source.asks_upstream_for_keyframes:
            return False
        now = time.monotonic()
        with self._lock:
            wait = self._last_keyframe_request + self.keyframe_interval - now
            if wait > 0:
                if not self._keyframe_deferred:
                    self._keyframe_deferred = True
                    self._post(self._defer_keyframe, wait)
                return False
            self._last_keyframe_request = now
            self._keyframes_forced += 1
        if chain.encoder is None:  # a relayed stream: its sender is asked (a PLI)
            return track.source.request_keyframe()
        event = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
        chain.encoder.send_event(event)
        return True

    def _gst_on_upstream_event(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        """A viewer's streaming thread: its PLI/FIR becomes a rate-limited shared key unit."""
        event = info.get_event()
        if event is not None and GstVideo.video_event_is_force_key_unit(event):
            self._request_keyframe()
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    def _gst_on_viewer_state(self, webrtc: Gst.Element, _spec: object) -> None:
        """A GStreamer thread: a viewer's connection state changed."""
        state = webrtc.get_property("connection-state")
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
            self._request_keyframe()

    def _gst_on_caps(
        self, _pad: Gst.Pad, info: Gst.PadProbeInfo, chain: _Chain
    ) -> Gst.PadProbeReturn:
        """The broadcast's streaming thread: remember the encoded stream's caps."""
        event = info.get_event()
        if event is not None and event.type == Gst.EventType.CAPS:
            with self._lock:
                chain.caps = event.parse_caps()
                flowing = all(c.caps is not None for c in self._chains.values())
            if flowing:
                self._post(self._flowing.set)
        return Gst.PadProbeReturn.OK

    def _gst_fan_out(
        self, _pad: Gst.Pad, info: Gst.PadProbeInfo, data: tuple[str, _Chain]
    ) -> Gst.PadProbeReturn:
        """The broadcast's streaming thread: hand one encoded buffer to every viewer.

        Never blocks: each viewer's appsrc is leaky. A viewer whose pipeline is not running
        yet is skipped until it is. A video viewer gets the delta units before its first key
        unit too, and drops them after its appsrc (:meth:`_gst_on_viewer_buffer`): the
        first one carries the caps to the viewer's webrtcbin at once, so its offer or answer
        has the stream's SSRC and codec parameters even when the next key unit is a
        camera's GOP away.
        """
        keep_thread_state()
        kind, chain = data
        buffer = info.get_buffer()
        if buffer is None:
            return Gst.PadProbeReturn.OK
        stamp = buffer.pts
        if stamp == Gst.CLOCK_TIME_NONE:
            stamp = buffer.dts
        size = buffer.get_size()
        with self._lock:
            self._frames_in[kind] = self._frames_in.get(kind, 0) + 1
            if stamp == Gst.CLOCK_TIME_NONE:
                return Gst.PadProbeReturn.OK  # no time to give it in a viewer's pipeline
            caps = chain.caps
            for branch in chain.branches.values():
                if branch.offset is None and not _gst_start_timing(branch, stamp):
                    continue
                if caps is not None and branch.caps is not caps:
                    branch.appsrc.set_property("caps", caps)
                    branch.caps = caps
                if branch.appsrc.push_buffer(buffer) == Gst.FlowReturn.OK:
                    branch.bytes_out += size
                else:
                    branch.dropped += 1
        return Gst.PadProbeReturn.OK

    def _gst_until_keyframe(
        self, _pad: Gst.Pad, info: Gst.PadProbeInfo, branch: _Branch
    ) -> Gst.PadProbeReturn:
        """A video viewer's streaming thread, after its appsrc: drop what comes before the
        first key unit (it cannot be decoded; the caps and segment before it went on
        already, as sticky events are pushed ahead of a buffer's probes), then have this
        probe removed: the viewer's buffers no longer call into Python."""
        buffer = info.get_buffer()
        if buffer is None or not branch.wants_keyframe:
            return Gst.PadProbeReturn.OK
        if buffer.has_flags(Gst.BufferFlags.DELTA_UNIT):
            return Gst.PadProbeReturn.DROP
        branch.wants_keyframe = False
        glib = self._glib
        if glib is not None:
            glib.call_soon(self._remove_keyframe_probe, branch)
        return Gst.PadProbeReturn.OK

    def _remove_keyframe_probe(self, branch: _Branch) -> None:
        """GLib thread (as :meth:`_remove_branch`, which removes it if this did not)."""
        for pad, probe_id in list(branch.probes):
            if probe_id == branch.keyframe_probe:
                pad.remove_probe(probe_id)
                branch.probes.remove((pad, probe_id))

    def _gst_on_bus_message(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            self._post(self._on_end, f"source failed: {error.message} ({debug})")
        elif message.type == Gst.MessageType.EOS:
            self._post(self._on_end, "source ended")
        elif message.type == Gst.MessageType.WARNING:
            warning, debug = message.parse_warning()
            log.warning("%s: GStreamer warning: %s (%s)", self.name, warning.message, debug)

    def _post(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            post(loop, fn, *args)

    # --- asyncio thread -----------------------------------------------------------------------

    def _defer_keyframe(self, wait: float) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_later(wait, self._send_deferred_keyframe)

    def _send_deferred_keyframe(self) -> None:
        with self._lock:
            self._keyframe_deferred = False
        glib = self._glib
        if glib is not None and not self._closed:
            glib.call_soon(self._request_keyframe)

    def _watch_end(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Any thread: call ``callback(reason)`` (asyncio thread) when the broadcast ends
        by itself; returns what stops watching (any thread, idempotent)."""
        token = object()
        with self._lock:
            self._end_watchers[token] = callback

        def unwatch() -> None:
            with self._lock:
                self._end_watchers.pop(token, None)

        return unwatch

    def _on_end(self, reason: str) -> None:
        if self._end_reason is not None or self._closed:
            return
        self._end_reason = reason
        self._flowing.set()
        self._ended.set()
        log.info("%s ended: %s", self.name, reason)
        glib = self._glib
        if glib is not None:
            glib.call_soon(self._end_viewers)
        self._events.emit("ended", reason)
        with self._lock:
            watchers = list(self._end_watchers.values())
        for callback in watchers:
            try:
                callback(reason)
            except Exception:
                log.exception("%s: a track's end watcher failed", self.name)

    def __repr__(self) -> str:
        kinds = "+".join(t.kind for t in (self.video, self.audio) if t is not None)
        return f"<Broadcast {self.name} {kinds} viewers={self.viewers}>"
