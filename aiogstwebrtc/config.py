"""``Configuration``: how a peer connection is set up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .certificate import DEFAULT_VALIDITY
from .iceservers import IcePlan, plan_ice_servers

__all__ = ["DEFAULT_RECEIVE_CAP", "Configuration", "IceServer", "check_receive_cap"]

BUNDLE_POLICIES = ("balanced", "max-compat", "max-bundle")
ICE_TRANSPORT_POLICIES = ("all", "relay")
#: Bytes of received messages a data channel keeps unread before it closes with an error.
DEFAULT_RECEIVE_CAP = 16 << 20


def check_receive_cap(value: object, name: str) -> int:
    """``value`` if it is a valid receive cap (a positive int), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive number of bytes, not {value!r}")
    return value


@dataclass(frozen=True)
class IceServer:
    """A STUN or TURN server, as in the browser's ``RTCIceServer``."""

    urls: str | Sequence[str]
    username: str | None = None
    credential: str | None = None

    def url_list(self) -> list[str]:
        """``urls`` as a list."""
        return [self.urls] if isinstance(self.urls, str) else list(self.urls)


@dataclass(frozen=True)
class Configuration:
    """Settings of a :class:`~aiogstwebrtc.PeerConnection`.

    - ``ice_servers``: STUN/TURN servers as in the browser's ``iceServers``: URL strings,
      :class:`IceServer` objects or ``{"urls": ..., "username": ..., "credential": ...}``
      mappings; none by default (no traffic leaves your hosts). Every ``turn:``/``turns:``
      URL is used (``?transport=udp|tcp`` honoured; ``turn:`` alone means UDP as in
      browsers); webrtcbin takes one STUN server, so the first ``stun:`` URL is used and
      the others are logged at INFO as ignored. A malformed URL, an unknown scheme or a
      TURN server without username and credential raises ``ValueError`` naming the entry.
    - ``bundle_policy``: ``"max-bundle"`` (default), ``"balanced"`` or ``"max-compat"``.
    - ``ice_transport_policy``: ``"all"`` or ``"relay"``.
    - ``local_addresses``: extra addresses for ICE to gather, e.g. ``["127.0.0.1"]`` for
      loopback-only connections (libnice skips loopback otherwise).
    - ``operation_timeout``: seconds any single operation may take before
      :class:`~aiogstwebrtc.errors.OperationTimeoutError`.
    - ``init_data_channel``: the seed's Solution 2, an early ``"control"`` data channel.
    - ``strategy``: how promises are driven: ``"asyncio"`` (default), ``"sync"``,
      ``"callback"`` or ``"gi-events"`` (see :mod:`aiogstwebrtc.strategies`).
    - ``ice_tcp``: also gather TCP candidates (off by default).
    - ``dead_peer_timeout``: seconds of silence after which a vanished peer makes the
      connection ``failed`` (``disconnected`` after 40 % of it); None turns the watch off.
      Data-channel sessions reserve stream id 1023 for its keepalive.
    - ``certificate``: ``"ecdsa"`` (default, as browsers; needed by aiortc) or ``"rsa"``
      (webrtcbin's own).
    - ``data_channel_receive_cap``: bytes of received messages a data channel keeps
      unread (16 MiB by default); a peer sending more than the application reads closes
      the channel with an ``error`` event naming the cap. ``create_data_channel`` can set
      it per channel.
    - ``certificate_validity``: seconds the ECDSA certificate is valid for (30 days by
      default); new connections get a fresh one once half of that has passed.

    libnice's UPnP is always off.
    """

    ice_servers: Sequence[IceServer | Mapping[str, Any] | str] = field(default_factory=list)
    bundle_policy: str = "max-bundle"
    ice_transport_policy: str = "all"
    local_addresses: Sequence[str] | None = None
    operation_timeout: float = 10.0
    init_data_channel: bool = False
    strategy: str = "asyncio"
    ice_tcp: bool = False
    certificate: str = "ecdsa"
    dead_peer_timeout: float | None = 10.0
    certificate_validity: float = DEFAULT_VALIDITY
    data_channel_receive_cap: int = DEFAULT_RECEIVE_CAP

    def __post_init__(self) -> None:
        if self.bundle_policy not in BUNDLE_POLICIES:
            raise ValueError(f"bundle_policy must be one of {BUNDLE_POLICIES}")
        if self.ice_transport_policy not in ICE_TRANSPORT_POLICIES:
            raise ValueError(f"ice_transport_policy must be one of {ICE_TRANSPORT_POLICIES}")
        if self.certificate not in ("ecdsa", "rsa"):
            raise ValueError("certificate must be 'ecdsa' or 'rsa'")
        check_receive_cap(self.data_channel_receive_cap, "data_channel_receive_cap")
        if not self.certificate_validity > 0:
            raise ValueError("certificate_validity must be positive (seconds)")
        if self.dead_peer_timeout is not None and not self.dead_peer_timeout > 0:
            raise ValueError("dead_peer_timeout must be positive or None")
        if not self.operation_timeout > 0:
            raise ValueError("operation_timeout must be positive")
        from .strategies import STRATEGIES

        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        self.stun_and_turn()  # validates the servers

    def servers(self) -> list[IceServer]:
        """``ice_servers`` normalised to :class:`IceServer` objects."""
        result = []
        for server in self.ice_servers:
            if isinstance(server, IceServer):
                result.append(server)
            elif isinstance(server, str):
                result.append(IceServer(server))
            elif isinstance(server, Mapping) and "urls" in server:
                result.append(
                    IceServer(server["urls"], server.get("username"), server.get("credential"))
                )
            else:
                raise ValueError(
                    f"ice_servers[{len(result)}]: invalid ICE server {server!r} (a URL string, "
                    "an IceServer or a mapping with 'urls')"
                )
        return result

    def ice_plan(self) -> IcePlan:
        """What webrtcbin gets from ``ice_servers`` (see :mod:`aiogstwebrtc.iceservers`)."""
        return plan_ice_servers(
            [(server.url_list(), server.username, server.credential) for server in self.servers()]
        )

    def stun_and_turn(self) -> tuple[str | None, list[str]]:
        """webrtcbin's ``stun-server`` URI and its ``add-turn-server`` URIs.

        Only the first STUN URL is used (webrtcbin takes one); the peer logs the others
        at INFO when it starts.
        """
        plan = self.ice_plan()
        return plan.stun, plan.turn
