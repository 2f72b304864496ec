"""The suite's own guard: a test that leaves a peer open or a task pending fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).with_name("leftover_cases.py")


def test_a_test_leaving_a_peer_or_a_task_behind_fails() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(CASES)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        cwd=CASES.parent.parent.parent,
    )
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    failed_at_teardown = re.findall(r"_ ERROR at teardown of (\w+) _", out)
    assert sorted(failed_at_teardown) == [
        "test_fails_after_leaking",
        "test_leaves_a_peer_open",
        "test_leaves_a_peer_open_on_its_own_loop",
        "test_leaves_a_task_pending",
    ], out
    assert out.count("unclosed <PeerConnection") == 3, out
    assert re.search(r"pending task \S+ running sleep", out), out
    # test_closes_everything passed; test_fails_after_leaking failed on its own as well.
    assert "1 failed, 4 passed, 4 errors" in out, out
