"""ICE servers as browsers take them, turned into webrtcbin's URIs; the ICE state bookkeeping."""

from __future__ import annotations

import logging

import pytest

from aiogstwebrtc import Configuration, IceServer, PeerConnection
from aiogstwebrtc.iceservers import parse_ice_url
from aiogstwebrtc.icestate import IceComponents, candidate_types
from aiogstwebrtc.stats import infer_relay_protocol

TURN = {"username": "alice", "credential": "s3cret"}


def test_every_turn_url_is_added_with_its_transport() -> None:
    config = Configuration(
        ice_servers=[
            {
                "urls": [
                    "turn:10.0.0.1",
                    "turn:10.0.0.1:3478?transport=udp",
                    "turn:10.0.0.1:3479?transport=tcp",
                    "turns:turn.example.org",
                    "turns:10.0.0.1:443?transport=tcp",
                ],
                **TURN,
            },
            IceServer("turn:[fd00::1]:3478", "bob", "pw"),
        ]
    )
    stun, turn = config.stun_and_turn()
    assert stun is None
    assert turn == [
        "turn://alice:s3cret@10.0.0.1:3478?transport=udp",  # browsers: no transport = UDP
        "turn://alice:s3cret@10.0.0.1:3478?transport=udp",
        "turn://alice:s3cret@10.0.0.1:3479?transport=tcp",
        "turns://alice:s3cret@turn.example.org:5349",
        "turns://alice:s3cret@10.0.0.1:443",
        "turn://bob:pw@[fd00::1]:3478?transport=udp",
    ]
    assert config.ice_plan().relays == [
        ("udp", "10.0.0.1:3478"),
        ("udp", "10.0.0.1:3478"),
        ("tcp", "10.0.0.1:3479"),
        ("tls", "turn.example.org:5349"),
        ("tls", "10.0.0.1:443"),
        ("udp", "[fd00::1]:3478"),
    ]


def test_credentials_are_percent_encoded() -> None:
    config = Configuration(
        ice_servers=[{"urls": "turn:10.0.0.1", "username": "u@x:1", "credential": "p w/%?#"}]
    )
    assert config.stun_and_turn()[1] == [
        "turn://u%40x%3A1:p%20w%2F%25%3F%23@10.0.0.1:3478?transport=udp"
    ]


def test_the_first_stun_server_is_used_and_the_others_listed() -> None:
    config = Configuration(
        ice_servers=["stun:10.0.0.1", {"urls": ["stun:10.0.0.2:19302", "stun://10.0.0.3"]}]
    )
    plan = config.ice_plan()
    assert plan.stun == "stun://10.0.0.1:3478"
    assert plan.ignored_stun == ["stun:10.0.0.2:19302", "stun://10.0.0.3"]


async def test_ignored_stun_servers_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    config = Configuration(ice_servers=["stun:10.0.0.1", "stun:10.0.0.2:3478"])
    caplog.set_level(logging.INFO, logger="aiogstwebrtc")
    async with PeerConnection(config) as pc:
        await pc.create_data_channel("x")
        stun = await pc.run_in_glib(lambda _pipeline, webrtc: webrtc.get_property("stun-server"))
    assert stun == "stun://10.0.0.1:3478"
    ignored = [r for r in caplog.records if "stun:10.0.0.2:3478" in r.getMessage()]
    assert [r.levelno for r in ignored] == [logging.INFO]
    assert "ignored" in ignored[0].getMessage()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("http://10.0.0.1", r"ice_servers\[0\].*unknown ICE server scheme"),
        ("stuns:10.0.0.1", r"ice_servers\[0\].*unknown ICE server scheme"),
        ("10.0.0.1:3478", r"ice_servers\[0\].*unknown ICE server scheme"),
        ("stun:", r"ice_servers\[0\].*malformed"),
        ("stun:10.0.0.1:99999", r"ice_servers\[0\].*out of range"),
        ("stun:10.0.0.1:port", r"ice_servers\[0\].*malformed"),
        ("stun:10.0.0.1?transport=udp", r"ice_servers\[0\].*unsupported query"),
        ({"urls": "turn:10.0.0.1"}, r"ice_servers\[0\].*needs a username and a credential"),
        ({"urls": "turn:10.0.0.1", "username": "u"}, r"ice_servers\[0\].*credential"),
        ({"urls": "turns:10.0.0.1", "credential": "p"}, r"ice_servers\[0\].*username"),
        ({"urls": "turn:10.0.0.1?transport=tls", **TURN}, r"transport must be udp or tcp"),
        ({"urls": "turns:10.0.0.1?transport=udp", **TURN}, r"over TLS"),
        ({"urls": "turn:u:p@10.0.0.1", **TURN}, r"not in the URL"),
        ({"urls": "turn:10.0.0.1?foo=bar", **TURN}, r"unsupported query"),
        ({"urls": []}, r"ice_servers\[0\] has no URL"),
        ({"username": "u"}, r"ice_servers\[0\]: invalid ICE server"),
        (42, r"ice_servers\[0\]: invalid ICE server"),
    ],
)
def test_bad_entries_are_refused_naming_the_entry(entry: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Configuration(ice_servers=[entry])  # type: ignore[list-item]


def test_the_entry_index_is_the_failing_one() -> None:
    with pytest.raises(ValueError, match=r"ice_servers\[1\] \('turn:10.0.0.2'\)"):
        Configuration(ice_servers=["stun:10.0.0.1", {"urls": ["turn:10.0.0.2"]}])


def test_hosts_and_ports() -> None:
    assert parse_ice_url("stun:[::1]:3479").netloc == "[::1]:3479"
    assert parse_ice_url("TURNS:host.example").port == 5349
    assert parse_ice_url("turn:h?transport=TCP").relay_protocol == "tcp"


def test_ice_state_from_libnice_components() -> None:
    components = IceComponents()
    assert components.update(1, 1, 1) == "new"  # gathering
    assert components.update(1, 1, 2) == "checking"
    assert components.update(1, 2, 4) == "checking"  # one ready, one still checking
    assert components.update(1, 1, 3) == "connected"
    assert components.update(1, 1, 0) == "disconnected"  # lost after being connected
    assert components.update(1, 1, 5) == "failed"


def test_candidate_types_are_counted_by_type_and_protocol() -> None:
    sdp = (
        "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
        "a=candidate:1 1 UDP 2015363327 192.168.1.2 35848 typ host\r\n"
        "a=candidate:2 1 UDP 1679819007 10.19.1.2 35848 typ srflx raddr 192.168.1.2 rport 1\r\n"
        "a=candidate:3 1 TCP 1015023359 192.168.1.2 9 typ host tcptype active\r\n"
        "a=candidate:4 1 UDP 505413887 10.19.0.1 40098 typ relay raddr 0.0.0.0 rport 0\r\n"
    )
    assert candidate_types(sdp) == "1 host/tcp, 1 host/udp, 1 relay/udp, 1 srflx/udp"
    assert candidate_types(None) == "none"


def test_the_relay_protocol_is_inferred_only_where_it_is_certain() -> None:
    udp, tcp_or_tls = (30 << 24) + 8191, (20 << 24) + 8191  # libnice's type preferences
    assert infer_relay_protocol(udp, {"tls"}) is None  # contradicts: no guess
    assert infer_relay_protocol(tcp_or_tls, {"tls"}) == "tls"
    assert infer_relay_protocol(udp, {"udp", "tcp", "tls"}) == "udp"
    assert infer_relay_protocol(tcp_or_tls, {"udp", "tcp"}) == "tcp"
    assert infer_relay_protocol(tcp_or_tls, {"udp", "tcp", "tls"}) is None
    assert infer_relay_protocol(None, {"udp"}) == "udp"
