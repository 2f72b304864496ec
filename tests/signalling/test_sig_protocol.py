"""Protocol messages: parsing, validation and serialisation, without sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiogstwebrtc.errors import WebRTCError
from aiogstwebrtc.signalling import protocol as p
from aiogstwebrtc.signalling.protocol import (
    ConsumerList,
    EndSession,
    ErrorMessage,
    IcePayload,
    ListConsumers,
    ListProducers,
    PeerIce,
    PeerInfo,
    PeerRole,
    PeerSdp,
    PeerStatusChanged,
    ProducerList,
    ProtocolError,
    SdpPayload,
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

from .sigtools import ANSWER_SDP, CANDIDATE, OFFER_SDP

CLIENT_MESSAGES: list[p.ClientMessage] = [
    SetProtocolVersion(version="1.1"),
    SetPeerStatus(roles=(PeerRole.PRODUCER,), meta={"name": "cam"}, peer_id="me"),
    SetPeerStatus(roles=(PeerRole.LISTENER, PeerRole.PRODUCER), meta=None),
    SetPeerStatus(roles=()),
    ListProducers(),
    ListConsumers(),
    StartSession(peer_id="prod"),
    StartSession(peer_id="prod", offer=OFFER_SDP),
    EndSession(session_id="s1"),
    PeerSdp(session_id="s1", sdp=SdpPayload("offer", OFFER_SDP)),
    PeerSdp(session_id="s1", sdp=SdpPayload("answer", ANSWER_SDP)),
    PeerIce(session_id="s1", ice=IcePayload(CANDIDATE, 0)),
    PeerIce(session_id="s1", ice=IcePayload(CANDIDATE, 1, sdp_mid="1", username_fragment="u")),
]

SERVER_MESSAGES: list[p.ServerMessage] = [
    Welcome(peer_id="me"),
    PeerStatusChanged(peer_id="prod", roles=(PeerRole.PRODUCER,), meta={"name": "cam"}),
    PeerStatusChanged(peer_id="prod", roles=(), meta=None),
    ProducerList(producers=(PeerInfo("a", {"name": "x"}), PeerInfo("b"))),
    ProducerList(),
    ConsumerList(consumers=(PeerInfo("c"),)),
    SessionRequested(peer_id="cons", session_id="s1"),
    SessionRequested(peer_id="cons", session_id="s1", offer=OFFER_SDP),
    SessionStarted(peer_id="prod", session_id="s1"),
    EndSession(session_id="s1"),
    PeerSdp(session_id="s1", sdp=SdpPayload("offer", OFFER_SDP)),
    PeerIce(session_id="s1", ice=IcePayload(CANDIDATE, 0, sdp_mid="0")),
    ErrorMessage(details="startSession: no peer 'x'"),
]


@pytest.mark.parametrize("message", CLIENT_MESSAGES, ids=lambda m: type(m).__name__)
def test_client_messages_round_trip(message: p.ClientMessage) -> None:
    text = dumps(message)
    assert json.loads(text)["type"] == message.TYPE
    assert parse_client_message(text) == message


@pytest.mark.parametrize("message", SERVER_MESSAGES, ids=lambda m: type(m).__name__)
def test_server_messages_round_trip(message: p.ServerMessage) -> None:
    text = dumps(message)
    assert json.loads(text)["type"] == message.TYPE
    assert parse_server_message(text) == message


# Wire forms as GStreamer's peers and gstwebrtc-api write and expect them.
WIRE: list[tuple[Any, p.Message]] = [
    ({"type": "welcome", "peerId": "a"}, Welcome("a")),
    (
        {"type": "peerStatusChanged", "peerId": "a", "roles": ["producer"], "meta": {"name": "n"}},
        PeerStatusChanged("a", (PeerRole.PRODUCER,), {"name": "n"}),
    ),
    (
        {"type": "startSession", "peerId": "c", "sessionId": "s"},
        SessionRequested(peer_id="c", session_id="s"),
    ),
    ({"type": "sessionStarted", "peerId": "p", "sessionId": "s"}, SessionStarted("p", "s")),
    ({"type": "list", "producers": [{"id": "p", "meta": None}]}, ProducerList((PeerInfo("p"),))),
    ({"type": "listConsumers", "consumers": []}, ConsumerList(())),
    ({"type": "endSession", "sessionId": "s"}, EndSession("s")),
    ({"type": "error", "details": "nope"}, ErrorMessage("nope")),
    (
        {"type": "peer", "sessionId": "s", "sdp": {"type": "offer", "sdp": OFFER_SDP}},
        PeerSdp("s", SdpPayload("offer", OFFER_SDP)),
    ),
    (
        {"type": "peer", "sessionId": "s", "ice": {"candidate": CANDIDATE, "sdpMLineIndex": 0}},
        PeerIce("s", IcePayload(CANDIDATE, 0)),
    ),
]


@pytest.mark.parametrize("wire,message", WIRE, ids=lambda v: getattr(v, "TYPE", ""))
def test_server_wire_forms(wire: dict[str, Any], message: p.Message) -> None:
    assert json.loads(dumps(message)) == wire
    assert parse_server_message(json.dumps(wire)) == message


def test_client_wire_forms_of_gstwebrtc_api_and_webrtcsink() -> None:
    # gstwebrtc-api: setPeerStatus without peerId; meta may be missing (undefined)
    assert parse_client_message('{"type":"setPeerStatus","roles":["listener"]}') == SetPeerStatus(
        roles=(PeerRole.LISTENER,)
    )
    # webrtcsink: includes its own peerId and a null meta
    msg = parse_client_message(
        '{"type":"setPeerStatus","roles":["producer"],"meta":null,"peerId":"x"}'
    )
    assert msg == SetPeerStatus(roles=(PeerRole.PRODUCER,), meta=None, peer_id="x")
    # browser candidate.toJSON(): sdpMid and usernameFragment are kept, null ones dropped
    ice = {"candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": None}
    msg = parse_client_message(json.dumps({"type": "peer", "sessionId": "s", "ice": ice}))
    assert msg == PeerIce("s", IcePayload(CANDIDATE, 0, sdp_mid="0"))
    assert json.loads(dumps(msg))["ice"] == {
        "candidate": CANDIDATE,
        "sdpMLineIndex": 0,
        "sdpMid": "0",
    }
    # the end-of-candidates candidate some browsers send is an empty string
    msg = parse_client_message(
        json.dumps({"type": "peer", "sessionId": "s", "ice": {"candidate": "", "sdpMLineIndex": 0}})
    )
    assert isinstance(msg, PeerIce) and msg.ice.candidate == ""
    # startSession with offer: null, unknown extra members ignored
    msg = parse_client_message('{"type":"startSession","peerId":"p","offer":null,"extra":[1]}')
    assert msg == StartSession(peer_id="p")


def test_dumps_is_compact_json_with_type_first() -> None:
    text = dumps(StartSession(peer_id="p"))
    assert text == '{"type":"startSession","peerId":"p"}'


def test_roles_are_deduplicated_in_order() -> None:
    msg = parse_client_message(
        '{"type":"setPeerStatus","roles":["listener","producer","listener"]}'
    )
    assert isinstance(msg, SetPeerStatus)
    assert msg.roles == (PeerRole.LISTENER, PeerRole.PRODUCER)


def test_error_hierarchy() -> None:
    assert issubclass(SignallingError, WebRTCError)
    assert issubclass(ProtocolError, SignallingError)
    assert issubclass(ProtocolError, ValueError)


BAD_CLIENT_TEXT: list[tuple[str, str]] = [
    # (text, expected words in the error)
    ("", "invalid JSON"),
    ("not json", "invalid JSON"),
    ("{", "invalid JSON"),
    ('{"type": "list"} trailing', "invalid JSON"),
    ('{"type":"startSession","peerId":NaN}', "NaN is not allowed"),
    ('{"type":"startSession","peerId":Infinity}', "Infinity is not allowed"),
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ('{"type":"list","n":' + "9" * 5000 + "}", "invalid JSON"),
    ("[]", "expected a JSON object, got a list"),
    ('"list"', "expected a JSON object"),
    ("null", "expected a JSON object, got null"),
    ("{}", "'type' must be a string, got null"),
    ('{"type": 3}', "'type' must be a string, got 3"),
    ('{"type": "welcome", "peerId": "x"}', "unknown type 'welcome'"),
    ('{"type": "sessionStarted"}', "unknown type"),
    ('{"type": "bogus"}', "unknown type 'bogus'"),
    # setPeerStatus
    ('{"type":"setPeerStatus"}', "setPeerStatus: roles must be a list"),
    ('{"type":"setPeerStatus","roles":"producer"}', "roles must be a list"),
    ('{"type":"setPeerStatus","roles":[1]}', "unknown role 1"),
    ('{"type":"setPeerStatus","roles":["boss"]}', "unknown role 'boss'"),
    ('{"type":"setPeerStatus","roles":' + json.dumps(["listener"] * 9) + "}", "at most 8"),
    ('{"type":"setPeerStatus","roles":[],"meta":[]}', "meta must be an object or null"),
    ('{"type":"setPeerStatus","roles":[],"meta":"x"}', "meta must be an object or null"),
    (
        '{"type":"setPeerStatus","roles":[],"meta":' + '{"a":' * 17 + "1" + "}" * 18,
        "nested deeper than 16",
    ),
    ('{"type":"setPeerStatus","roles":[],"peerId":5}', "'peerId' must be a string, got 5"),
    (
        '{"type":"setPeerStatus","roles":[],"meta":{"pad":"' + "x" * 9000 + '"}}',
        "over the limit of 8192",
    ),
    # startSession
    ('{"type":"startSession"}', "startSession: missing 'peerId'"),
    ('{"type":"startSession","peerId":null}', "'peerId' must be a string, got null"),
    ('{"type":"startSession","peerId":""}', "'peerId' is empty"),
    ('{"type":"startSession","peerId":"' + "x" * 257 + '"}', "longer than 256"),
    ('{"type":"startSession","peerId":"p","offer":42}', "'offer' must be a string, got 42"),
    ('{"type":"startSession","peerId":"p","offer":""}', "'offer' is empty"),
    # endSession
    ('{"type":"endSession"}', "endSession: missing 'sessionId'"),
    ('{"type":"endSession","sessionId":{}}', "must be a string, got an object"),
    # peer
    ('{"type":"peer","sdp":{"type":"offer","sdp":"v=0"}}', "peer: missing 'sessionId'"),
    ('{"type":"peer","sessionId":"s"}', "neither 'sdp' nor 'ice'"),
    (
        '{"type":"peer","sessionId":"s","sdp":{"type":"offer","sdp":"v"},'
        '"ice":{"candidate":"c","sdpMLineIndex":0}}',
        "both 'sdp' and 'ice'",
    ),
    ('{"type":"peer","sessionId":"s","sdp":"v=0"}', "sdp must be an object"),
    ('{"type":"peer","sessionId":"s","sdp":{"type":"pranswer","sdp":"v"}}', "'offer' or 'answer'"),
    ('{"type":"peer","sessionId":"s","sdp":{"sdp":"v"}}', "'offer' or 'answer', got null"),
    ('{"type":"peer","sessionId":"s","sdp":{"type":"offer"}}', "missing 'sdp.sdp'"),
    ('{"type":"peer","sessionId":"s","sdp":{"type":"offer","sdp":" "}}', "sdp.sdp is empty"),
    ('{"type":"peer","sessionId":"s","sdp":{"type":"offer","sdp":1}}', "must be a string"),
    ('{"type":"peer","sessionId":"s","ice":[]}', "ice must be an object, got a list"),
    ('{"type":"peer","sessionId":"s","ice":{"sdpMLineIndex":0}}', "missing 'ice.candidate'"),
    ('{"type":"peer","sessionId":"s","ice":{"candidate":"c"}}', "sdpMLineIndex must be an integer"),
    ('{"type":"peer","sessionId":"s","ice":{"candidate":"c","sdpMLineIndex":-1}}', "0..65535"),
    ('{"type":"peer","sessionId":"s","ice":{"candidate":"c","sdpMLineIndex":70000}}', "0..65535"),
    ('{"type":"peer","sessionId":"s","ice":{"candidate":"c","sdpMLineIndex":0.0}}', "integer"),
    ('{"type":"peer","sessionId":"s","ice":{"candidate":"c","sdpMLineIndex":true}}', "got true"),
    ('{"type":"peer","sessionId":"s","ice":{"candidate":"c","sdpMLineIndex":"0"}}', "got '0'"),
    (
        '{"type":"peer","sessionId":"s","ice":{"candidate":"c","sdpMLineIndex":0,"sdpMid":0}}',
        "'ice.sdpMid' must be a string",
    ),
    ('{"type":"peer","sessionId":"s","ice":{"candidate":7,"sdpMLineIndex":0}}', "must be a string"),
    # setProtocolVersion
    ('{"type":"setProtocolVersion"}', "missing 'version'"),
    ('{"type":"setProtocolVersion","version":"' + "9" * 40 + '"}', "longer than 32"),
]


@pytest.mark.parametrize("text,words", BAD_CLIENT_TEXT)
def test_invalid_client_messages_raise_protocol_error(text: str, words: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(text)
    assert words in str(info.value)
    assert len(str(info.value)) < 200, "errors must not echo big input back"


def test_protocol_error_names_the_message_type() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message('{"type":"startSession"}')
    assert info.value.message_type == "startSession"
    assert str(info.value).startswith("startSession: ")
    with pytest.raises(ProtocolError) as info:
        parse_client_message("junk")
    assert info.value.message_type is None


def test_size_limit_counts_utf8_bytes() -> None:
    ok = json.dumps({"type": "startSession", "peerId": "p", "pad": "x" * 100})
    assert parse_client_message(ok, max_size=len(ok)) == StartSession(peer_id="p")
    with pytest.raises(ProtocolError, match="over the limit"):
        parse_client_message(ok, max_size=len(ok) - 1)
    wide = json.dumps({"type": "list", "pad": "é" * 100}, ensure_ascii=False)
    assert len(wide) < 150 < len(wide.encode())
    with pytest.raises(ProtocolError, match=f"{len(wide.encode())} bytes is over"):
        parse_client_message(wide, max_size=150)
    with pytest.raises(ProtocolError, match="over the limit"):
        parse_client_message(b"{" + b" " * 300 + b"}", max_size=300)
    huge = '{"type":"list","pad":"' + "x" * p.MAX_MESSAGE_SIZE + '"}'
    with pytest.raises(ProtocolError, match="over the limit"):
        parse_client_message(huge)


def test_bytes_are_accepted_and_bad_utf8_is_a_protocol_error() -> None:
    assert parse_client_message(b'{"type":"list"}') == ListProducers()
    with pytest.raises(ProtocolError, match="invalid JSON"):
        parse_client_message(b'{"type":"\xff"}')


BAD_SERVER_TEXT = [
    ('{"type":"welcome"}', "missing 'peerId'"),
    ('{"type":"list"}', "producers must be a list"),
    ('{"type":"list","producers":[{"meta":null}]}', "missing 'producers[0].id'"),
    ('{"type":"list","producers":[3]}', "producers[0] must be an object"),
    ('{"type":"listConsumers","consumers":{}}', "consumers must be a list"),
    ('{"type":"startSession","peerId":"p"}', "missing 'sessionId'"),
    ('{"type":"sessionStarted","sessionId":"s"}', "missing 'peerId'"),
    ('{"type":"peerStatusChanged","peerId":"p"}', "roles must be a list"),
    ('{"type":"error"}', "missing 'details'"),
    ('{"type":"setPeerStatus","roles":[]}', "unknown type 'setPeerStatus'"),
]


@pytest.mark.parametrize("text,words", BAD_SERVER_TEXT)
def test_invalid_server_messages_raise_protocol_error(text: str, words: str) -> None:
    with pytest.raises(ProtocolError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_server_message(text)


def test_payload_helpers_validate() -> None:
    assert SdpPayload.from_dict({"type": "answer", "sdp": ANSWER_SDP}).to_dict() == {
        "type": "answer",
        "sdp": ANSWER_SDP,
    }
    with pytest.raises(ProtocolError):
        SdpPayload.from_dict({"type": "rollback", "sdp": ""})
    assert IcePayload.from_dict({"candidate": "c", "sdpMLineIndex": 3}).sdp_m_line_index == 3
    with pytest.raises(ProtocolError):
        IcePayload.from_dict(None)


def test_coerce_roles() -> None:
    assert p.coerce_roles(["producer", PeerRole.LISTENER]) == (
        PeerRole.PRODUCER,
        PeerRole.LISTENER,
    )
    with pytest.raises(ProtocolError, match="single string"):
        p.coerce_roles("producer")
    with pytest.raises(ProtocolError, match="unknown role"):
        p.coerce_roles(["viewer"])


def test_big_meta_from_a_server_is_accepted() -> None:
    """The meta size cap protects our server; a foreign server's listing still parses."""
    meta = {"pad": "x" * 20_000}
    text = dumps(ProducerList((PeerInfo("p", meta),)))
    assert parse_server_message(text) == ProducerList((PeerInfo("p", meta),))


def test_package_exports_exist_and_are_documented() -> None:
    import aiogstwebrtc.signalling as package
    from aiogstwebrtc.signalling import client, router, server

    for module in (package, p, router, server, client):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
    for name in package.__all__:
        obj = getattr(package, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, name
    assert set(package.__all__) >= {
        "SignallingServer",
        "SignallingClient",
        "SignallingError",
        "ProtocolError",
        "ServerError",
        "SignallingClosedError",
        "SignallingTimeoutError",
        "Router",
    }
