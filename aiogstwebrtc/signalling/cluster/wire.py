"""What the servers of a cluster write to Redis, as names and JSON, without I/O.

Keys and channels, with ``P`` = ``aiogstwebrtc:<db>`` (pub/sub channels are not scoped
by Redis database, so the database number is part of every name):

=========================  ===========================================================
``P:servers``              set of the server ids that announced themselves
``P:server:<id>``          the server is alive; expires ``heartbeat * missed_beats`` after
                           its last beat (JSON: ``{"beat": unix time of that beat}``)
``P:peers:<id>``           hash: each peer connected to that server -> ``{"r": roles,
                           "m": meta}``; same expiry as the server key
``P:presence``             channel, every server: a peer connected or changed
                           (``{"t": "peer", "s", "p", "r", "m"}``), left
                           (``{"t": "gone", "s", "p"}``), or a server stopped
                           (``{"t": "down", "s"}``)
``P:inbox:<id>``           channel, one server: a message for one of its peers
                           (``{"s": origin, "to": peer, "m": message}``)
=========================  ===========================================================
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..protocol import (
    Meta,
    PeerRole,
    ProtocolError,
    ServerMessage,
    parse_roles,
    parse_server_message,
)
from .routing import RoutedMessage

__all__ = [
    "Gone",
    "Keys",
    "PeerUp",
    "Routed",
    "ServerDown",
    "check_server_id",
    "decode_presence",
    "decode_routed",
    "encode_gone",
    "encode_peer",
    "encode_routed",
    "encode_server_down",
    "parse_peer_record",
    "peer_record",
]

_SERVER_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def check_server_id(server_id: str) -> str:
    """``server_id`` if it is 1-64 letters, digits, ``.``, ``_`` or ``-``; else ValueError."""
    if not _SERVER_ID.fullmatch(server_id):
        raise ValueError(
            f"invalid server id {server_id!r}: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return server_id


@dataclass(frozen=True, slots=True)
class Keys:
    """The Redis names of one cluster (one Redis database) seen from server ``me``."""

    prefix: str
    me: str

    @classmethod
    def for_database(cls, db: int, me: str) -> Keys:
        """The names for Redis database ``db``."""
        return cls(f"aiogstwebrtc:{db}", me)

    @property
    def servers(self) -> str:
        """The set of server ids."""
        return f"{self.prefix}:servers"

    @property
    def presence(self) -> str:
        """The channel every server listens to."""
        return f"{self.prefix}:presence"

    def server(self, server_id: str | None = None) -> str:
        """The liveness key of ``server_id`` (this server's by default)."""
        return f"{self.prefix}:server:{server_id or self.me}"

    def peers(self, server_id: str | None = None) -> str:
        """The peer hash of ``server_id`` (this server's by default)."""
        return f"{self.prefix}:peers:{server_id or self.me}"

    def inbox(self, server_id: str | None = None) -> str:
        """The channel of ``server_id`` (this server's by default)."""
        return f"{self.prefix}:inbox:{server_id or self.me}"

    def addresses(self, server_id: str | None = None) -> str:
        """The hash of ``server_id``'s connections per client address (address -> count)."""
        return f"{self.prefix}:addresses:{server_id or self.me}"

    def attempts(self, server_id: str | None = None) -> str:
        """The hash of the connections ``server_id`` admitted per client address during
        its last beat (address -> count, and :data:`BEAT_FIELD` -> the beat's serial)."""
        return f"{self.prefix}:attempts:{server_id or self.me}"

    def token_blocked(self, server_id: str | None = None) -> str:
        """The set of client addresses ``server_id`` refuses for their failed tokens."""
        return f"{self.prefix}:token-blocked:{server_id or self.me}"


@dataclass(frozen=True, slots=True)
class PeerUp:
    """A peer of ``server`` is connected with ``roles`` and ``meta``."""

    server: str
    peer_id: str
    roles: tuple[PeerRole, ...]
    meta: Meta | None


@dataclass(frozen=True, slots=True)
class Gone:
    """A peer of ``server`` left."""

    server: str
    peer_id: str


@dataclass(frozen=True, slots=True)
class ServerDown:
    """``server`` stopped (cleanly)."""

    server: str


@dataclass(frozen=True, slots=True)
class Routed:
    """``message`` for peer ``to``, from server ``origin``."""

    origin: str
    to: str
    message: RoutedMessage


def peer_record(roles: tuple[PeerRole, ...], meta: Meta | None) -> str:
    """The value of a peer in its server's hash."""
    return json.dumps({"r": [str(r) for r in roles], "m": meta}, separators=(",", ":"))


def parse_peer_record(text: str | bytes) -> tuple[tuple[PeerRole, ...], Meta | None]:
    """Roles and meta from :func:`peer_record` text; ProtocolError if malformed."""
    obj = _object(text)
    return _roles(obj.get("r")), _meta(obj.get("m"))


def encode_peer(server: str, peer_id: str, roles: tuple[PeerRole, ...], meta: Meta | None) -> str:
    """A presence message: the peer is connected with these roles."""
    return json.dumps(
        {"t": "peer", "s": server, "p": peer_id, "r": [str(r) for r in roles], "m": meta},
        separators=(",", ":"),
    )


def encode_gone(server: str, peer_id: str) -> str:
    """A presence message: the peer left."""
    return json.dumps({"t": "gone", "s": server, "p": peer_id}, separators=(",", ":"))


def encode_server_down(server: str) -> str:
    """A presence message: the server stopped."""
    return json.dumps({"t": "down", "s": server}, separators=(",", ":"))


def decode_presence(text: str | bytes) -> PeerUp | Gone | ServerDown:
    """Parse a presence message; ProtocolError if malformed."""
    obj = _object(text)
    kind, server = obj.get("t"), _string(obj.get("s"), "s")
    if kind == "down":
        return ServerDown(server)
    peer_id = _string(obj.get("p"), "p")
    if kind == "gone":
        return Gone(server, peer_id)
    if kind == "peer":
        return PeerUp(server, peer_id, _roles(obj.get("r")), _meta(obj.get("m")))
    raise ProtocolError(f"unknown presence message {kind!r}")


def encode_routed(origin: str, to: str, message: ServerMessage) -> str:
    """A routed message for peer ``to``."""
    return json.dumps({"s": origin, "to": to, "m": message.to_dict()}, separators=(",", ":"))


def decode_routed(text: str | bytes) -> Routed:
    """Parse a routed message; ProtocolError if malformed or not a routable type."""
    obj = _object(text)
    message = parse_server_message(json.dumps(obj.get("m")))
    if not isinstance(message, RoutedMessage):
        raise ProtocolError(f"{message.TYPE} is not routed between servers")
    return Routed(_string(obj.get("s"), "s"), _string(obj.get("to"), "to"), message)


def _object(text: str | bytes) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("not a JSON object")
    return obj


def _string(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{name!r} must be a non-empty string")
    return value


def _roles(value: object) -> tuple[PeerRole, ...]:
    return parse_roles(value, "'r'")


def _meta(value: object) -> Meta | None:
    if value is not None and not isinstance(value, dict):
        raise ProtocolError("'m' must be an object or null")
    return value
