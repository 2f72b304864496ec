"""The data channels of one peer connection: made here or by the remote, and the keepalive.

:class:`PeerChannels` validates and creates channels on the GLib thread, wraps the remote's
on GStreamer's thread (so that no early message is missed), makes the hidden negotiated
channel the liveness monitor pokes, and closes them all when the association or the peer
ends. It is a :class:`~aiogstwebrtc.pipeline.PipelinePart`: detached at teardown.
"""

from __future__ import annotations

import logging
from typing import Any

from .config import check_receive_cap
from .datachannel import DataChannel
from .errors import WebRTCError
from .events import EventEmitter
from .gst import Gst
from .health import KEEPALIVE_CHANNEL_ID
from .pipeline import PeerPipeline
from .sdp import SessionDescription

__all__ = ["PeerChannels"]

log = logging.getLogger(__name__)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class PeerChannels:
    """``create_data_channel``, the ``datachannel`` event and the channels' ends."""

    def __init__(self, pipeline: PeerPipeline, events: EventEmitter) -> None:
        """The channels of the peer connection running ``pipeline``, announced on ``events``."""
        self._pipeline = pipeline
        self._events = events
        self.channels: list[DataChannel] = []
        self._remote_channels_built: list[DataChannel] = []  # appended on GStreamer threads
        self.negotiable = 0  # channels made here: negotiation-needed means something
        self.sctp_transport_exists = False
        self._keepalive_channel_made = False

    @property
    def open_channels(self) -> list[DataChannel]:
        """The channels, local and remote, that are not closed."""
        return [channel for channel in self.channels if channel.ready_state != "closed"]

    # --- asyncio thread ----------------------------------------------------------------------

    def options(
        self,
        label: str,
        *,
        ordered: bool,
        max_retransmits: int | None,
        max_packet_lifetime: int | None,
        protocol: str,
        negotiated: bool,
        id: int | None,
        receive_cap: int | None,
    ) -> str:
        """Check a new channel's options (``ValueError``); webrtcbin's options structure."""
        if receive_cap is not None:
            check_receive_cap(receive_cap, "receive_cap")
        if not isinstance(label, str) or len(label.encode()) > 65535:
            raise ValueError("label must be a string of at most 65535 bytes")
        if max_retransmits is not None and max_packet_lifetime is not None:
            raise ValueError("give max_retransmits or max_packet_lifetime, not both")
        if negotiated and id is None:
            raise ValueError("a negotiated channel needs an id")
        if id is not None and not 0 <= id <= 65534:
            raise ValueError("id must be between 0 and 65534")
        fields = [f"ordered=(boolean){'true' if ordered else 'false'}"]
        if max_retransmits is not None:
            fields.append(f"max-retransmits=(int){int(max_retransmits)}")
        if max_packet_lifetime is not None:
            fields.append(f"max-packet-lifetime=(int){int(max_packet_lifetime)}")
        if protocol:
            fields.append(f"protocol=(string){_quote(protocol)}")
        if negotiated:
            fields.append("negotiated=(boolean)true")
        if id is not None:
            fields.append(f"id=(int){int(id)}")
        if id == KEEPALIVE_CHANNEL_ID and self._pipeline.config.dead_peer_timeout is not None:
            raise ValueError(
                f"channel id {KEEPALIVE_CHANNEL_ID} is reserved for the dead-peer keepalive "
                "(Configuration(dead_peer_timeout=None) frees it)"
            )
        return "application/data-channel, " + ", ".join(fields)

    async def create(
        self,
        label: str,
        options_text: str,
        stream_id: int | None = None,
        receive_cap: int | None = None,
    ) -> DataChannel:
        """Create a channel on the started pipeline (``options_text`` from :meth:`options`)."""
        pipeline = self._pipeline
        webrtc = pipeline.require_webrtc()
        glib = pipeline.require_glib()
        loop = pipeline.require_loop()

        if stream_id is not None and stream_id > 0 and self.sctp_transport_exists:
            # webrtcbin 1.22 keeps the SCTP transport's max-channels at 0 once it exists and
            # refuses any higher id with a CRITICAL. (Reading its sctp-transport property from
            # Python to check is not safe either: it breaks the transport's reference count.)
            raise ValueError(
                f"webrtcbin cannot add negotiated channel id {stream_id} to a session whose "
                "SCTP transport exists: create negotiated channels before the first offer/answer"
            )

        def create() -> DataChannel | None:
            options = Gst.Structure.from_string(options_text)[0]
            channel = webrtc.emit("create-data-channel", label, options)
            cap = receive_cap or pipeline.config.data_channel_receive_cap
            return None if channel is None else DataChannel(channel, loop, glib, cap)

        self.negotiable += 1
        channel = await glib.call(create)
        if channel is None:
            self.negotiable -= 1
            raise WebRTCError(f"webrtcbin refused to create data channel {label!r}")
        self.channels.append(channel)
        return channel

    async def ensure_keepalive_channel(self) -> None:
        """Make the hidden channel the liveness monitor pokes (before SCTP exists)."""
        liveness = self._pipeline.liveness
        if liveness is None or self._keepalive_channel_made or self.sctp_transport_exists:
            return
        self._keepalive_channel_made = True
        webrtc = self._pipeline.require_webrtc()
        options = (
            "application/data-channel, ordered=(boolean)false, max-retransmits=(int)0, "
            f"negotiated=(boolean)true, id=(int){KEEPALIVE_CHANNEL_ID}"
        )

        def create() -> None:
            structure = Gst.Structure.from_string(options)[0]
            channel = webrtc.emit("create-data-channel", "aiogstwebrtc-keepalive", structure)
            if channel is not None:
                liveness.set_keepalive_channel(channel)

        await self._pipeline.call(create)

    def note_sctp(self, description: SessionDescription) -> None:
        """An applied description with an application m-line: the SCTP transport exists."""
        if any(section.kind == "application" for section in description.media):
            self.sctp_transport_exists = True

    def on_remote_channel(self, channel: DataChannel) -> None:
        """asyncio thread: the remote opened ``channel``."""
        if self._pipeline.closed:
            return
        self.channels.append(channel)
        self._events.emit("datachannel", channel)

    def on_association_ended(self, debug: str) -> None:
        """The remote ended the SCTP association (it left, closed or crashed): not a fault."""
        if self._pipeline.closed:
            return
        log.info("the remote peer ended the SCTP association: data channels closed (%s)", debug)
        self.close_all(None)

    def close_all(self, error: WebRTCError | None) -> None:
        """asyncio thread: every channel is closed, with ``error`` if not a normal end."""
        for channel in self.channels:
            channel._on_closed(error)

    # --- GStreamer threads -------------------------------------------------------------------

    def wrap_remote(self, gst_channel: Any) -> DataChannel | None:
        """GStreamer thread: wrap the remote's channel at once, so no early message is missed."""
        pipeline = self._pipeline
        loop, glib = pipeline.loop, pipeline.glib
        if loop is None or glib is None:
            return None
        channel = DataChannel(gst_channel, loop, glib, pipeline.config.data_channel_receive_cap)
        self._remote_channels_built.append(channel)  # detached at close even if never posted
        return channel

    # --- PipelinePart (GLib thread) ----------------------------------------------------------

    def detach(self) -> None:
        """Detach every channel wrapped so far, local or remote, posted to asyncio or not."""
        channels = list(self.channels)
        channels += [c for c in list(self._remote_channels_built) if c not in channels]
        for channel in channels:
            channel._detach()

    def release(self) -> None:
        """Nothing to release: the channels hold no pipeline object after :meth:`detach`."""
