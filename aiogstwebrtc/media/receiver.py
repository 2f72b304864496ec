"""Receiving: a remote track decoded into numpy frames, played to a sink, or recorded."""

from __future__ import annotations

import asyncio
import collections
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ClosedError, WebRTCError
from ..events import EventEmitter
from ..glibloop import post, resolve_future
from ..gst import GLib, Gst, iterate
from ..threadstate import keep_thread_state
from ..timeouts import wait_for
from .codecs import Codec, codec_by_encoding
from .framebuffer import DEFAULT_MAX_BYTES, DEFAULT_MAX_FRAMES, FrameBuffer
from .frames import AudioFrame, VideoFrame, rgb_stride
from .mapped import read_only_array

if TYPE_CHECKING:
    from ..glibloop import GLibLoop

__all__ = ["RemoteTrack", "discard_pad"]

log = logging.getLogger(__name__)

_CONVERT = {"video": "videoconvert", "audio": "audioconvert ! audioresample"}
_TO_PYTHON = {
    "video": "videoconvert ! video/x-raw,format=RGB",
    "audio": "audioconvert ! audioresample ! audio/x-raw,format=S16LE,layout=interleaved",
}


#: Where a stream nobody can use goes (no decoder, or its track failed to build).
_DISCARD = "fakesink sync=false async=false"


def discard_pad(pipeline: Gst.Pipeline, pad: Gst.Pad) -> None:
    """Streaming thread: send ``pad``'s stream to a fakesink, so that it cannot stall RTP.

    For a track that failed to build: the other tracks of the session keep flowing.
    """
    sink = Gst.parse_bin_from_description(_DISCARD, True)
    pipeline.add(sink)
    if pad.link(sink.get_static_pad("sink")) != Gst.PadLinkReturn.OK:
        pipeline.remove(sink)
        log.warning("could not discard the stream of %s", pad.get_name())
        return
    sink.sync_state_with_parent()


class _TrackEvents(EventEmitter):
    _event_names = frozenset({"ended"})


def _request_keyframe(pad: Gst.Pad) -> None:
    """Ask upstream (and through RTCP, the remote sender) for a keyframe."""
    from ..gst import GstVideo

    pad.push_event(GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0))


def _link_branch(container: Gst.Bin, tee: Gst.Element, description: str) -> Gst.Bin:
    """GLib thread: add ``description`` as a new branch of ``tee`` (in ``container``)."""
    try:
        branch = Gst.parse_bin_from_description(description, True)
    except GLib.Error as exc:
        raise ValueError(f"invalid pipeline {description!r}: {exc.message}") from None
    # A sink joining a PLAYING live pipeline must not ask for preroll: the pipeline would
    # fall back to PAUSED and wait for data that only flows in PLAYING.
    for element in iterate(branch.iterate_sinks()):
        if element.find_property("async") is not None:
            element.set_property("async", False)
    sink = branch.get_static_pad("sink")
    if sink is None:  # nothing to feed (a source, say): never added, never started
        raise ValueError(f"invalid pipeline {description!r}: it has no unlinked sink pad")
    container.add(branch)
    branch.sync_state_with_parent()
    tee_pad = tee.request_pad_simple("src_%u")
    result = tee_pad.link(sink)
    if result != Gst.PadLinkReturn.OK:
        tee.release_request_pad(tee_pad)
        branch.set_state(Gst.State.NULL)
        container.remove(branch)
        raise ValueError(f"cannot link {description!r}: {result.value_nick}")
    _request_keyframe(sink)
    return branch


class RemoteTrack:
    """A track the remote peer sends: ``kind``, ``codec``, ``id``.

    ``await track.recv()`` / ``async for frame in track`` give decoded frames (a
    :class:`VideoFrame` or :class:`AudioFrame`) from a queue bounded on GStreamer's side
    (``queue_size`` frames, ``queue_bytes`` bytes) that drops the oldest, counted in
    :attr:`dropped`, however long the asyncio loop is busy; :meth:`connect` plays it to any
    GStreamer sink;
    :meth:`record` writes it to a WebM/Matroska file. Event ``ended``.
    """

    def __init__(
        self,
        kind: str,
        encoding_name: str,
        track_id: str,
        loop: asyncio.AbstractEventLoop,
        glib: GLibLoop,
        queue_size: int = DEFAULT_MAX_FRAMES,
        queue_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.kind = kind
        self.encoding_name = encoding_name
        self.codec: Codec | None = codec_by_encoding(encoding_name)
        self.id = track_id
        self.mid: str | None = None
        self._loop = loop
        self._glib = glib
        self._events = _TrackEvents()
        self._frames: FrameBuffer[Gst.Sample] = FrameBuffer(self._gst_wake, queue_size, queue_bytes)
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._ended = False
        self._pipeline: Gst.Bin | None = None
        self._tee: Gst.Element | None = None
        self._python_branch: Gst.Bin | None = None
        self._handler_ids: list[tuple[Any, int]] = []

    # --- built on GStreamer's thread when webrtcbin adds the pad ----------------------------

    def _build(self, pipeline: Gst.Pipeline, pad: Gst.Pad) -> None:
        """Link webrtcbin's new source pad to a depayloader and a tee (streaming thread).

        It must be linked before the pad-added handler returns, or data is lost.
        Raises :class:`WebRTCError` (nothing added) when it cannot be built or linked.
        """
        if self.codec is None:
            description = _DISCARD
        else:
            description = (
                f"queue ! {self.codec.depayloader} ! tee name=encoded allow-not-linked=true"
            )
        what = f"the remote {self.kind} track {self.id} ({self.encoding_name})"
        try:
            bin_ = Gst.parse_bin_from_description(description, True)
        except GLib.Error as exc:
            raise WebRTCError(f"cannot receive {what}: {exc.message}") from None
        pipeline.add(bin_)
        result = pad.link(bin_.get_static_pad("sink"))
        if result != Gst.PadLinkReturn.OK:
            pipeline.remove(bin_)
            raise WebRTCError(f"cannot receive {what}: link refused ({result.value_nick})")
        bin_.sync_state_with_parent()
        self._pipeline = bin_  # branches live inside the track's own bin, beside the tee
        self._tee = bin_.get_by_name("encoded")

    # --- events ------------------------------------------------------------------------------

    def on(self, event: str, handler: Any = None) -> Any:
        """Register a handler for ``ended``."""
        return self._events.on(event, handler)

    @property
    def ended(self) -> bool:
        """True once the remote stopped sending or the connection closed."""
        return self._ended

    @property
    def received(self) -> int:
        """Decoded frames that reached the queue (those :meth:`recv` asks for)."""
        return self._frames.received

    @property
    def dropped(self) -> int:
        """Frames dropped, oldest first, because the queue was full when newer ones came."""
        return self._frames.dropped

    # --- frames to Python --------------------------------------------------------------------

    async def recv(self) -> VideoFrame | AudioFrame:
        """The next decoded frame; raises :class:`ClosedError` once the track has ended."""
        if self.codec is None:
            raise WebRTCError(f"cannot decode {self.encoding_name} (no supported decoder)")
        if self._python_branch is None and not self._ended:
            await self._glib.call(self._attach_python_branch)
        while (sample := self._frames.take()) is None:
            if self._ended:
                raise ClosedError(f"{self.kind} track {self.id} has ended")
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self._to_frame(sample)

    def __aiter__(self) -> RemoteTrack:
        return self

    async def __anext__(self) -> VideoFrame | AudioFrame:
        try:
            return await self.recv()
        except ClosedError:
            raise StopAsyncIteration from None

    def _attach_python_branch(self) -> None:
        """GLib thread: decode into an appsink whose samples go to the asyncio queue."""
        if self._python_branch is not None or self._tee is None or self._pipeline is None:
            return
        assert self.codec is not None
        branch = _link_branch(
            self._pipeline,
            self._tee,
            f"queue leaky=downstream max-size-buffers=30 ! {self.codec.decoder} ! "
            f"{_TO_PYTHON[self.kind]} ! appsink name=frames emit-signals=true "
            "max-buffers=2 drop=true sync=false",
        )
        appsink = branch.get_by_name("frames")
        self._handler_ids.append((appsink, appsink.connect("new-sample", self._gst_on_sample)))
        self._python_branch = branch

    def _gst_on_sample(self, appsink: Gst.Element) -> Gst.FlowReturn:
        """Streaming thread: into the bounded buffer (the oldest may go); asyncio woken once."""
        keep_thread_state()
        sample = appsink.emit("pull-sample")
        if sample is not None:
            self._frames.put(sample, sample.get_buffer().get_size())
        return Gst.FlowReturn.OK

    def _gst_wake(self) -> None:
        """Any thread: schedule :meth:`_on_frames` (called at most once per batch)."""
        post(self._loop, self._on_frames)

    def _on_frames(self) -> None:
        """asyncio thread: frames are waiting; wake every receiver, each takes its own."""
        self._frames.woken()
        while self._waiters:
            resolve_future(self._waiters.popleft())

    def _to_frame(self, sample: Gst.Sample) -> VideoFrame | AudioFrame:
        import numpy as np

        buffer = sample.get_buffer()
        structure = sample.get_caps().get_structure(0)
        pts = None if buffer.pts == Gst.CLOCK_TIME_NONE else buffer.pts / Gst.SECOND
        try:
            data = read_only_array(buffer)  # the decoded memory itself, read-only
        except ValueError:
            raise WebRTCError("could not read a decoded frame") from None
        if self.kind == "video":
            width = structure.get_value("width")
            height = structure.get_value("height")
            stride = rgb_stride(width)
            rows = data[: stride * height].reshape(height, stride)
            return VideoFrame(rows[:, : width * 3].reshape(height, width, 3), pts)
        channels = structure.get_value("channels")
        rate = structure.get_value("rate")
        samples = data.view(np.int16).reshape(-1, channels)
        return AudioFrame(samples, rate, pts)

    # --- frames to GStreamer -----------------------------------------------------------------

    async def connect(self, sink: str | None = None) -> None:
        """Play the track to a GStreamer sink description (default: autovideosink/audiosink)."""
        if self.codec is None:
            raise WebRTCError(f"cannot decode {self.encoding_name}")
        if self._ended:
            raise ClosedError(f"{self.kind} track {self.id} has ended")
        sink = sink or ("autovideosink" if self.kind == "video" else "autoaudiosink")
        description = f"queue ! {self.codec.decoder} ! {_CONVERT[self.kind]} ! {sink}"

        def attach() -> None:
            if self._tee is None or self._pipeline is None:
                raise ClosedError("the peer connection is closed")
            _link_branch(self._pipeline, self._tee, description)

        await self._glib.call(attach)

    async def record(self, path: str | Path, duration: float | None = None) -> Path:
        """Write the track, without re-encoding, to a WebM (VP8/VP9/Opus) or Matroska file.

        Records for ``duration`` seconds, or until the track ends, then finishes the file.
        """
        if self.codec is None:
            raise WebRTCError(f"cannot record {self.encoding_name}")
        if self._ended:
            raise ClosedError(f"{self.kind} track {self.id} has ended")
        target = Path(path)
        parser = f"{self.codec.parser} ! " if self.codec.parser else ""
        location = str(target).replace("\\", "\\\\").replace('"', '\\"')
        description = (
            f"queue ! {parser}{self.codec.container} name=mux ! "
            f'filesink name=file location="{location}" async=false'
        )
        finished: asyncio.Future[None] = self._loop.create_future()
        state: dict[str, Any] = {}

        def on_file_event(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            event = info.get_event()
            if event is not None and event.type == Gst.EventType.EOS:
                post(self._loop, resolve_future, finished)
            return Gst.PadProbeReturn.OK

        def start() -> None:
            if self._tee is None or self._pipeline is None:
                raise ClosedError("the peer connection is closed")
            branch = _link_branch(self._pipeline, self._tee, description)
            file_pad = branch.get_by_name("file").get_static_pad("sink")
            file_pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, on_file_event)
            state["branch"] = branch
            state["tee_pad"] = branch.get_static_pad("sink").get_peer()

        await self._glib.call(start)
        ended: asyncio.Future[None] = self._loop.create_future()

        def on_ended() -> None:
            resolve_future(ended)

        self._events.on("ended", on_ended)
        try:
            await wait_for(asyncio.shield(ended), duration)
        except TimeoutError:
            pass
        finally:  # one handler per recording, removed with it
            self._events.off("ended", on_ended)

        def stop() -> None:
            branch, tee_pad = state["branch"], state["tee_pad"]

            def unlink(pad: Gst.Pad, _info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
                sink = branch.get_static_pad("sink")
                pad.unlink(sink)
                if self._tee is not None:
                    self._tee.release_request_pad(pad)
                sink.send_event(Gst.Event.new_eos())
                return Gst.PadProbeReturn.REMOVE

            if tee_pad is not None and self._tee is not None:
                tee_pad.add_probe(Gst.PadProbeType.IDLE, unlink)
            else:
                branch.get_static_pad("sink").send_event(Gst.Event.new_eos())

        await self._glib.call(stop)
        try:
            await wait_for(finished, 5)
        except TimeoutError:
            log.warning("recording of %s did not finish cleanly", target)

        def remove() -> None:
            branch = state["branch"]
            branch.set_state(Gst.State.NULL)
            if self._pipeline is not None and branch.get_parent() is self._pipeline:
                self._pipeline.remove(branch)

        await self._glib.call(remove)
        return target

    # --- ending ------------------------------------------------------------------------------

    def _end(self) -> None:
        """asyncio thread: mark ended, wake receivers, emit ``ended`` once."""
        if self._ended:
            return
        self._ended = True
        while self._waiters:
            resolve_future(self._waiters.popleft())
        self._events.emit("ended")

    def _detach(self) -> None:
        """GLib thread: disconnect signal handlers before the pipeline stops."""
        for gst_object, handler_id in self._handler_ids:
            if gst_object.handler_is_connected(handler_id):
                gst_object.disconnect(handler_id)
        self._handler_ids.clear()
        self._tee = None
        self._pipeline = None
        self._python_branch = None

    def __repr__(self) -> str:
        return f"<RemoteTrack {self.kind} {self.encoding_name} id={self.id}>"
