"""``bench.thread_cpu`` charges a transfer's CPU to the threads that spent it.

docs/performance.md reads which thread bounds `throughput_*` and `message_rate` from it;
a GStreamer release that names its threads differently, or a reading of /proc that loses
threads, would make those tables wrong. One real transfer; no speed is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_transfer_is_charged_to_the_data_path_threads(tmp_path: Path) -> None:
    out = tmp_path / "thread_cpu.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.thread_cpu", "--size", "1024", "--count", "10000",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(out.read_text())
    assert result["count"] == 10000 and result["messages_per_s"] > 0
    threads = result["threads"]
    # the asyncio thread sends and handles; webrtcbin's emits; the pad tasks carry the bytes.
    # /proc counts CPU in 10 ms ticks: 10,000 messages give each of these 50 ms or more
    # (3,000 left the sender's appsrc thread at 0 ticks in one run).
    for kind in ("python", "webrtcbin#:pc", "appsrc#:src", "sctpenc#:src", "dtlsenc#:src",
                 "nicesrc#:src"):  # fmt: skip
        assert threads.get(kind, {}).get("cpu_s", 0) > 0, (kind, sorted(threads))
    charged = sum(figures["cpu_s"] for figures in threads.values())
    # every thread's time is the process's: at most the process total (clock-tick rounding)
    assert charged <= result["process_cpu_s"] + 0.02 * len(threads)
    assert charged >= 0.5 * result["process_cpu_s"]
