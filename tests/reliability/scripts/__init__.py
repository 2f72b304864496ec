"""Child-process scripts of the reliability tests, and the one way to run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent


def run_script(name: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``tests/reliability/scripts/NAME ARGS`` in a fresh interpreter from the repository
    root, with a minimal environment and faulthandler on (a crash prints every thread's
    Python stack in its stderr); its output captured as text."""
    return subprocess.run(
        [sys.executable, str(HERE / name), *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PYTHONFAULTHANDLER": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
