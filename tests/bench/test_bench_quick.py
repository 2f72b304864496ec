"""Smoke test of the benchmark runner: one tiny round, and the result files' schema.

No timing is asserted here: speed goals live in the benchmarks (``make bench``), not in tests.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["open_warm", "rtt_32b", "hop"]  # the order latest.json lists them in


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
        assert set(entry) == {"name", "ours", other, "unit", "ratio", "better"}
        assert entry["better"] in ("lower", "higher")
        assert isinstance(entry["unit"], str) and entry["unit"]
        for key in ("ours", other, "ratio"):
            assert isinstance(entry[key], float) and math.isfinite(entry[key]), entry
            assert entry[key] > 0, entry
        assert math.isclose(entry["ratio"], entry["ours"] / entry[other], rel_tol=1e-3)


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
