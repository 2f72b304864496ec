"""WHEP playout (draft-ietf-wish-whep): serve broadcasts to players, and play them.

- :class:`WhepEndpoint`: ``POST/PATCH/DELETE {prefix}/{stream}`` in an aiohttp application
  (e.g. :attr:`aiogstwebrtc.signalling.SignallingServer.app`), each viewer fed by the
  stream's :class:`~aiogstwebrtc.media.Broadcast`;
- :class:`WhepClient`: ``tracks = await WhepClient(url).play()``.
"""

from __future__ import annotations

from .client import WhepClient, WhepError
from .endpoint import WhepEndpoint

__all__ = ["WhepClient", "WhepEndpoint", "WhepError"]
