"""``bench.timeline --gst-log`` and ``bench.rtt_path`` find their steps in GStreamer's own log.

The steps are recognised by the text webrtcbin, the DTLS and SCTP elements and the data
channels log (bench/gst_timeline.py); a GStreamer release that words them differently
would silently drop rows from docs/performance.md's timeline. Two real opens, in order.
No timing is asserted beyond the order the steps must come in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Steps that must come in this order in every open (the SCTP association: below).
ORDER = (
    "offer: webrtcbin starts creating it",
    "offer: transport elements built",
    "offer: set locally",
    "answerer: set remote offer",
    "answerer: transport elements built",
    "answerer: creating the answer",
    "answerer: answer set locally",
    "offerer: set remote answer",
    "DTLS handshake starts (first side)",
    "DTLS handshake done (both)",
    "DCEP: DATA_CHANNEL_OPEN sent",
    "every channel open in webrtcbin",
)


def test_every_step_of_an_open_is_found_in_gstreamers_log_in_order(tmp_path: Path) -> None:
    from bench.gst_timeline import GST_STEPS

    out = tmp_path / "timeline.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.timeline", "--gst-log", "--rounds", "2", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    result = json.loads(out.read_text())
    assert len(result["gst"]) == len(result["ours"]) == 2
    for steps, ours in zip(result["gst"], result["ours"], strict=True):
        missing = [name for name, _pattern, _which in GST_STEPS if name not in steps]
        assert not missing, f"not found in GStreamer's log: {missing}"
        times = [steps[name] for name in ORDER]
        assert times == sorted(times), dict(zip(ORDER, times, strict=True))
        # the offerer sends its OPEN as soon as its own association is up, maybe before the
        # answerer's is; the answerer's channel opens only after both are
        sctp = steps["SCTP association up (both)"]
        assert steps["DTLS handshake done (both)"] < sctp
        assert sctp <= steps["every channel open in webrtcbin"]
        assert 0 <= steps["offer: webrtcbin starts creating it"] < ours["offer_created"]
        # the answerer's channel opens once the offerer's OPEN went out
        assert steps["DCEP: DATA_CHANNEL_OPEN sent"] < ours["open_answerer"]


def test_every_hop_of_a_round_trip_is_found_in_gstreamers_log() -> None:
    """``python -m bench.rtt_path``: each direction's twelve steps, for every round trip."""
    from bench.rtt_path import STEPS

    completed = subprocess.run(
        [sys.executable, "-m", "bench.rtt_path", "--rounds", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "(3 rounds parsed)" in completed.stdout, completed.stdout
    assert "not found" not in completed.stdout, completed.stdout
    rows = [line for line in completed.stdout.splitlines() if line.startswith("| 1 ")]
    assert len(rows) == len(STEPS), completed.stdout
