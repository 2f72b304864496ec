"""WHEP playout and WHIP ingest: serve broadcasts to players, take publishers, play.

- :class:`WhepEndpoint`: ``POST/PATCH/DELETE {prefix}/{stream}`` in an aiohttp application
  (e.g. :attr:`aiogstwebrtc.signalling.SignallingServer.app`), each viewer fed by the
  stream's :class:`~aiogstwebrtc.media.Broadcast`;
- :class:`WhipEndpoint`: a WHIP publisher's stream (RFC 9725) becomes a WHEP stream of
  the same name, passed through;
- :class:`WhepClient`: ``tracks = await WhepClient(url).play()``;
- :class:`WhipClient`: ``await WhipClient(url, token=...).publish(VideoSource())``;
- STUN/TURN servers for clients: ``WhepEndpoint(ice_servers=[...])`` (and WHIP) sends them
  as ``Link`` headers (RFC 9725 4.6); our clients ask for them first
  (:func:`fetch_ice_servers`) and use them;
- :class:`SessionLimits`: sessions and offers per client address (``429`` beyond).
"""

from __future__ import annotations

from .client import WhepClient, WhepError, WhipClient, fetch_ice_servers
from .endpoint import WhepEndpoint
from .ingest import WhipEndpoint
from .links import ice_servers_from_links, link_headers
from .quota import SessionLimits

__all__ = [
    "SessionLimits",
    "WhepClient",
    "WhepEndpoint",
    "WhepError",
    "WhipClient",
    "WhipEndpoint",
    "fetch_ice_servers",
    "ice_servers_from_links",
    "link_headers",
]
