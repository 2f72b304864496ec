"""A long-running process stays flat under churn: the arena cap and the trim (issue 17).

The soak test (tests/reliability/test_produce_soak.py) measures the effect; these pin the
rules a user relies on: the user's MALLOC_ARENA_MAX wins, the cap is set once, and the
trim after a teardown runs at most once a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aiogstwebrtc.memory import MIN_INTERVAL, trim_free_memory

ROOT = Path(__file__).resolve().parents[2]
PROBE = "from aiogstwebrtc.memory import limit_arenas; print(limit_arenas(), limit_arenas())"


def run_probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_arenas_are_capped_once_per_process() -> None:
    assert run_probe() == "True False"


def test_the_users_malloc_arena_max_is_kept() -> None:
    assert run_probe(MALLOC_ARENA_MAX="4") == "False False"


def test_trims_closer_than_the_interval_are_one() -> None:
    start = 1e9  # a moment of our own: no other trim of this process is near it
    assert trim_free_memory(now=start)
    assert not trim_free_memory(now=start + MIN_INTERVAL / 2)
    assert trim_free_memory(now=start + MIN_INTERVAL)
    assert trim_free_memory()  # the process's own clock, long before: not held back
