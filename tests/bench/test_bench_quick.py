"""Smoke test of the benchmark runner: one tiny round, and the result files' schema.

No timing is asserted here: speed goals live in the benchmarks (``make bench``), not in tests.
The native peers (aiolibdatachannel, wrtc) run only where their venvs exist (``make bench``
creates them; this test never downloads anything): a peer that could run must have produced
numbers, one that could not must say "not run: <reason>", and every transfer of every side
must have arrived message for message and byte for byte.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["open_warm", "throughput_1k", "rtt_32b", "hop"]  # the order latest.json lists them in
PEER_ROWS = {"open_warm", "throughput_1k", "rtt_32b"}
PEERS = ("aiolibdatachannel", "wrtc")


@pytest.fixture(scope="module")
def peer_states() -> dict[str, tuple[str, str]]:
    """Which native peers can run here (their venvs exist), as the bench itself decides."""
    from bench import native

    return native.prepare(install=False)


@pytest.fixture(scope="module")
def run_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--rounds",
            "1",
            "--only",
            ",".join(NAMES),
            "--out",
            str(out),
            "--name",
            "latest",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return out


def test_latest_json_has_exactly_the_documented_schema(run_output: Path) -> None:
    data = json.loads((run_output / "latest.json").read_text())
    assert list(data) == ["benchmarks"]
    entries = data["benchmarks"]
    assert [entry["name"] for entry in entries] == NAMES
    for entry in entries:
        other = "baseline" if entry["name"] == "hop" else "aiortc"
        keys = {"name", "ours", other, "unit", "ratio", "better"}
        if entry["name"] in PEER_ROWS:
            keys |= {*PEERS, "best_peer", "ratio_best_peer", "peer_status"}
        assert set(entry) == keys, entry
        assert entry["better"] in ("lower", "higher")
        assert isinstance(entry["unit"], str) and entry["unit"]
        for key in ("ours", other, "ratio"):
            assert isinstance(entry[key], float) and math.isfinite(entry[key]), entry
            assert entry[key] > 0, entry
        assert math.isclose(entry["ratio"], entry["ours"] / entry[other], rel_tol=1e-3)


def test_every_peer_that_could_run_produced_numbers(
    run_output: Path, peer_states: dict[str, tuple[str, str]]
) -> None:
    entries = json.loads((run_output / "latest.json").read_text())["benchmarks"]
    for entry in entries:
        if entry["name"] not in PEER_ROWS:
            continue
        for peer in PEERS:
            state, detail = peer_states[peer]
            status = entry["peer_status"][peer]
            if state == "ok":
                assert status == "ok", (entry["name"], peer, status)
                assert isinstance(entry[peer], float) and entry[peer] > 0, entry
            else:
                assert status == f"not run: {detail}", (entry["name"], peer, status)
                assert entry[peer] is None, entry
        values = {"aiortc": entry["aiortc"]} | {p: entry[p] for p in PEERS if entry[p] is not None}
        pick = min if entry["better"] == "lower" else max
        assert entry["best_peer"] == pick(values, key=lambda name: values[name])
        best = values[entry["best_peer"]]
        assert math.isclose(entry["ratio_best_peer"], entry["ours"] / best, rel_tol=1e-3)


def test_every_transfer_verified_its_counts(
    run_output: Path, peer_states: dict[str, tuple[str, str]]
) -> None:
    details = json.loads((run_output / "latest-details.json").read_text())
    (row,) = [b for b in details["benchmarks"] if b["name"] == "throughput_1k"]
    checks = row["details"]["verified"]
    running = ["ours", "aiortc", *(p for p in PEERS if peer_states[p][0] == "ok")]
    assert sorted({c["side"] for c in checks}) == sorted(running), checks
    assert all(c["verified"] is True for c in checks), checks
    messages = row["details"]["messages_per_round"]
    for check in checks:  # each receiver's own counts
        assert check["messages"] == messages, check
        assert check["bytes"] == messages * row["details"]["message_size"], check


def test_markdown_table_and_details_are_written(run_output: Path) -> None:
    table = (run_output / "latest.md").read_text()
    for name in NAMES:
        assert f"`{name}`" in table
    details = json.loads((run_output / "latest-details.json").read_text())
    assert details["meta"]["mode"] == "quick"
    assert {b["name"] for b in details["benchmarks"]} == set(NAMES)


def test_chart_is_a_png(run_output: Path) -> None:
    pytest.importorskip("matplotlib")  # in the bench extra, not the test extra
    chart = run_output / "latest.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
