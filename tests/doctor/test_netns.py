"""The network namespaces the doctor makes for aiortc: fresh, isolated, with the wrtc pair."""

from __future__ import annotations

import subprocess
import sys

import pytest

from aiogstwebrtc import netns

PROBE = (
    "import json, os; from aiogstwebrtc import netns; "
    "print(json.dumps([netns._interfaces(), netns.has_default_route(), "
    "netns.in_isolated_namespace(), os.environ.get('AIOGST_NETNS')]))"
)


def test_the_suite_runs_in_an_isolated_namespace() -> None:
    assert netns.in_isolated_namespace()
    assert not netns.has_default_route()


def test_namespace_command_gives_a_fresh_isolated_namespace() -> None:
    import json

    command = netns.namespace_command([sys.executable, "-c", PROBE])
    assert command is not None, netns.namespace_unavailable_reason()
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    interfaces, route, isolated, marker = json.loads(result.stdout)
    assert sorted(interfaces) == ["lo", "wrtc0", "wrtc1"]
    assert route is False and isolated is True and marker == "1"


def test_setup_refuses_a_namespace_that_is_not_fresh() -> None:
    with pytest.raises(RuntimeError, match="not fresh"):
        netns.setup_namespace()  # the suite's namespace already has wrtc0/wrtc1
