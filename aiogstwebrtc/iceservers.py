"""Browser-style ICE server URLs (RFC 7064/7065) turned into what webrtcbin takes.

webrtcbin takes one ``stun-server`` (``stun://host:port``) and any number of TURN servers,
each added with ``add-turn-server`` as ``turn(s)://user:password@host:port[?transport=...]``
with the credentials percent-encoded (webrtcbin decodes them).

What the browser's ``RTCIceServer`` means and webrtcbin would otherwise do differently:

- ``turn:host`` without ``?transport=`` means TURN over UDP in a browser; webrtcbin, given
  no transport, allocates over both UDP and TCP. The URI we hand it names ``udp``.
- only the first STUN URL is used (webrtcbin has one ``stun-server``); every other one is
  reported in :attr:`IcePlan.ignored_stun` for the caller to log.
- ``turns:`` is TURN over TLS (TCP); a ``?transport=udp`` there is refused.

Nothing here does I/O or touches GStreamer: it is tested without a network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

__all__ = ["IcePlan", "IceUrl", "parse_ice_url", "plan_ice_servers"]

DEFAULT_PORTS = {"stun": 3478, "turn": 3478, "turns": 5349}

_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class IceUrl:
    """One parsed ``stun:``, ``turn:`` or ``turns:`` URL."""

    scheme: str
    host: str
    port: int
    transport: str | None = None  # "udp" or "tcp" as given in ``?transport=``

    @property
    def netloc(self) -> str:
        """``host:port``, an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def relay_protocol(self) -> str | None:
        """How we reach the TURN server: ``"udp"``, ``"tcp"`` or ``"tls"`` (None for STUN)."""
        if self.scheme == "turns":
            return "tls"
        if self.scheme == "turn":
            return self.transport or "udp"
        return None

    def webrtcbin_uri(self, username: str = "", credential: str = "") -> str:
        """The URI for webrtcbin's ``stun-server`` or ``add-turn-server``."""
        if self.scheme == "stun":
            return f"stun://{self.netloc}"
        user = quote(username, safe="")
        password = quote(credential, safe="")
        uri = f"{self.scheme}://{user}:{password}@{self.netloc}"
        if self.scheme == "turn":
            uri += f"?transport={self.transport or 'udp'}"
        return uri


def parse_ice_url(url: str) -> IceUrl:
    """Parse one ICE server URL; ``ValueError`` saying what is wrong with it."""
    if not isinstance(url, str):
        raise ValueError(f"an ICE server URL must be a string, not {url!r}")
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in DEFAULT_PORTS:
        raise ValueError(f"unknown ICE server scheme in {url!r} (use stun:, turn: or turns:)")
    rest = rest.removeprefix("//")  # webrtcbin's own form, accepted as well
    address, question, query = rest.partition("?")
    if "@" in address:
        raise ValueError(
            f"{url!r}: give the TURN credentials as username/credential, not in the URL"
        )
    match = _HOST.match(address)
    if match is None:
        raise ValueError(f"malformed ICE server URL {url!r} (expected {scheme}:host[:port])")
    host = match.group("v6") or match.group("name")
    port = int(match.group("port") or DEFAULT_PORTS[scheme])
    if not 0 < port < 65536:
        raise ValueError(f"{url!r}: port {port} is out of range")
    transport: str | None = None
    if question:
        key, equals, value = query.partition("=")
        if scheme == "stun" or key != "transport" or not equals:
            raise ValueError(f"{url!r}: unsupported query {query!r} (only turn(s):…?transport=)")
        transport = value.lower()
        if transport not in ("udp", "tcp"):
            raise ValueError(f"{url!r}: transport must be udp or tcp, not {value!r}")
        if scheme == "turns" and transport == "udp":
            raise ValueError(f"{url!r}: turns: runs over TLS, so over TCP, not UDP")
    return IceUrl(scheme, host, port, transport)


@dataclass(frozen=True)
class TurnServer:
    """One TURN URL with its credentials, as libnice's ``nice_agent_set_relay_info`` takes it."""

    host: str
    port: int
    username: str
    credential: str
    protocol: str  # "udp", "tcp" or "tls"


@dataclass(frozen=True)
class IcePlan:
    """What webrtcbin is given: its STUN server, its TURN servers, the STUN URLs left out."""

    stun: str | None = None
    turn: list[str] = field(default_factory=list)
    ignored_stun: list[str] = field(default_factory=list)
    #: ``(relay protocol, host:port)`` of each TURN URI, in order (no credentials).
    relays: list[tuple[str, str]] = field(default_factory=list)
    #: The TURN servers with their credentials (for new allocations at an ICE restart).
    turn_servers: list[TurnServer] = field(default_factory=list)


def plan_ice_servers(
    servers: Sequence[tuple[Sequence[str], str | None, str | None]],
) -> IcePlan:
    """The plan for ``(urls, username, credential)`` entries, as in ``RTCIceServer``.

    ``ValueError`` names the entry (``ice_servers[i]``) and the URL that is wrong.
    """
    plan = IcePlan()
    stun: str | None = None
    for index, (urls, username, credential) in enumerate(servers):
        if not urls:
            raise ValueError(f"ice_servers[{index}] has no URL")
        for url in urls:
            try:
                parsed = parse_ice_url(url)
            except ValueError as exc:
                raise ValueError(f"ice_servers[{index}]: {exc}") from None
            if parsed.scheme == "stun":
                if stun is None:
                    stun = parsed.webrtcbin_uri()
                else:
                    plan.ignored_stun.append(url)
                continue
            if not isinstance(username, str) or not isinstance(credential, str):
                raise ValueError(
                    f"ice_servers[{index}] ({url!r}): a TURN server needs a username and a "
                    "credential (strings)"
                )
            plan.turn.append(parsed.webrtcbin_uri(username, credential))
            plan.relays.append((parsed.relay_protocol or "udp", parsed.netloc))
            protocol = parsed.relay_protocol or "udp"
            server = TurnServer(parsed.host, parsed.port, username, credential, protocol)
            plan.turn_servers.append(server)
    return IcePlan(stun, plan.turn, plan.ignored_stun, plan.relays, plan.turn_servers)
