"""The public API: exports, the error tree, configuration validation."""

from __future__ import annotations

import pytest

import aiogstwebrtc
from aiogstwebrtc import errors


def test_every_exported_name_exists() -> None:
    for name in aiogstwebrtc.__all__:
        assert hasattr(aiogstwebrtc, name), name
    for name in (
        "PeerConnection",
        "Configuration",
        "SessionDescription",
        "IceCandidate",
        "DataChannel",
    ):
        assert name in aiogstwebrtc.__all__


def test_error_tree() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.WebRTCError)
    assert issubclass(errors.InvalidSDPError, ValueError)
    assert issubclass(errors.MessageTooLargeError, ValueError)
    assert issubclass(errors.OperationTimeoutError, TimeoutError)
    error = errors.NegotiationError(
        "x", operation="set-remote-description", signaling_state="stable"
    )
    assert (error.operation, error.signaling_state) == ("set-remote-description", "stable")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bundle_policy": "sometimes"},
        {"ice_transport_policy": "none"},
        {"operation_timeout": 0},
        {"strategy": "magic"},
        {"ice_servers": ["http://example.invalid"]},
        {"ice_servers": [42]},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        aiogstwebrtc.Configuration(**kwargs)  # type: ignore[arg-type]


def test_ice_servers_become_webrtcbin_uris() -> None:
    config = aiogstwebrtc.Configuration(
        ice_servers=[
            "stun:127.0.0.1:3478",
            {"urls": ["turn:127.0.0.1:3478?transport=udp"], "username": "u@x", "credential": "p w"},
        ]
    )
    assert config.stun_and_turn() == (
        "stun://127.0.0.1:3478",
        ["turn://u%40x:p%20w@127.0.0.1:3478?transport=udp"],
    )
    assert aiogstwebrtc.Configuration().stun_and_turn() == (None, [])


def test_version_is_one_value_everywhere() -> None:
    """``aiogstwebrtc --version``, ``__version__`` and the installed metadata agree."""
    import importlib.metadata
    import subprocess
    import sys

    shown = subprocess.run(
        [sys.executable, "-m", "aiogstwebrtc", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()
    assert shown == f"aiogstwebrtc {aiogstwebrtc.__version__}"
    assert importlib.metadata.version("aiogstwebrtc") == aiogstwebrtc.__version__
