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
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .gst import GLib, Gst, GstWebRTC

if TYPE_CHECKING:
    from .glibloop import GLibLoop

__all__ = ["KEEPALIVE_CHANNEL_ID", "LivenessMonitor"]

log = logging.getLogger(__name__)

#: The stream id of the hidden keepalive channel (the last of the 1024 streams webrtcbin
#: negotiates). Do not use it for your own negotiated channels.
KEEPALIVE_CHANNEL_ID = 1023


def _ignore(_state: str | None) -> None:
    """The verdict callback of a stopped monitor."""


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
        self._armed: dict[int, tuple[Gst.Pad, int]] = {}  # id(pad) -> (pad, probe id)
        self._lock = threading.Lock()  # _sources/_armed: GStreamer threads and the GLib one
        self._last_seen = time.monotonic()
        self._keepalive: Any = None
        self._task: asyncio.Task[None] | None = None
        self._override: str | None = None
        self.keepalives_sent = 0

    # --- GStreamer threads -------------------------------------------------------------------

    def watch(self, nicesrc: Gst.Element) -> None:
        """Watch a ``nicesrc`` (called from ``deep-element-added``)."""
        with self._lock:
            self._sources.append(nicesrc)

    def set_keepalive_channel(self, channel: Any) -> None:
        """GLib thread: the hidden negotiated channel used to make the remote answer."""
        with self._lock:
            self._keepalive = channel

    def _arm(self) -> None:
        """GLib thread: put a one-shot probe on every watched source pad."""
        with self._lock:
            sources = list(self._sources)
        for source in sources:
            pad = source.get_static_pad("src")
            if pad is None:
                continue
            key = id(pad)
            with self._lock:
                if key in self._armed or source not in self._sources:
                    continue
                # Under the lock: a packet arriving at once waits for the entry to exist.
                probe_id = pad.add_probe(
                    Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, self._on_packet, key
                )
                if probe_id:
                    self._armed[key] = (pad, probe_id)

    def _on_packet(self, _pad: Gst.Pad, _info: Gst.PadProbeInfo, key: int) -> Gst.PadProbeReturn:
        self._last_seen = time.monotonic()
        with self._lock:
            self._armed.pop(key, None)
        return Gst.PadProbeReturn.REMOVE

    def detach(self) -> None:
        """GLib thread, before the pipeline stops: remove armed probes, forget the sources.

        An armed probe holds this monitor (and, through it, the peer connection) from
        inside a ``nicesrc`` pad; the sources list holds the ``nicesrc`` elements.
        """
        with self._lock:
            armed = list(self._armed.values())
            self._armed.clear()
            self._sources.clear()
            self._keepalive = None
        for pad, probe_id in armed:
            pad.remove_probe(probe_id)

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
        """Stop watching and report nothing more (the GStreamer side: :meth:`detach`)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                task.cancel()
            except RuntimeError:  # its loop is closed (interpreter exit): nothing to cancel
                log.debug("liveness task's event loop is closed")
        self._on_change = _ignore  # the peer connection's bound method: no cycle left

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
            self._glib.call_soon(self._poke)
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
        """GLib thread: send one keepalive byte, unless teardown already dropped the channel.

        On the GLib thread, like the channel's creation and :meth:`detach`: a poke can never
        reach webrtcbin's channel while (or after) its pipeline is being stopped.
        """
        with self._lock:
            channel = self._keepalive
        if channel is None:
            return
        # Only an open channel is linked to the SCTP transport: webrtcbin (1.22 and 1.26)
        # dereferences the channel's transport before looking at its state, so a send on a
        # channel not yet linked (connection up, SCTP association not yet) crashes the process.
        if channel.get_property("ready-state") != GstWebRTC.WebRTCDataChannelState.OPEN:
            return
        try:
            channel.send_data_full(GLib.Bytes.new(b"\x00"))
            self.keepalives_sent += 1
        except GLib.Error as exc:
            log.debug("keepalive not sent: %s", exc.message)
