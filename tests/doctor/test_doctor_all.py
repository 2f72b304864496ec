"""``aiogstwebrtc doctor --approach all --json``, run once: solutions work, broken ones fail
for the right reason within their watchdog, and the JSON schema is stable.

The doctor runs as on a user's machine: it does not know it is inside the suite's namespace,
so it makes a fresh network namespace for each approach (aiortc needs one).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from aiogstwebrtc import STRATEGIES, Configuration
from aiogstwebrtc.doctor.approaches import APPROACHES
from aiogstwebrtc.doctor.report import SCHEMA
from aiogstwebrtc.doctor.scenario import STEPS
from aiogstwebrtc.strategies.broken import BROKEN_STRATEGIES
from tests.doctor.tools import run_doctor_json

WATCHDOG = 9.0  # the doctor's --timeout; its operations then get 3 s each
SOLUTIONS = ["sync", "init-data-channel", "callback", "asyncio", "gi-events"]
BROKEN = ["naive-set-result", "wait-in-handler", "idle-without-loop", "before-playing"]
PEERS = ["webrtcbin/datachannel", "webrtcbin/media", "aiortc/datachannel", "aiortc/media"]


@pytest.fixture(scope="module")
def doctor_run() -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    status, report = run_doctor_json(
        "--approach", "all", "--timeout", str(WATCHDOG), "--jobs", "3", new_namespaces=True
    )
    return status, report, time.monotonic() - started


def approach(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(item for item in report["approaches"] if item["key"] == key)


def test_all_runs_every_approach_and_recommends_the_default(
    doctor_run: tuple[int, dict[str, Any], float],
) -> None:
    status, report, _elapsed = doctor_run
    assert status == 0 == report["exit_status"]
    assert [item["key"] for item in report["approaches"]] == SOLUTIONS + BROKEN
    verdict = report["verdict"]
    assert verdict["working"] == SOLUTIONS
    assert verdict["failing"] == [] and verdict["skipped"] == []
    assert verdict["broken_confirmed"] == BROKEN
    assert verdict["broken_unexpectedly_working"] == []
    assert verdict["recommended"] == "asyncio" and verdict["recommended_works"]
    assert "Configuration()" in verdict["advice"]


def test_json_schema_is_stable(doctor_run: tuple[int, dict[str, Any], float]) -> None:
    _status, report, _elapsed = doctor_run
    assert report["schema"] == SCHEMA == "aiogstwebrtc-doctor/1"
    assert set(report) == {
        "schema", "options", "environment", "approaches", "verdict", "exit_status"
    }  # fmt: skip
    assert set(report["options"]) == {
        "approaches", "scenarios", "timeout_s", "step_timeout_s", "jobs"
    }  # fmt: skip
    assert report["options"]["scenarios"] == PEERS
    assert report["options"]["timeout_s"] == WATCHDOG
    assert report["options"]["step_timeout_s"] == WATCHDOG / 3
    assert set(report["environment"]) == {
        "python", "platform", "gstreamer", "pygobject", "glib", "libnice", "aiortc",
        "elements", "missing", "required_missing", "gi_events", "network", "workarounds",
        "error",
    }  # fmt: skip
    assert set(report["verdict"]) == {
        "working", "failing", "skipped", "broken_confirmed", "broken_unexpectedly_working",
        "recommended", "recommended_works", "advice",
    }  # fmt: skip
    for item in report["approaches"]:
        assert set(item) == {
            "key", "number", "title", "kind", "summary", "strategy", "init_data_channel",
            "loop", "expected_failure", "worked", "as_expected", "reason", "failure",
            "duration_ms", "watchdog", "scenarios", "notes", "workarounds", "stderr_tail",
        }  # fmt: skip
        assert set(item["watchdog"]) == {"timeout_s", "fired", "pid", "exit_status", "namespace"}
        assert [f"{s['peer']}/{s['offer']}" for s in item["scenarios"]] == PEERS
        for scenario in item["scenarios"]:
            assert set(scenario) == {
                "peer", "offer", "status", "worked", "reason", "failure", "duration_ms", "steps",
                "signaling_states", "connection_states", "operations", "callbacks",
                "replies_verified", "round_trip_ms",
            }  # fmt: skip
            assert scenario["status"] in ("worked", "failed", "skipped", "not-run")
            for step in scenario["steps"]:
                assert set(step) == {"name", "ok", "ms", "detail"} and step["name"] in STEPS
            for operation in scenario["operations"]:
                assert set(operation) == {
                    "operation", "emitted_on", "reply_read_on", "result_seen_on", "reply",
                    "verified", "outcome", "emitted_ms", "reply_ms", "seen_ms",
                    "wakeup_delay_ms",
                }  # fmt: skip
            for callback in scenario["callbacks"]:
                assert set(callback) == {"callback", "thread", "kind", "count"}
    numbers = {item["key"]: item["number"] for item in report["approaches"]}
    assert numbers == {key: n for n, key in enumerate(SOLUTIONS[:4], 1)} | {
        key: None for key in ["gi-events", *BROKEN]
    }


def test_environment_section(doctor_run: tuple[int, dict[str, Any], float]) -> None:
    _status, report, _elapsed = doctor_run
    environment = report["environment"]
    assert environment["gstreamer"].startswith("1.") and environment["pygobject"]
    assert environment["libnice"] and environment["python"] and environment["aiortc"]
    features = {entry["feature"] for entry in environment["elements"]}
    assert features == {"webrtcbin", "nice", "dtls", "srtp", "sctp", "VP8", "H.264", "Opus"}
    assert all(entry["package"].startswith("gstreamer1.0-") for entry in environment["elements"])
    assert environment["missing"] == [] and not environment["required_missing"]
    assert environment["gi_events"]["available"] is True
    assert environment["network"]["mode"] == "new" and environment["network"]["aiortc"]
    names = {item["name"] for item in environment["workarounds"] if item["applied"]}
    assert {"libnice-upnp-off", "unique-sctp-association-ids"} <= names


@pytest.mark.parametrize("key", SOLUTIONS)
def test_each_solution_answers_both_peers_and_both_offers(
    doctor_run: tuple[int, dict[str, Any], float], key: str
) -> None:
    _status, report, _elapsed = doctor_run
    item = approach(report, key)
    assert item["worked"] and item["as_expected"] and item["reason"] is None, item["reason"]
    assert item["watchdog"]["namespace"] == "new" and not item["watchdog"]["fired"]
    for scenario in item["scenarios"]:
        assert scenario["status"] == "worked", scenario["reason"]
        assert [step["name"] for step in scenario["steps"]] == list(STEPS)
        assert all(step["ok"] for step in scenario["steps"])
        assert scenario["signaling_states"] == ["stable", "have-remote-offer", "stable"]
        assert scenario["connection_states"][-1] == "connected"
        assert scenario["replies_verified"] and scenario["round_trip_ms"] is not None
        operations = {op["operation"]: op for op in scenario["operations"]}
        assert list(operations) == [
            "set-remote-description", "create-answer", "set-local-description"
        ]  # fmt: skip
        # webrtcbin 1.22 answers set-*-description with no reply structure on success.
        assert operations["set-remote-description"]["reply"] == "none"
        assert "answer" in operations["create-answer"]["reply"]
        for op in operations.values():
            assert op["verified"] and op["outcome"] == "ok"
            assert op["result_seen_on"]["kind"] == "asyncio"
            assert op["wakeup_delay_ms"] < 1000
            # Where the reply was read is what tells the strategies apart.
            expected = {"sync": "glib", "callback": "glib"}.get(item["strategy"], "gstreamer")
            assert op["reply_read_on"]["kind"] == expected
            emitted = "asyncio" if key == "gi-events" else "glib"
            assert op["emitted_on"]["kind"] == emitted
        signals = {callback["callback"] for callback in scenario["callbacks"]}
        assert {"on-ice-candidate", "notify::signaling-state", "on-data-channel"} <= signals
        assert all(callback["kind"] == "gstreamer" for callback in scenario["callbacks"])


EXPECTED_FAILURES = {
    "naive-set-result": ("lost-wakeup", {"create-answer", "set-remote-description",
                                         "set-local-description"}, "set_result()"),
    "wait-in-handler": ("deadlock", {"create-answer"}, "webrtcbin's operation thread is blocked"),
    "idle-without-loop": ("timeout", {"set-remote-description"}, "GLib.idle_add()"),
    "before-playing": ("error", {"set-remote-description"}, "webrtcbin is closed"),
}  # fmt: skip


@pytest.mark.parametrize("key", BROKEN)
def test_each_broken_approach_fails_for_its_reason_within_the_watchdog(
    doctor_run: tuple[int, dict[str, Any], float], key: str
) -> None:
    _status, report, _elapsed = doctor_run
    item = approach(report, key)
    kind, steps, phrase = EXPECTED_FAILURES[key]
    assert not item["worked"] and item["as_expected"]
    assert item["expected_failure"] == kind == item["failure"]["kind"]
    assert item["failure"]["step"] in steps
    assert phrase in item["reason"], item["reason"]
    assert item["reason"].startswith(
        {"deadlock": "deadlock detected in step ", "timeout": "timeout in step ",
         "lost-wakeup": "lost wake-up in step ", "error": "error in step "}[kind]
    )  # fmt: skip
    # The child diagnosed it itself, well before the watchdog would have killed it.
    assert not item["watchdog"]["fired"]
    assert item["duration_ms"] < (WATCHDOG + 5) * 1000
    first = item["scenarios"][0]
    assert first["status"] == "failed" and not first["replies_verified"]
    assert [s["status"] for s in item["scenarios"][1:]] == ["not-run"] * 3
    assert item["notes"], "a broken strategy says what it observed"
    if key == "before-playing":
        assert first["signaling_states"] == ["stable"]
    if key == "wait-in-handler":
        create = first["operations"][1]
        assert create["operation"] == "create-answer"
        assert create["emitted_on"]["kind"] == "gstreamer"  # emitted inside the change-func
        assert create["reply_read_on"] is None
    if key == "naive-set-result":
        failed = next(
            op for op in first["operations"] if op["operation"] == item["failure"]["step"]
        )
        assert failed["reply_read_on"]["kind"] == "gstreamer"


def test_broken_strategies_are_kept_out_of_the_public_registry() -> None:
    assert set(BROKEN_STRATEGIES) == set(BROKEN)
    assert not set(BROKEN) & set(STRATEGIES)
    for name in BROKEN:
        with pytest.raises(ValueError, match="unknown strategy"):
            Configuration(strategy=name)
    assert [a.key for a in APPROACHES if a.broken] == BROKEN


def test_all_of_it_takes_reasonable_time(doctor_run: tuple[int, dict[str, Any], float]) -> None:
    _status, _report, elapsed = doctor_run
    assert elapsed < 60
