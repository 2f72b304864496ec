"""The watchdog: a child that stops reporting is killed, and the report names its step."""

from __future__ import annotations

import os
import time

import pytest

from tests.doctor.tools import run_doctor_json


def test_a_child_blocked_in_a_step_is_killed_and_reported_as_a_deadlock() -> None:
    started = time.monotonic()
    status, report = run_doctor_json(
        "--approach", "4", "--timeout", "3", "--peer", "webrtcbin", "--offer", "datachannel",
        AIOGSTWEBRTC_DOCTOR_HANG_STEP="create-answer",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert status == 1 == report["exit_status"]
    (item,) = report["approaches"]
    assert not item["worked"]
    assert item["watchdog"]["fired"]
    assert item["failure"]["kind"] == "deadlock"
    assert item["failure"]["step"] == "create-answer"
    assert item["reason"].startswith("deadlock detected in step create-answer: ")
    assert "watchdog killed it" in item["reason"]
    (scenario,) = item["scenarios"]
    assert scenario["status"] == "failed" and scenario["failure"] == item["failure"]
    assert report["verdict"]["failing"] == ["asyncio"]
    assert report["verdict"]["recommended"] is None
    with pytest.raises(ProcessLookupError):
        os.kill(item["watchdog"]["pid"], 0)
    assert elapsed < 3 + 10  # the watchdog, plus start-up


def test_only_broken_approaches_exit_zero_when_they_fail_as_expected() -> None:
    status, report = run_doctor_json(
        "--approach", "before-playing", "--peer", "webrtcbin", "--offer", "datachannel"
    )
    assert status == 0
    assert report["verdict"]["broken_confirmed"] == ["before-playing"]
    assert report["verdict"]["recommended"] is None


def test_without_a_namespace_aiortc_is_skipped_with_the_reason() -> None:
    # No unshare on PATH and not told it runs isolated: only loopback webrtcbin peers run.
    status, report = run_doctor_json(
        "--approach", "4", "--offer", "datachannel", new_namespaces=True, PATH="/nonexistent"
    )
    assert status == 0
    network = report["environment"]["network"]
    assert network["mode"] == "loopback" and not network["aiortc"]
    assert "unshare" in network["aiortc_reason"]
    (item,) = report["approaches"]
    assert item["worked"] and item["watchdog"]["namespace"] == "none"
    webrtcbin, aiortc = item["scenarios"]
    assert webrtcbin["status"] == "worked"
    assert aiortc["status"] == "skipped" and "network namespace" in aiortc["reason"]
