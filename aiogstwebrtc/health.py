"""Noticing a peer that vanished.

webrtcbin 1.22 keeps a connection ``connected`` for over a minute after the remote side
disappears: libnice's keepalives come every 25 s and its consent freshness cannot be turned
on for webrtcbin's agent. So we watch the transport ourselves:

- a one-shot pad probe on each ``nicesrc`` source pad, re-armed once per check interval,
  records when the last packet arrived (one Python call per interval, not per packet);
- when a connection with data channels has been quiet for a check interval, a one-byte
  message on a hidden negotiated channel makes the remote SCTP stack answer with a SACK:
  a live peer always answers, whatever software it runs (the byte itself is discarded);
- media sessions carry RTP/RTCP continuously, which the probe sees.

Silence for 40 % of ``dead_peer_timeout`` makes the connection ``disconnected``; traffic
brings it back; silence for the whole timeout makes it ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .gst import GLib, Gst

if TYPE_CHECKING:
    from .glibloop import GLibLoop

__all__ = ["KEEPALIVE_CHANNEL_ID", "LivenessMonitor"]

log = logging.getLogger(__name__)

#: The stream id of the hidden keepalive channel (the last of the 1024 streams webrtcbin
#: negotiates). Do not use it for your own negotiated channels.
KEEPALIVE_CHANNEL_ID = 1023


class LivenessMonitor:
    """Watches incoming packets and reports ``disconnected``/``failed`` on silence."""

    def __init__(
        self,
        timeout: float,
        glib: GLibLoop,
        on_change: Callable[[str | None], None],
    ) -> None:
        self.timeout = timeout
        self.interval = max(0.2, min(1.0, timeout / 10))
        self._glib = glib
        self._on_change = on_change
        self._sources: list[Gst.Element] = []
        self._armed: set[int] = set()
        self._last_seen = time.monotonic()
        self._keepalive: Any = None
        self._task: asyncio.Task[None] | None = None
        self._override: str | None = None
        self.keepalives_sent = 0

    # --- GStreamer threads -------------------------------------------------------------------

    def watch(self, nicesrc: Gst.Element) -> None:
        """Watch a ``nicesrc`` (called from ``deep-element-added``)."""
        self._sources.append(nicesrc)

    def set_keepalive_channel(self, channel: Any) -> None:
        """The hidden negotiated channel used to make the remote answer."""
        self._keepalive = channel

    def _arm(self) -> None:
        """GLib thread: put a one-shot probe on every watched source pad."""
        for source in list(self._sources):
            pad = source.get_static_pad("src")
            if pad is None or id(pad) in self._armed:
                continue
            self._armed.add(id(pad))
            pad.add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, self._on_packet, id(pad)
            )

    def _on_packet(self, _pad: Gst.Pad, _info: Gst.PadProbeInfo, key: int) -> Gst.PadProbeReturn:
        self._last_seen = time.monotonic()
        self._armed.discard(key)
        return Gst.PadProbeReturn.REMOVE

    # --- asyncio thread ----------------------------------------------------------------------

    @property
    def override(self) -> str | None:
        """``disconnected`` or ``failed`` while the peer is silent, else None."""
        return self._override

    def start(self) -> None:
        """Begin watching (when the connection first reports ``connected``)."""
        if self._task is None:
            self._last_seen = time.monotonic()
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        """Stop watching."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                task.cancel()
            except RuntimeError:  # its loop is closed (interpreter exit): nothing to cancel
                log.debug("liveness task's event loop is closed")
        self._sources.clear()
        self._keepalive = None

    async def _run(self) -> None:
        try:
            while True:
                self._glib.call_soon(self._arm)
                await asyncio.sleep(self.interval)
                self._check()
                if self._override == "failed":
                    return
        except asyncio.CancelledError:
            pass

    def _check(self) -> None:
        silence = time.monotonic() - self._last_seen
        if silence >= self.interval:
            self._poke()
        if silence >= self.timeout:
            state: str | None = "failed"
        elif silence >= 0.4 * self.timeout:
            state = "disconnected"
        else:
            state = None
        if state != self._override:
            log.info("peer silent for %.1f s: %s", silence, state or "traffic again, connected")
            self._override = state
            self._on_change(state)

    def _poke(self) -> None:
        channel = self._keepalive
        if channel is None:
            return
        try:
            channel.send_data_full(GLib.Bytes.new(b"\x00"))
            self.keepalives_sent += 1
        except GLib.Error as exc:
            log.debug("keepalive not sent: %s", exc.message)
