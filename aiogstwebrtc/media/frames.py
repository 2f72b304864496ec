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
    """A decoded video frame: ``data`` is an RGB ``uint8`` array of shape (height, width, 3)."""

    data: Any
    pts: float | None

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
    """Decoded audio: ``data`` is an ``int16`` array of shape (samples, channels)."""

    data: Any
    sample_rate: int
    pts: float | None

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.data.shape[1])

    @property
    def samples(self) -> int:
        """Samples per channel in this frame."""
        return int(self.data.shape[0])
