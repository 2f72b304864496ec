"""Messages of the GStreamer ``webrtcsink``/``webrtcsrc`` signalling protocol, without I/O.

The protocol is the one spoken by gst-plugins-rs' signalling server and by the
``gstwebrtc-api`` browser library: one JSON object per websocket text message, its
``"type"`` member naming the message. This module turns text into typed, validated
message objects and back; it never touches a socket, so it is tested synchronously.

Messages a peer sends to the server (:data:`ClientMessage`)::

    setPeerStatus {roles, meta?, peerId?}     register as producer / consumer / listener
    list                                      ask for the producers
    listConsumers                             ask for the passive consumers
    startSession {peerId, offer?}             open a session with a producer (or a consumer)
    peer {sessionId, sdp: {type, sdp}}        forward a description to the other side
    peer {sessionId, ice: {candidate, sdpMLineIndex}}   forward an ICE candidate
    endSession {sessionId}                    end a session
    setProtocolVersion {version}              optional, first message only (newer webrtcsink)

Messages the server sends to a peer (:data:`ServerMessage`)::

    welcome {peerId}                          the connection's own peer id
    peerStatusChanged {peerId, roles, meta}   a peer (or this one) changed its roles
    list {producers: [{id, meta}]}            reply to ``list``
    listConsumers {consumers: [{id, meta}]}   reply to ``listConsumers``
    startSession {peerId, sessionId, offer?}  to a producer: a consumer wants a session
    sessionStarted {peerId, sessionId}        to a consumer: its session exists now
    peer {...}, endSession {sessionId}        forwarded from the other side
    error {details}                           the last request was refused

Exceptions::

    WebRTCError                         (aiogstwebrtc.errors)
    └── SignallingError                 anything from the signalling layer
        └── ProtocolError (ValueError)  text that is not a valid protocol message

The client module adds ``ServerError``, ``SignallingClosedError`` and
``SignallingTimeoutError`` under :class:`SignallingError`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias

from aiogstwebrtc.errors import WebRTCError

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_MESSAGE_SIZE",
    "MAX_META_DEPTH",
    "MAX_META_SIZE",
    "ClientMessage",
    "ConsumerList",
    "EndSession",
    "ErrorMessage",
    "IcePayload",
    "ListConsumers",
    "ListProducers",
    "Message",
    "Meta",
    "PeerIce",
    "PeerInfo",
    "PeerRole",
    "PeerSdp",
    "PeerStatusChanged",
    "ProducerList",
    "ProtocolError",
    "SdpPayload",
    "ServerMessage",
    "SessionRequested",
    "SessionStarted",
    "SetPeerStatus",
    "SetProtocolVersion",
    "SignallingError",
    "StartSession",
    "Welcome",
    "dumps",
    "loads_object",
    "parse_client_message",
    "parse_server_message",
]

MAX_MESSAGE_SIZE = 256 * 1024
"""Default largest accepted message, in UTF-8 bytes (SDP of a many-codec offer fits easily)."""

MAX_ID_LENGTH = 256
"""Longest accepted peer or session id, in characters."""

MAX_META_DEPTH = 16
"""Deepest nesting accepted inside a ``meta`` object."""

MAX_META_SIZE = 8 * 1024
"""Largest ``meta`` a peer may register, in bytes of JSON: the server repeats it to every
listener, so a big one would multiply traffic (``gstwebrtc-api`` only needs a name)."""

Meta: TypeAlias = dict[str, Any]
"""A peer's free-form ``meta`` JSON object (``gstwebrtc-api`` labels producers by ``name``)."""


class SignallingError(WebRTCError):
    """Base class of every error of the signalling layer."""


class ProtocolError(SignallingError, ValueError):
    """Text that is not a valid signalling message; the message says what and where.

    ``message_type`` is the ``"type"`` of the offending message when it was readable.
    """

    def __init__(self, message: str, *, message_type: str | None = None) -> None:
        super().__init__(message)
        self.message_type = message_type


class PeerRole(enum.StrEnum):
    """A role a peer registers with ``setPeerStatus``."""

    PRODUCER = "producer"
    """Serves media: consumers start sessions with it and it sends the offer."""
    CONSUMER = "consumer"
    """Passive consumer: waits for a producer to start a session with it."""
    LISTENER = "listener"
    """Receives ``peerStatusChanged`` about every peer."""


SdpType: TypeAlias = Literal["offer", "answer"]


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True, slots=True)
class SdpPayload:
    """The ``sdp`` member of a ``peer`` message: ``{"type": "offer"|"answer", "sdp": text}``."""

    type: SdpType
    sdp: str

    def to_dict(self) -> dict[str, str]:
        """Return the JSON-ready form (the shape of a browser ``RTCSessionDescriptionInit``)."""
        return {"type": self.type, "sdp": self.sdp}

    @classmethod
    def from_dict(cls, value: object, where: str = "sdp") -> SdpPayload:
        """Validate ``value`` (``type`` and ``sdp``); raise :class:`ProtocolError`."""
        obj = _object(value, where)
        sdp_type = obj.get("type")
        if sdp_type not in ("offer", "answer"):
            raise ProtocolError(f"{where}.type must be 'offer' or 'answer', got {_show(sdp_type)}")
        text = _string(obj, "sdp", where, max_length=None)
        if not text.strip():
            raise ProtocolError(f"{where}.sdp is empty")
        return cls(type=sdp_type, sdp=text)


@dataclass(frozen=True, slots=True)
class IcePayload:
    """The ``ice`` member of a ``peer`` message (a browser ``RTCIceCandidateInit``).

    ``sdp_mid`` and ``username_fragment`` are optional extras browsers send; GStreamer
    peers ignore them.
    """

    candidate: str
    sdp_m_line_index: int
    sdp_mid: str | None = None
    username_fragment: str | None = None

    def to_dict(self) -> dict[str, str | int]:
        """Return the JSON-ready form with camelCase keys."""
        out: dict[str, str | int] = {
            "candidate": self.candidate,
            "sdpMLineIndex": self.sdp_m_line_index,
        }
        if self.sdp_mid is not None:
            out["sdpMid"] = self.sdp_mid
        if self.username_fragment is not None:
            out["usernameFragment"] = self.username_fragment
        return out

    @classmethod
    def from_dict(cls, value: object, where: str = "ice") -> IcePayload:
        """Validate ``value`` (``candidate``, ``sdpMLineIndex``); raise :class:`ProtocolError`."""
        obj = _object(value, where)
        candidate = _string(obj, "candidate", where, max_length=None, allow_empty=True)
        index = obj.get("sdpMLineIndex")
        if type(index) is not int or not 0 <= index <= 0xFFFF:
            raise ProtocolError(
                f"{where}.sdpMLineIndex must be an integer in 0..65535, got {_show(index)}"
            )
        return cls(
            candidate=candidate,
            sdp_m_line_index=index,
            sdp_mid=_optional_string(obj, "sdpMid", where),
            username_fragment=_optional_string(obj, "usernameFragment", where),
        )


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """One entry of a ``list`` / ``listConsumers`` reply."""

    id: str
    meta: Meta | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form ``{"id": ..., "meta": ...}``."""
        return {"id": self.id, "meta": self.meta}


# --------------------------------------------------------------------------- messages


class Message:
    """Base of every message; ``TYPE`` is its ``"type"`` on the wire."""

    __slots__ = ()
    TYPE: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object, ``"type"`` included."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class SetProtocolVersion(Message):
    """``setProtocolVersion``: sent first by newer webrtcsink/webrtcsrc; accepted and noted."""

    TYPE: ClassVar[str] = "setProtocolVersion"
    version: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "version": self.version}


@dataclass(frozen=True, slots=True)
class SetPeerStatus(Message):
    """``setPeerStatus``: register the sender with ``roles`` and ``meta``."""

    TYPE: ClassVar[str] = "setPeerStatus"
    roles: tuple[PeerRole, ...]
    meta: Meta | None = None
    peer_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object (``peerId`` only when set)."""
        out: dict[str, Any] = {
            "type": self.TYPE,
            "roles": [str(r) for r in self.roles],
            "meta": self.meta,
        }
        if self.peer_id is not None:
            out["peerId"] = self.peer_id
        return out


@dataclass(frozen=True, slots=True)
class ListProducers(Message):
    """``list``: ask the server for the registered producers."""

    TYPE: ClassVar[str] = "list"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE}


@dataclass(frozen=True, slots=True)
class ListConsumers(Message):
    """``listConsumers``: ask the server for the registered passive consumers."""

    TYPE: ClassVar[str] = "listConsumers"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE}


@dataclass(frozen=True, slots=True)
class StartSession(Message):
    """``startSession`` from a peer: open a session with ``peer_id``.

    ``offer`` is an SDP text when the consumer offers; usually the producer offers.
    """

    TYPE: ClassVar[str] = "startSession"
    peer_id: str
    offer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object (``offer`` only when set)."""
        out: dict[str, Any] = {"type": self.TYPE, "peerId": self.peer_id}
        if self.offer is not None:
            out["offer"] = self.offer
        return out


@dataclass(frozen=True, slots=True)
class EndSession(Message):
    """``endSession``: end ``session_id`` (both directions)."""

    TYPE: ClassVar[str] = "endSession"
    session_id: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "sessionId": self.session_id}


@dataclass(frozen=True, slots=True)
class PeerSdp(Message):
    """``peer`` carrying a session description (both directions)."""

    TYPE: ClassVar[str] = "peer"
    session_id: str
    sdp: SdpPayload

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "sessionId": self.session_id, "sdp": self.sdp.to_dict()}


@dataclass(frozen=True, slots=True)
class PeerIce(Message):
    """``peer`` carrying an ICE candidate (both directions)."""

    TYPE: ClassVar[str] = "peer"
    session_id: str
    ice: IcePayload

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "sessionId": self.session_id, "ice": self.ice.to_dict()}


@dataclass(frozen=True, slots=True)
class Welcome(Message):
    """``welcome``: the first message of every connection, naming its peer id."""

    TYPE: ClassVar[str] = "welcome"
    peer_id: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "peerId": self.peer_id}


@dataclass(frozen=True, slots=True)
class PeerStatusChanged(Message):
    """``peerStatusChanged``: ``peer_id`` now has ``roles`` (empty when it left)."""

    TYPE: ClassVar[str] = "peerStatusChanged"
    peer_id: str
    roles: tuple[PeerRole, ...]
    meta: Meta | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {
            "type": self.TYPE,
            "peerId": self.peer_id,
            "roles": [str(r) for r in self.roles],
            "meta": self.meta,
        }


@dataclass(frozen=True, slots=True)
class ProducerList(Message):
    """``list`` reply: the registered producers."""

    TYPE: ClassVar[str] = "list"
    producers: tuple[PeerInfo, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "producers": [p.to_dict() for p in self.producers]}


@dataclass(frozen=True, slots=True)
class ConsumerList(Message):
    """``listConsumers`` reply: the registered passive consumers."""

    TYPE: ClassVar[str] = "listConsumers"
    consumers: tuple[PeerInfo, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "consumers": [p.to_dict() for p in self.consumers]}


@dataclass(frozen=True, slots=True)
class SessionRequested(Message):
    """``startSession`` from the server to a producer: serve ``peer_id`` in ``session_id``.

    ``peer_id`` is the *other* side (the consumer); ``offer`` is its SDP when it offers.
    """

    TYPE: ClassVar[str] = "startSession"
    peer_id: str
    session_id: str
    offer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object (``offer`` only when set)."""
        out: dict[str, Any] = {
            "type": self.TYPE,
            "peerId": self.peer_id,
            "sessionId": self.session_id,
        }
        if self.offer is not None:
            out["offer"] = self.offer
        return out


@dataclass(frozen=True, slots=True)
class SessionStarted(Message):
    """``sessionStarted``: to a consumer, its session with producer ``peer_id`` exists."""

    TYPE: ClassVar[str] = "sessionStarted"
    peer_id: str
    session_id: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "peerId": self.peer_id, "sessionId": self.session_id}


@dataclass(frozen=True, slots=True)
class ErrorMessage(Message):
    """``error``: the server refused something; ``details`` says what.

    Errors from this package's server start with the refused message's type and a
    colon (``"startSession: no peer 'x'"``), which the client uses to match them, or,
    when the type is not known, with ``invalid JSON:``, ``invalid message:`` or
    ``rate limit:``. They never carry server internals: no tracebacks, exception
    reprs, paths, or anything about other peers beyond ids the sender named itself.
    """

    TYPE: ClassVar[str] = "error"
    details: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready object."""
        return {"type": self.TYPE, "details": self.details}


ClientMessage: TypeAlias = (
    SetProtocolVersion
    | SetPeerStatus
    | ListProducers
    | ListConsumers
    | StartSession
    | EndSession
    | PeerSdp
    | PeerIce
)
"""A message a peer sends to the server."""

ServerMessage: TypeAlias = (
    Welcome
    | PeerStatusChanged
    | ProducerList
    | ConsumerList
    | SessionRequested
    | SessionStarted
    | EndSession
    | PeerSdp
    | PeerIce
    | ErrorMessage
)
"""A message the server sends to a peer."""


# --------------------------------------------------------------------------- encoding


def dumps(message: Message) -> str:
    """Serialise ``message`` to the compact JSON text sent on the wire."""
    return json.dumps(message.to_dict(), separators=(",", ":"), allow_nan=False)


def _no_constant(name: str) -> Any:
    raise ProtocolError(f"invalid JSON: {name} is not allowed")


def loads_object(data: str | bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> dict[str, Any]:
    """Decode one message's JSON text into a dict, enforcing ``max_size`` UTF-8 bytes.

    Raise :class:`ProtocolError` for oversize text, bad JSON, NaN/Infinity, nesting too
    deep for the parser, or anything but a JSON object.
    """
    size = len(data) if isinstance(data, bytes) else _utf8_length(data, max_size)
    if size > max_size:
        raise ProtocolError(f"invalid message: {size} bytes is over the limit of {max_size}")
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except ProtocolError:
        raise
    except RecursionError:
        raise ProtocolError("invalid JSON: nested too deeply") from None
    except json.JSONDecodeError as exc:  # position and reason, nothing about this server
        raise ProtocolError(
            f"invalid JSON: {_short(exc.msg, 60)} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError:
        raise ProtocolError("invalid JSON: the text is not valid UTF-8") from None
    except (ValueError, TypeError):  # an integer with thousands of digits
        raise ProtocolError("invalid JSON: a number is too long") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"invalid message: expected a JSON object, got {_show(value)}")
    return value


def _utf8_length(text: str, limit: int) -> int:
    """UTF-8 length of ``text``, without encoding when it is ASCII or clearly over ``limit``."""
    if len(text) > limit or text.isascii():
        return len(text)  # over already: every character is at least one byte
    return len(text.encode("utf-8", "surrogatepass"))


def _message_type(obj: Mapping[str, Any]) -> str:
    msg_type = obj.get("type")
    if not isinstance(msg_type, str):
        raise ProtocolError(f"invalid message: 'type' must be a string, got {_show(msg_type)}")
    return msg_type


def parse_client_message(data: str | bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> ClientMessage:
    """Parse and validate a message a peer sent to the server.

    Raise :class:`ProtocolError` (with ``message_type`` set when known) if it is not one.
    Unknown extra members are ignored, as GStreamer's own server does.
    """
    obj = loads_object(data, max_size=max_size)
    msg_type = _message_type(obj)
    parser = _CLIENT_PARSERS.get(msg_type)
    if parser is None:
        raise ProtocolError(f"invalid message: unknown type {_show(msg_type)}")
    try:
        return parser(obj)
    except ProtocolError as exc:
        raise ProtocolError(f"{msg_type}: {exc}", message_type=msg_type) from None


def parse_server_message(data: str | bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> ServerMessage:
    """Parse and validate a message the server sent to a peer.

    Raise :class:`ProtocolError` (with ``message_type`` set when known) if it is not one.
    """
    obj = loads_object(data, max_size=max_size)
    msg_type = _message_type(obj)
    parser = _SERVER_PARSERS.get(msg_type)
    if parser is None:
        raise ProtocolError(f"invalid message: unknown type {_show(msg_type)}")
    try:
        return parser(obj)
    except ProtocolError as exc:
        raise ProtocolError(f"{msg_type}: {exc}", message_type=msg_type) from None


# --------------------------------------------------------------------------- parsers


def _parse_set_protocol_version(obj: Mapping[str, Any]) -> SetProtocolVersion:
    return SetProtocolVersion(version=_string(obj, "version", "", max_length=32))


def _parse_set_peer_status(obj: Mapping[str, Any]) -> SetPeerStatus:
    return SetPeerStatus(
        roles=parse_roles(obj.get("roles"), "roles"),
        meta=parse_meta(obj.get("meta"), "meta", max_size=MAX_META_SIZE),
        peer_id=_optional_id(obj, "peerId"),
    )


def _parse_list(obj: Mapping[str, Any]) -> ListProducers:
    return ListProducers()


def _parse_list_consumers(obj: Mapping[str, Any]) -> ListConsumers:
    return ListConsumers()


def _parse_start_session(obj: Mapping[str, Any]) -> StartSession:
    return StartSession(peer_id=_id(obj, "peerId"), offer=_optional_sdp_text(obj, "offer"))


def _parse_end_session(obj: Mapping[str, Any]) -> EndSession:
    return EndSession(session_id=_id(obj, "sessionId"))


def _parse_peer(obj: Mapping[str, Any]) -> PeerSdp | PeerIce:
    session_id = _id(obj, "sessionId")
    sdp, ice = obj.get("sdp"), obj.get("ice")
    if sdp is not None and ice is not None:
        raise ProtocolError("carries both 'sdp' and 'ice'")
    if sdp is not None:
        return PeerSdp(session_id=session_id, sdp=SdpPayload.from_dict(sdp))
    if ice is not None:
        return PeerIce(session_id=session_id, ice=IcePayload.from_dict(ice))
    raise ProtocolError("carries neither 'sdp' nor 'ice'")


def _parse_welcome(obj: Mapping[str, Any]) -> Welcome:
    return Welcome(peer_id=_id(obj, "peerId"))


def _parse_peer_status_changed(obj: Mapping[str, Any]) -> PeerStatusChanged:
    return PeerStatusChanged(
        peer_id=_id(obj, "peerId"),
        roles=parse_roles(obj.get("roles"), "roles"),
        meta=parse_meta(obj.get("meta"), "meta"),
    )


def _parse_peer_list(value: object, where: str) -> tuple[PeerInfo, ...]:
    if not isinstance(value, list):
        raise ProtocolError(f"{where} must be a list, got {_show(value)}")
    out = []
    for i, item in enumerate(value):
        entry = _object(item, f"{where}[{i}]")
        out.append(
            PeerInfo(
                id=_id(entry, "id", f"{where}[{i}]"),
                meta=parse_meta(entry.get("meta"), f"{where}[{i}].meta"),
            )
        )
    return tuple(out)


def _parse_producer_list(obj: Mapping[str, Any]) -> ProducerList:
    return ProducerList(producers=_parse_peer_list(obj.get("producers"), "producers"))


def _parse_consumer_list(obj: Mapping[str, Any]) -> ConsumerList:
    return ConsumerList(consumers=_parse_peer_list(obj.get("consumers"), "consumers"))


def _parse_session_requested(obj: Mapping[str, Any]) -> SessionRequested:
    return SessionRequested(
        peer_id=_id(obj, "peerId"),
        session_id=_id(obj, "sessionId"),
        offer=_optional_sdp_text(obj, "offer"),
    )


def _parse_session_started(obj: Mapping[str, Any]) -> SessionStarted:
    return SessionStarted(peer_id=_id(obj, "peerId"), session_id=_id(obj, "sessionId"))


def _parse_error(obj: Mapping[str, Any]) -> ErrorMessage:
    return ErrorMessage(details=_string(obj, "details", "", max_length=None, allow_empty=True))


_CLIENT_PARSERS: dict[str, Callable[[Mapping[str, Any]], ClientMessage]] = {
    "setProtocolVersion": _parse_set_protocol_version,
    "setPeerStatus": _parse_set_peer_status,
    "list": _parse_list,
    "listConsumers": _parse_list_consumers,
    "startSession": _parse_start_session,
    "endSession": _parse_end_session,
    "peer": _parse_peer,
}

_SERVER_PARSERS: dict[str, Callable[[Mapping[str, Any]], ServerMessage]] = {
    "welcome": _parse_welcome,
    "peerStatusChanged": _parse_peer_status_changed,
    "list": _parse_producer_list,
    "listConsumers": _parse_consumer_list,
    "startSession": _parse_session_requested,
    "sessionStarted": _parse_session_started,
    "endSession": _parse_end_session,
    "peer": _parse_peer,
    "error": _parse_error,
}


# --------------------------------------------------------------------------- field checks


def parse_roles(value: object, where: str = "roles") -> tuple[PeerRole, ...]:
    """Validate a list of role names; duplicates are dropped, order kept."""
    if not isinstance(value, list):
        raise ProtocolError(f"{where} must be a list of roles, got {_show(value)}")
    if len(value) > 8:
        raise ProtocolError(f"{where} has {len(value)} entries, at most 8 are accepted")
    roles: list[PeerRole] = []
    for item in value:
        if not isinstance(item, str) or item not in PeerRole._value2member_map_:
            known = ", ".join(repr(str(r)) for r in PeerRole)
            raise ProtocolError(f"{where}: unknown role {_show(item)} (known: {known})")
        role = PeerRole(item)
        if role not in roles:
            roles.append(role)
    return tuple(roles)


def coerce_roles(roles: Iterable[PeerRole | str]) -> tuple[PeerRole, ...]:
    """Turn role names or :class:`PeerRole` values into a validated tuple."""
    if isinstance(roles, str):
        raise ProtocolError("roles must be an iterable of role names, not a single string")
    return parse_roles([str(r) for r in roles])


def parse_meta(value: object, where: str = "meta", *, max_size: int | None = None) -> Meta | None:
    """Validate ``meta``: a JSON object nested at most :data:`MAX_META_DEPTH` deep, or null.

    With ``max_size``, its compact JSON form must not be longer than that many bytes.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} must be an object or null, got {_show(value)}")
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_META_DEPTH:
            raise ProtocolError(f"{where} is nested deeper than {MAX_META_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    if max_size is not None:
        try:
            size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
        except (TypeError, ValueError) as exc:
            raise ProtocolError(f"{where} is not JSON: {_short(str(exc))}") from None
        if size > max_size:
            raise ProtocolError(f"{where} is {size} bytes of JSON, over the limit of {max_size}")
    return value


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} must be an object, got {_show(value)}")
    return value


def _string(
    obj: Mapping[str, Any],
    key: str,
    where: str,
    *,
    max_length: int | None = MAX_ID_LENGTH,
    allow_empty: bool = False,
) -> str:
    name = f"{where}.{key}" if where else key
    value = obj.get(key)
    if value is None and key not in obj:
        raise ProtocolError(f"missing '{name}'")
    if not isinstance(value, str):
        raise ProtocolError(f"'{name}' must be a string, got {_show(value)}")
    if not value and not allow_empty:
        raise ProtocolError(f"'{name}' is empty")
    if max_length is not None and len(value) > max_length:
        raise ProtocolError(f"'{name}' is longer than {max_length} characters")
    return value


def _optional_string(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    if obj.get(key) is None:
        return None
    return _string(obj, key, where, allow_empty=True)


def _id(obj: Mapping[str, Any], key: str, where: str = "") -> str:
    return _string(obj, key, where)


def _optional_id(obj: Mapping[str, Any], key: str) -> str | None:
    return None if obj.get(key) is None else _id(obj, key)


def _optional_sdp_text(obj: Mapping[str, Any], key: str) -> str | None:
    if obj.get(key) is None:
        return None
    return _string(obj, key, "", max_length=None)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: object) -> str:
    """Describe a bad value briefly without echoing large input back."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(_short(value, 40))
    if isinstance(value, int | float):
        return _short(repr(value), 40)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__
