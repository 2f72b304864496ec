"""Buffers handed from one pipeline to another, retimed to the receiving pipeline's clock.

Used where only buffers cross between pipelines (a Broadcast to its viewers, a received
track to a Broadcast): each copy shares the encoded memory, only its timestamps are the
receiver's. The offset is fixed by the first buffer, so the stream keeps its own spacing.
"""

from __future__ import annotations

from ..gst import Gst

__all__ = ["Retimer"]

# Not buffer.copy(): for a GstBuffer in PyGObject that is a new reference to the same buffer.
_SHALLOW_COPY = (
    Gst.BufferCopyFlags.FLAGS
    | Gst.BufferCopyFlags.TIMESTAMPS
    | Gst.BufferCopyFlags.META
    | Gst.BufferCopyFlags.MEMORY
)


class Retimer:
    """Copies of buffers in ``pipeline``'s running time (callers serialise the calls)."""

    def __init__(self, pipeline: Gst.Element | None) -> None:
        self.pipeline = pipeline
        self.offset: int | None = None  # source timestamps -> the pipeline's running time

    def copy(self, buffer: Gst.Buffer) -> Gst.Buffer | None:
        """``buffer`` in the pipeline's running time; None while it has no clock (not
        PLAYING) or the buffer no timestamp."""
        stamp = buffer.pts if buffer.pts != Gst.CLOCK_TIME_NONE else buffer.dts
        if stamp == Gst.CLOCK_TIME_NONE:
            return None
        if self.offset is None:
            pipeline = self.pipeline
            clock = pipeline.get_clock() if pipeline is not None else None
            if pipeline is None or clock is None:
                return None
            self.offset = int(clock.get_time() - pipeline.get_base_time()) - stamp
        copy = buffer.copy_region(_SHALLOW_COPY, 0, buffer.get_size())
        if buffer.pts != Gst.CLOCK_TIME_NONE:
            copy.pts = max(0, buffer.pts + self.offset)
        if buffer.dts != Gst.CLOCK_TIME_NONE:
            copy.dts = max(0, buffer.dts + self.offset)
        return copy
