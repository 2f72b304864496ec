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
    "rotation",
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
    # the native peers (bench/native.py): median per peer that produced one, every sample, and
    # per peer "ok", "not run: <reason>" or "failed: <error>"; empty for baseline rows
    peers: dict[str, float] = field(default_factory=dict)
    peer_samples: dict[str, list[float]] = field(default_factory=dict)
    peer_status: dict[str, str] = field(default_factory=dict)

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

    def _better_of(self, a: float, b: float) -> bool:
        return a < b if self.better == "lower" else a > b

    @property
    def best_peer(self) -> str | None:
        """The best of the other stacks that measured this row (aiortc included), or None."""
        if not self.peer_status:
            return None  # a baseline row, or one the native peers do not take part in
        candidates = {name: v for name, v in self.peers.items() if not math.isnan(v)}
        if self.other_label == "aiortc" and not math.isnan(self.other):
            candidates["aiortc"] = self.other
        best: str | None = None
        for name, value in candidates.items():
            if best is None or self._better_of(value, candidates[best]):
                best = name
        return best

    @property
    def best_value(self) -> float:
        """The best peer's median (NaN if none)."""
        best = self.best_peer
        if best is None:
            return math.nan
        return self.other if best == "aiortc" else self.peers[best]

    @property
    def ratio_best(self) -> float:
        """ours / the best peer (NaN when none measured)."""
        best = self.best_value
        if not best or math.isnan(best) or math.isnan(self.ours):
            return math.nan
        return self.ours / best

    def to_json(self) -> dict[str, Any]:
        """The ``latest.json`` entry: name, ours, aiortc|baseline, unit, ratio, better; rows
        with native peers add each peer's median (null if it did not run), ``best_peer``,
        ``ratio_best_peer`` (ours / best peer) and ``peer_status``."""
        entry: dict[str, Any] = {
            "name": self.name,
            "ours": _number(self.ours),
            self.other_label: _number(self.other),
            "unit": self.unit,
            "ratio": _number(self.ratio),
            "better": self.better,
        }
        if self.peer_status:
            for peer in self.peer_status:
                entry[peer] = _number(self.peers.get(peer, math.nan))
            entry["best_peer"] = self.best_peer
            entry["ratio_best_peer"] = _number(self.ratio_best)
            entry["peer_status"] = dict(self.peer_status)
        return entry

    def to_details(self) -> dict[str, Any]:
        """Everything measured, for ``details.json``."""
        return {
            **self.to_json(),
            "description": self.description,
            "ours_samples": [_number(x) for x in self.ours_samples],
            f"{self.other_label}_samples": [_number(x) for x in self.other_samples],
            **{
                f"{peer}_samples": [_number(x) for x in values]
                for peer, values in self.peer_samples.items()
            },
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


def rotation(index: int, sides: Sequence[str]) -> list[str]:
    """The order of ``sides`` in round ``index``: rotated by one each round and reversed every
    other round, so no side always runs first, last or right after the same one."""
    if not sides:
        return []
    shift = index % len(sides)
    order = list(sides[shift:]) + list(sides[:shift])
    return order[::-1] if (index // len(sides)) % 2 else order


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
