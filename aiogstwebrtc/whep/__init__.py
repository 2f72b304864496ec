"""WHEP playout and WHIP ingest: serve broadcasts to players, take publishers, play.

- :class:`WhepEndpoint`: ``POST/PATCH/DELETE {prefix}/{stream}`` in an aiohttp application
  (e.g. :attr:`aiogstwebrtc.signalling.SignallingServer.app`), each viewer fed by the
  stream's :class:`~aiogstwebrtc.media.Broadcast`;
- :class:`WhipEndpoint`: a WHIP publisher's stream (RFC 9725) becomes a WHEP stream of
  the same name, passed through;
- :class:`WhepClient`: ``tracks = await WhepClient(url).play()``;
- :class:`WhipClient`: ``await WhipClient(url, token=...).publish(VideoSource())``.
"""

from __future__ import annotations

from .client import WhepClient, WhepError, WhipClient
from .endpoint import WhepEndpoint
from .ingest import WhipEndpoint

__all__ = ["WhepClient", "WhepEndpoint", "WhepError", "WhipClient", "WhipEndpoint"]
