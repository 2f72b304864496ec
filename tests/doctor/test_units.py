"""Small parts of the doctor: choosing approaches and the verdict's exit status."""

from __future__ import annotations

from typing import Any

import pytest

from aiogstwebrtc.doctor.approaches import APPROACHES, select
from aiogstwebrtc.doctor.environment import package_for
from aiogstwebrtc.doctor.report import build_report, render_approach, render_verdict
from aiogstwebrtc.strategies.broken import get_broken_strategy


def test_select_by_number_name_and_all() -> None:
    assert [a.key for a in select("1")] == ["sync"]
    assert [a.key for a in select("2")] == ["init-data-channel"]
    assert [a.key for a in select("4, wait-in-handler,4")] == ["asyncio", "wait-in-handler"]
    assert select("5") == select("all") == list(APPROACHES)
    with pytest.raises(ValueError, match="unknown approach"):
        select("6")
    with pytest.raises(ValueError):
        get_broken_strategy("asyncio")


def test_missing_elements_are_named_with_their_debian_package() -> None:
    assert package_for("webrtcbin") == "gstreamer1.0-plugins-bad"
    assert package_for("nicesink") == "gstreamer1.0-nice"
    assert package_for("x264enc") == "gstreamer1.0-plugins-ugly"
    assert package_for("avdec_h264") == "gstreamer1.0-libav"


def _approach(key: str, worked: bool, kind: str = "solution") -> dict[str, Any]:
    failure = None if worked else {"kind": "timeout", "step": "create-answer", "detail": "x"}
    return {
        "key": key, "number": None, "title": key, "kind": kind, "summary": "", "strategy": key,
        "init_data_channel": False, "loop": "asyncio", "expected_failure": None,
        "worked": worked, "as_expected": worked, "reason": None if worked else "timeout: x",
        "failure": failure, "duration_ms": 1.0,
        "watchdog": {"timeout_s": 1, "fired": False, "pid": 1, "exit_status": 0,
                     "namespace": "none"},
        "scenarios": [], "notes": [], "workarounds": [], "stderr_tail": "",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("approaches", "recommended", "status"),
    [
        ([("asyncio", True), ("sync", True)], "asyncio", 0),
        ([("asyncio", False), ("callback", True)], "callback", 0),
        ([("asyncio", False)], None, 1),
        ([("wait-in-handler", False, "broken")], None, 0),
        ([("wait-in-handler", True, "broken")], None, 1),
    ],
)
def test_verdict_and_exit_status(
    approaches: list[tuple[Any, ...]], recommended: str | None, status: int
) -> None:
    items = [_approach(*spec) for spec in approaches]
    report = build_report({"required_missing": False}, items, [], {})
    assert report["verdict"]["recommended"] == recommended
    assert report["exit_status"] == status
    assert "recommendation:" in render_verdict(report)
    for item in items:
        assert item["key"] in render_approach(item)


def test_missing_required_elements_fail_the_doctor() -> None:
    report = build_report({"required_missing": True}, [_approach("asyncio", True)], [], {})
    assert report["exit_status"] == 1
