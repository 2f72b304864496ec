"""Signalling for aiogstwebrtc: GStreamer's ``webrtcsink``/``webrtcsrc`` protocol.

Three layers, none of which needs GStreamer:

* :mod:`.protocol` — the messages, their validation and JSON form (no I/O);
* :mod:`.router` — the server's rules (peers, sessions, routing) as a pure state machine;
* :mod:`.server` and :mod:`.client` — aiohttp websocket server and asyncio client;
* :mod:`.roles` — a media :class:`Producer` and a :class:`Consumer` built on the client
  and :class:`~aiogstwebrtc.PeerConnection` (GStreamer is imported only when they run);
* :mod:`.cluster` — several servers as one on Redis (``SignallingServer(redis_url=...)``,
  ``aiogstwebrtc[cluster]``; ``docs/cluster.md``).

::

    from aiogstwebrtc.signalling import SignallingServer, SignallingClient

    async with SignallingServer(port=0) as server:
        async with SignallingClient(server.url) as client:
            await client.set_peer_status(["listener"])
            print(await client.list_producers())

Exceptions (under :class:`aiogstwebrtc.errors.WebRTCError`)::

    SignallingError
    ├── ProtocolError (ValueError)                 not a valid protocol message
    ├── ServerError                                the server answered ``error``
    ├── SignallingClosedError (ClosedError)        the connection is closed
    └── SignallingTimeoutError (OperationTimeoutError, TimeoutError)   no answer in time
    ClusterUnavailableError                        Redis unreachable when a cluster server starts
"""

from __future__ import annotations

from .client import (
    ClientState,
    ServerError,
    SignallingClient,
    SignallingClosedError,
    SignallingTimeoutError,
)
from .cluster.errors import ClusterUnavailableError
from .protocol import (
    MAX_MESSAGE_SIZE,
    ClientMessage,
    ConsumerList,
    EndSession,
    ErrorMessage,
    IcePayload,
    ListConsumers,
    ListProducers,
    Message,
    PeerIce,
    PeerInfo,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    ProducerList,
    ProtocolError,
    SdpPayload,
    ServerMessage,
    SessionRequested,
    SessionStarted,
    SetPeerStatus,
    SetProtocolVersion,
    SignallingError,
    StartSession,
    Welcome,
    dumps,
    parse_client_message,
    parse_server_message,
)
from .roles import (
    ChatHandler,
    Consumer,
    ConsumerSession,
    Producer,
    ProducerSession,
    RoleSession,
    SourceFactory,
    echo_chat,
)
from .router import Router, Session
from .server import DEFAULT_HOST, DEFAULT_PORT, SignallingServer
from .token_failures import TokenFailures

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "MAX_MESSAGE_SIZE",
    "ChatHandler",
    "ClientMessage",
    "ClientState",
    "ClusterUnavailableError",
    "Consumer",
    "ConsumerList",
    "ConsumerSession",
    "EndSession",
    "ErrorMessage",
    "IcePayload",
    "ListConsumers",
    "ListProducers",
    "Message",
    "PeerIce",
    "PeerInfo",
    "PeerRole",
    "PeerSdp",
    "PeerStatusChanged",
    "Producer",
    "ProducerList",
    "ProducerSession",
    "ProtocolError",
    "RoleSession",
    "Router",
    "SdpPayload",
    "ServerError",
    "ServerMessage",
    "Session",
    "SessionRequested",
    "SessionStarted",
    "SetPeerStatus",
    "SetProtocolVersion",
    "SignallingClient",
    "SignallingClosedError",
    "SignallingError",
    "SignallingServer",
    "SignallingTimeoutError",
    "SourceFactory",
    "StartSession",
    "TokenFailures",
    "Welcome",
    "dumps",
    "echo_chat",
    "parse_client_message",
    "parse_server_message",
]
