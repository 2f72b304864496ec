"""Decoded frames handed to Python: numpy arrays with their timing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AudioFrame", "VideoFrame", "rgb_stride"]


def rgb_stride(width: int) -> int:
    """Bytes per row of a GStreamer ``video/x-raw,format=RGB`` frame ``width`` pixels wide.

    GStreamer pads each row to a multiple of 4 bytes: 3 bytes per pixel, rounded up.
    """
    return (width * 3 + 3) & ~3


@dataclass(frozen=True)
class VideoFrame:
    """A decoded video frame: ``data`` is an RGB ``uint8`` array of shape (height, width, 3).

    A frame from ``RemoteTrack.recv()`` is a read-only view of the decoder's memory (no
    copy is made; the memory is held until the last view of it is gone): writing to it
    raises ``ValueError``. :meth:`copy` gives a frame with a writable array of its own.
    """

    data: Any
    pts: float | None

    def copy(self) -> VideoFrame:
        """The same frame with a writable copy of ``data`` (contiguous, C order)."""
        import numpy as np

        return VideoFrame(np.array(self.data, copy=True, order="C"), self.pts)

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.data.shape[1])

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return int(self.data.shape[0])


@dataclass(frozen=True)
class AudioFrame:
    """Decoded audio: ``data`` is an ``int16`` array of shape (samples, channels).

    Read-only when it comes from ``RemoteTrack.recv()``, like :class:`VideoFrame`;
    :meth:`copy` gives a writable one.
    """

    data: Any
    sample_rate: int
    pts: float | None

    def copy(self) -> AudioFrame:
        """The same audio with a writable copy of ``data`` (contiguous, C order)."""
        import numpy as np

        return AudioFrame(np.array(self.data, copy=True, order="C"), self.sample_rate, self.pts)

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.data.shape[1])

    @property
    def samples(self) -> int:
        """Samples per channel in this frame."""
        return int(self.data.shape[0])
