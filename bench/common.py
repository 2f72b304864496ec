"""What every benchmark shares: results, alternation, the namespace guard, child processes."""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.leakcheck import fd_count, rss_bytes, thread_count

__all__ = [
    "ROOT",
    "Result",
    "Settings",
    "cpu_seconds",
    "ensure_namespace",
    "fd_count",
    "in_namespace",
    "median",
    "order_for_round",
    "raise_fd_limit",
    "rss_bytes",
    "run_child",
    "thread_count",
]

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass
class Settings:
    """How hard to push: ``quick`` shrinks rounds and sizes; ``rounds`` overrides the count."""

    quick: bool = False
    rounds: int | None = None

    def pick(self, full: T, quick: T) -> T:
        """``full`` normally, ``quick`` in quick mode."""
        return quick if self.quick else full

    def n_rounds(self, full: int, quick: int) -> int:
        """Rounds per side: ``--rounds`` if given, else ``full`` or ``quick``."""
        if self.rounds is not None:
            return max(1, self.rounds)
        return self.pick(full, quick)


@dataclass
class Result:
    """One benchmark: medians of both sides, their unit, and which direction is better."""

    name: str
    ours: float
    other: float
    unit: str
    better: str  # "lower" or "higher"
    other_label: str = "aiortc"  # or "baseline"
    ours_samples: list[float] = field(default_factory=list)
    other_samples: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def ratio(self) -> float:
        """ours / other (NaN when the other side measured 0 or failed)."""
        if not self.other or math.isnan(self.other) or math.isnan(self.ours):
            return math.nan
        return self.ours / self.other

    @property
    def advantage(self) -> float:
        """How many times better ours is (>1: ours wins), whatever the direction."""
        ratio = self.ratio
        if math.isnan(ratio) or ratio == 0:
            return math.nan
        return 1 / ratio if self.better == "lower" else ratio

    def to_json(self) -> dict[str, Any]:
        """The ``latest.json`` entry: name, ours, aiortc|baseline, unit, ratio, better."""
        return {
            "name": self.name,
            "ours": _number(self.ours),
            self.other_label: _number(self.other),
            "unit": self.unit,
            "ratio": _number(self.ratio),
            "better": self.better,
        }

    def to_details(self) -> dict[str, Any]:
        """Everything measured, for ``details.json``."""
        return {
            **self.to_json(),
            "description": self.description,
            "ours_samples": [_number(x) for x in self.ours_samples],
            f"{self.other_label}_samples": [_number(x) for x in self.other_samples],
            "details": self.details,
        }


def _number(value: float) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(float(value), 6)


def median(values: Sequence[float]) -> float:
    """Median, NaN for no values."""
    finite = [v for v in values if not math.isnan(v)]
    return statistics.median(finite) if finite else math.nan


def order_for_round(index: int) -> tuple[str, str]:
    """Which side goes first in round ``index``: ABBA, so neither always runs warm or cold."""
    return ("ours", "other") if index % 4 in (0, 3) else ("other", "ours")


# --- the network rule ---------------------------------------------------------------------------


def _default_route() -> bool:
    try:
        routes = subprocess.run(
            ["ip", "route", "show", "default"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return True  # cannot tell: assume the worst
    return bool(routes.strip())


def in_namespace() -> bool:
    """True inside ``scripts/in-netns.sh``'s namespace (no route out of the machine)."""
    return os.environ.get("AIOGST_NETNS") == "1" and not _default_route()


def ensure_namespace(argv: Sequence[str], module: str = "bench") -> None:
    """Re-run ``python -m module argv`` through ``scripts/in-netns.sh`` unless already inside."""
    if in_namespace():
        return
    if os.environ.get("AIOGST_BENCH_REEXEC") == "1":
        raise SystemExit("bench: could not enter a network namespace without a default route")
    os.environ["AIOGST_BENCH_REEXEC"] = "1"
    os.environ.pop("AIOGST_NETNS", None)
    script = str(ROOT / "scripts" / "in-netns.sh")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(script, [script, sys.executable, "-m", module, *argv])


# --- this process -------------------------------------------------------------------------------
# thread_count, fd_count, rss_bytes: imported from tests/leakcheck.py, the one copy tests and
# benchmarks share.


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_fd_limit() -> None:
    """Lift the soft limit on open files to the hard one (hundreds of pairs need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- child processes ----------------------------------------------------------------------------


def run_child(kind: str, side: str, options: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run ``python -m bench.child kind side options`` in a fresh process; its JSON result.

    The child inherits this process's network namespace. A child that fails or times out
    gives ``{"error": ...}`` instead of raising, so one bad side does not lose the run.
    """
    command = [sys.executable, "-m", "bench.child", kind, side, json.dumps(options)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.monotonic()
    try:
        completed = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"{kind} {side} timed out after {timeout:g} s"}
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-5:]
        return {"error": f"{kind} {side} exited {completed.returncode}: " + " | ".join(tail)}
    result: dict[str, Any] = json.loads(lines[-1])
    result.setdefault("child_wall_s", time.monotonic() - started)
    return result
