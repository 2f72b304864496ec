"""Several signalling servers acting as one, on Redis (``aiogstwebrtc[cluster]``).

* :mod:`.routing` — :class:`ClusterRouter`: the router plus the peers of other servers
  (no I/O);
* :mod:`.wire` — the Redis key and channel names and the JSON the servers exchange
  (no I/O);
* :mod:`.outbox` — the ordered queue of writes to Redis;
* :mod:`.node` — :class:`~.node.ClusterNode`: presence, heartbeats, failure detection,
  outage and re-sync (imports ``redis``; import it from there).

A :class:`~aiogstwebrtc.signalling.SignallingServer` given ``redis_url=`` builds all of
this itself; see ``docs/cluster.md``.
"""

from __future__ import annotations

from .errors import ClusterUnavailableError
from .routing import ClusterRouter, RoutedMessage

__all__ = ["ClusterRouter", "ClusterUnavailableError", "RoutedMessage"]
