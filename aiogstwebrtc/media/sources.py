"""Media sources: GStreamer pipeline fragments that produce raw or encoded audio or video."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import OperationTimeoutError
from ..glibloop import deliver
from ..gst import GLib, Gst
from ..promises import mark_gstreamer_callback
from ..timeouts import wait_for
from .codecs import CODECS, Codec
from .frames import rgb_stride

__all__ = [
    "AudioSource",
    "EncodedVideoSource",
    "FrameSource",
    "MediaSource",
    "RtspSource",
    "VideoSource",
]

log = logging.getLogger(__name__)


def _nothing() -> None:
    """What stops watching a source that never ends for all its senders."""


class MediaSource:
    """Something to send: a GStreamer description producing raw media, and its codec."""

    kind = ""
    #: True when the source's own encoded stream is sent as it is (no decoder, no encoder).
    passthrough = False
    #: True when :meth:`request_keyframe` reaches whoever encodes the stream (a relay).
    asks_upstream_for_keyframes = False

    def __init__(self, pipeline: str, codec: str, bitrate: int | None) -> None:
        if not isinstance(pipeline, str) or not pipeline.strip():
            raise ValueError("pipeline must be a GStreamer pipeline description")
        try:
            self.codec: Codec = CODECS[codec.lower()]
        except (KeyError, AttributeError):
            raise ValueError(
                f"unknown codec {codec!r}; choose one of "
                + ", ".join(name for name, c in CODECS.items() if c.kind == self.kind)
            ) from None
        if self.codec.kind != self.kind:
            raise ValueError(f"{codec!r} is not a {self.kind} codec")
        if bitrate is not None and (not isinstance(bitrate, int) or bitrate <= 0):
            raise ValueError("bitrate must be a positive number of bits per second")
        self.pipeline = pipeline
        self.bitrate = bitrate or self.codec.default_bitrate

    def raw_description(self) -> str:
        """The pipeline fragment up to raw media in the encoder's format."""
        raise NotImplementedError

    def encoded_description(self) -> str:
        """The pipeline fragment up to this source's encoded stream, ready for the payloader.

        One per sender, or one shared by all viewers of a :class:`Broadcast`.
        """
        return (
            f"{self.raw_description()} ! queue max-size-buffers=3 leaky=downstream ! "
            f"{self.codec.encoder_description(self.bitrate)}"
        )

    def request_keyframe(self) -> bool:
        """Any thread: ask whoever encodes this source's stream upstream of us for a key
        unit (False: nobody to ask; our own encoder is asked by its sender or broadcast)."""
        return False

    def _detach(self, bin_: Gst.Bin | None = None) -> None:
        """GLib thread: the sender of ``bin_`` stops (removed, or its pipeline stops)."""

    def _watch_end(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Have ``callback(reason)`` called on the asyncio thread when this source ends for
        every sender at once (a :class:`Broadcast`'s source); return what stops watching
        (callable from any thread). A source each sender builds for itself never does."""
        return _nothing

    def _attach(self, bin_: Gst.Bin) -> None:
        """Called on the GLib thread once the sending bin is in the running pipeline.

        A file starts at time 0 while the pipeline has been running for a while: shift it to
        now, so that it plays in real time instead of bursting out as "late" data.
        """
        sync = bin_.get_by_name("filesync")
        pipeline = bin_.get_parent()
        if sync is None or pipeline is None:
            return
        clock = pipeline.get_clock()
        if clock is not None:
            running_time = clock.get_time() - pipeline.get_base_time()
            sync.get_static_pad("sink").set_offset(running_time)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.codec.name} {self.pipeline!r}>"


class VideoSource(MediaSource):
    """Video from any GStreamer source, scaled to ``width``x``height`` at ``framerate``."""

    kind = "video"

    def __init__(
        self,
        pipeline: str = "videotestsrc is-live=true",
        codec: str = "vp8",
        width: int = 1280,
        height: int = 720,
        framerate: int = 30,
        bitrate: int | None = None,
    ) -> None:
        super().__init__(pipeline, codec, bitrate)
        for name, value in (("width", width), ("height", height), ("framerate", framerate)):
            if not isinstance(value, int) or not 0 < value <= 8192:
                raise ValueError(f"{name} must be a positive int")
        if width % 2 or height % 2:
            raise ValueError("width and height must be even")
        self.width, self.height, self.framerate = width, height, framerate

    def raw_description(self) -> str:
        return (
            f"{self.pipeline} ! videoconvert ! videoscale ! videorate ! "
            f"video/x-raw,format=I420,width={self.width},height={self.height},"
            f"framerate={self.framerate}/1"
        )

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> VideoSource:
        """The video stream of a media file (decoded with ``uridecodebin``), played live."""
        uri = Path(path).resolve().as_uri()
        return cls(
            f'uridecodebin uri="{uri}" caps=video/x-raw expose-all-streams=false ! '
            "video/x-raw ! queue ! identity sync=true",
            **options,
        )

    @classmethod
    def camera(cls, device: str = "/dev/video0", **options: Any) -> VideoSource:
        """A V4L2 camera."""
        return cls(f'v4l2src device="{device}"', **options)

    @classmethod
    def encoded(cls, pipeline: str, codec: str = "h264") -> EncodedVideoSource:
        """Any GStreamer source that already produces encoded ``codec`` video, sent as it is.

        Nothing is decoded or re-encoded: see :class:`EncodedVideoSource`.
        """
        return EncodedVideoSource(pipeline, codec)

    @classmethod
    def from_rtsp(cls, url: str, latency_ms: int = 200, codec: str = "h264") -> RtspSource:
        """An RTSP camera's video, passed through without decoding: see :class:`RtspSource`."""
        return RtspSource(url, latency_ms=latency_ms, codec=codec)

    @classmethod
    def from_frames(
        cls, width: int, height: int, framerate: int = 30, **options: Any
    ) -> FrameSource:
        """A source fed from Python: ``push(frame)`` takes numpy RGB arrays."""
        return FrameSource(width, height, framerate, **options)


class FrameSource(VideoSource):
    """Video pushed from Python with :meth:`push` (numpy ``uint8`` arrays, heightxwidthx3)."""

    def __init__(self, width: int, height: int, framerate: int = 30, **options: Any) -> None:
        caps = f"video/x-raw,format=RGB,width={width},height={height},framerate={framerate}/1"
        super().__init__(
            f'appsrc name=frames is-live=true format=time do-timestamp=true caps="{caps}" '
            "max-buffers=4 leaky-type=downstream block=false",
            width=width,
            height=height,
            framerate=framerate,
            **options,
        )
        self._appsrc: Gst.Element | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def _attach(self, bin_: Gst.Bin) -> None:
        super()._attach(bin_)
        with self._lock:
            self._appsrc = bin_.get_by_name("frames")

    def push(self, frame: Any) -> None:
        """Send one RGB frame (``numpy.ndarray`` of shape (height, width, 3), ``uint8``).

        Safe from any thread; frames pushed before the track is added are dropped.
        """
        import numpy as np

        array = np.asarray(frame)
        if array.shape != (self.height, self.width, 3) or array.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 of shape ({self.height}, {self.width}, 3), "
                f"not {array.dtype} {array.shape}"
            )
        with self._lock:
            appsrc = self._appsrc
        if appsrc is None:
            self.dropped += 1
            return
        stride = rgb_stride(self.width)
        if stride != self.width * 3:
            padded = np.zeros((self.height, stride), dtype=np.uint8)
            padded[:, : self.width * 3] = array.reshape(self.height, -1)
            array = padded
        buffer = Gst.Buffer.new_wrapped_bytes(GLib.Bytes.new(array.tobytes()))
        result = appsrc.emit("push-buffer", buffer)
        if result != Gst.FlowReturn.OK:
            self.dropped += 1

    def _detach(self, bin_: Gst.Bin | None = None) -> None:
        with self._lock:
            self._appsrc = None


# What turns each codec's encoded stream into what its payloader takes. H.264: avc in access
# units (with byte-stream input rtph264pay advertises no profile-level-id in the offer) and
# the SPS/PPS repeated before every IDR (config-interval=-1), so a viewer that joins late
# can decode from the next keyframe.
_PASSTHROUGH_PARSERS = {
    "h264": "h264parse config-interval=-1 ! video/x-h264,stream-format=avc,alignment=au",
    "vp8": "video/x-vp8",
    "vp9": "vp9parse ! video/x-vp9",
}

_NOT_FOR_WEBRTC = (
    "H.265 (HEVC) cannot be passed through: browsers' WebRTC does not take it in general "
    "(only some releases negotiate it, and only with hardware decoding), nor does aiortc; "
    "configure the camera for H.264, or decode and re-encode it with "
    'VideoSource("... ! decodebin", codec="h264")'
)
_H265_NAMES = ("h265", "hevc")


def _passthrough_codec(codec: str) -> str:
    if isinstance(codec, str) and codec.lower() in _H265_NAMES:
        raise ValueError(_NOT_FOR_WEBRTC)
    if isinstance(codec, str) and codec.lower() not in _PASSTHROUGH_PARSERS:
        raise ValueError(
            f"unknown codec {codec!r} for an encoded source; choose one of "
            + ", ".join(_PASSTHROUGH_PARSERS)
        )
    return codec


class EncodedVideoSource(VideoSource):
    """Video that a GStreamer source already encodes, sent as it is: no decoder, no encoder.

    ``pipeline`` ends in encoded ``codec`` video (``h264``, ``vp8`` or ``vp9``), e.g. an
    ``rtspsrc ! rtph264depay``, a demuxed file or a camera with a hardware encoder. Only a
    parser sits between it and the payloader, so the CPU cost is the packetising alone.

    What follows from not encoding:

    * ``width``, ``height``, ``framerate`` and ``bitrate`` are 0: they are the stream's own;
      :meth:`RtpSender.set_bitrate` raises :class:`TypeError`.
    * No keyframe can be forced. H.264 parameter sets go with every IDR, so a viewer's first
      picture comes at the source's next keyframe: its GOP bounds the wait (docs/media.md,
      "Passthrough").
    * For H.264 the advertised ``profile-level-id`` is the stream's own (``rtph264pay`` reads
      it from the SPS): browsers take constrained baseline (``42e0..``/``42c0..``) best.
    """

    passthrough = True

    def __init__(self, pipeline: str, codec: str = "h264") -> None:
        super().__init__(pipeline, _passthrough_codec(codec))
        self.width = self.height = self.framerate = self.bitrate = 0
        self._state_lock = threading.Lock()
        self._started = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    async def wait_started(self, timeout: float = 10.0) -> None:
        """Wait until the sender added last has sent its first RTP packet.

        An offer created after this carries the stream's own H.264 ``profile-level-id``;
        one created before it has none, which peers read as constrained baseline (right
        for such cameras, wrong for a High-profile one). Raises
        :class:`OperationTimeoutError` if no stream came within ``timeout`` seconds (the
        peer connection's ``error`` event says why, e.g. the camera is unreachable).
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with self._state_lock:
            if self._started:
                return
            self._waiters.append((loop, waiter))
        try:
            await wait_for(waiter, timeout)
        except TimeoutError:
            raise OperationTimeoutError(
                f"{self!r} delivered no stream within {timeout} s",
                operation="wait_started",
                state="not started",
            ) from None
        finally:
            with self._state_lock:
                if (loop, waiter) in self._waiters:
                    self._waiters.remove((loop, waiter))

    def _attach(self, bin_: Gst.Bin) -> None:
        super()._attach(bin_)
        with self._state_lock:
            self._started = False
        rtpcaps = bin_.get_by_name("rtpcaps")
        if rtpcaps is not None:
            rtpcaps.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER, mark_gstreamer_callback(self._on_first_buffer)
            )

    def _on_first_buffer(self, _pad: Gst.Pad, _info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        """Streaming thread: the first RTP packet is out, so webrtcbin has its caps.

        (A pad pushes its caps event to webrtcbin before the first buffer's probes run:
        watching the caps event itself would wake an offer before webrtcbin had them.)
        """
        with self._state_lock:
            self._started = True
            waiters, self._waiters = self._waiters, []
        for loop, waiter in waiters:
            deliver(loop, waiter)
        return Gst.PadProbeReturn.REMOVE

    def raw_description(self) -> str:
        raise TypeError(f"{self!r} has no raw media: its encoded stream is passed through")

    def encoded_description(self) -> str:
        return f"{self.pipeline} ! {_PASSTHROUGH_PARSERS[self.codec.name]}"


_RTSP_SCHEMES = re.compile(r"^rtsps?[uth]?$")


def _without_password(url: str) -> str:
    """``url`` as it may appear in logs and errors: user name kept, password hidden."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class RtspSource(EncodedVideoSource):
    """An RTSP camera's video stream, depayloaded and passed through (no transcoding).

    ``rtspsrc`` (with a ``latency_ms`` jitter buffer) → depayloader → parser. Only the first
    video stream the camera describes is set up; audio streams are not.

    The codec is ``codec`` (``h264`` by default; ``vp8``/``vp9`` cameras are rare). H.265 is
    refused: ``codec="h265"`` raises :class:`ValueError` here, and a camera that turns out
    to send H.265 (or anything but ``codec``) fails when it is described: the peer
    connection's ``error`` event gets a :class:`WebRTCError` whose message says why.
    A camera that stops or vanishes reaches the same ``error`` event (GStreamer's
    ``rtspsrc`` error, e.g. "Could not read from resource").
    """

    def __init__(self, url: str, latency_ms: int = 200, codec: str = "h264") -> None:
        if not isinstance(url, str) or not _RTSP_SCHEMES.match(urlsplit(url).scheme):
            raise ValueError(f"not an rtsp:// URL: {url!r}")
        if not isinstance(latency_ms, int) or not 0 <= latency_ms <= 60_000:
            raise ValueError("latency_ms must be an int of milliseconds, 0 to 60000")
        codec = _passthrough_codec(codec)
        quoted = url.replace("\\", "\\\\").replace('"', '\\"')
        depayloader = CODECS[codec.lower()].depayloader
        super().__init__(
            f'rtspsrc name=rtspsrc location="{quoted}" latency={latency_ms} ! {depayloader}',
            codec,
        )
        self.url = url
        self.latency_ms = latency_ms

    def _attach(self, bin_: Gst.Bin) -> None:
        super()._attach(bin_)
        rtspsrc = bin_.get_by_name("rtspsrc")
        if rtspsrc is not None:
            rtspsrc.connect("select-stream", mark_gstreamer_callback(self._selector()))

    def _selector(self) -> Any:
        """A ``select-stream`` handler for one ``rtspsrc``: its first video stream only."""
        chosen: list[int] = []
        wanted = self.codec.encoding_name
        where = _without_password(self.url)

        def select(rtspsrc: Gst.Element, number: int, caps: Gst.Caps) -> bool:
            # rtspsrc's thread, before SETUP: nothing here may block.
            structure = caps.get_structure(0)
            media = structure.get_string("media")
            encoding = (structure.get_string("encoding-name") or "").upper()
            if media != "video" or chosen:
                log.debug(
                    "RTSP %s: not setting up stream %d (%s %s)", where, number, media, encoding
                )
                return False
            if encoding != wanted:
                if encoding in ("H265", "HEVC"):
                    text = f"the RTSP camera {where} sends H.265: {_NOT_FOR_WEBRTC}"
                else:
                    text = (
                        f"the RTSP camera {where} sends {encoding or 'an unknown codec'}, "
                        f"not {wanted}: pass that codec to VideoSource.from_rtsp"
                    )
                # Reported once, as the pipeline error the peer connection logs and emits.
                error = GLib.Error.new_literal(
                    Gst.stream_error_quark(), text, int(Gst.StreamError.CODEC_NOT_FOUND)
                )
                rtspsrc.post_message(Gst.Message.new_error(rtspsrc, error, caps.to_string()))
                return False
            chosen.append(number)
            log.debug("RTSP %s: passing through stream %d (%s)", where, number, encoding)
            return True

        return select

    def __repr__(self) -> str:
        return f"<RtspSource {self.codec.name} {_without_password(self.url)!r}>"


class AudioSource(MediaSource):
    """Audio from any GStreamer source, resampled to 48 kHz stereo for Opus."""

    kind = "audio"

    def __init__(
        self,
        pipeline: str = "audiotestsrc is-live=true",
        codec: str = "opus",
        bitrate: int | None = None,
    ) -> None:
        super().__init__(pipeline, codec, bitrate)

    def raw_description(self) -> str:
        return f"{self.pipeline} ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2"

    @classmethod
    def from_file(cls, path: str | Path, **options: Any) -> AudioSource:
        """The audio stream of a media file, played live."""
        uri = Path(path).resolve().as_uri()
        return cls(
            f'uridecodebin uri="{uri}" caps=audio/x-raw expose-all-streams=false ! '
            "audio/x-raw ! queue ! identity sync=true",
            **options,
        )
