"""Media sources: GStreamer pipeline fragments that produce raw audio or video."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from ..gst import GLib, Gst
from .codecs import CODECS, Codec
from .frames import rgb_stride

__all__ = ["AudioSource", "FrameSource", "MediaSource", "VideoSource"]

log = logging.getLogger(__name__)


class MediaSource:
    """Something to send: a GStreamer description producing raw media, and its codec."""

    kind = ""

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

    def _detach(self, bin_: Gst.Bin | None = None) -> None:
        """GLib thread: the sender of ``bin_`` stops (removed, or its pipeline stops)."""

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
