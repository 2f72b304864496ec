"""``open_warm`` and ``open_cold``: from ``create_offer()`` to the channel open on both sides.

Warm: in this process, after one untimed pair per side; a third arm, reported as a detail,
measures ours with libnice's Ta (``stun-pacing-timer``) at 5 ms in the same alternation
(the core change docs/performance.md recommends). Cold: the first pair of a fresh process,
one child process per sample and side.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from . import native
from .common import Result, Settings, median, rotation, run_child
from .native import PeerProcess
from .pairs import open_aiortc, open_ours

__all__ = ["NAMES", "run"]

NAMES = ("open_warm", "open_cold")
TUNED_PACING_MS = 5


async def _ours_once(pacing_ms: int | None = None) -> tuple[float, dict[str, float]]:
    pair = await open_ours(pacing_ms=pacing_ms)
    try:
        return pair.open_s, dict(pair.marks)
    finally:
        await pair.close()


async def _theirs_once() -> float:
    pair = await open_aiortc()
    try:
        return pair.open_s
    finally:
        await pair.close()


async def _warm(settings: Settings) -> Result:
    rounds = settings.n_rounds(15, 3)
    tuned = not settings.quick
    await _ours_once()  # warm-up: plugins, certificate, the GLib thread, aiortc's imports
    await _theirs_once()
    if tuned:
        await _ours_once(TUNED_PACING_MS)
    ours: list[float] = []
    theirs: list[float] = []
    ours_tuned: list[float] = []
    marks: list[dict[str, float]] = []
    peers: dict[str, PeerProcess] = {}
    peer_samples: dict[str, list[float]] = {}
    peer_errors: dict[str, str] = {}
    for peer in native.available():
        process = PeerProcess(peer)
        warm = process.request(timeout=60, cmd="open")  # the peer's untimed warm-up pair
        if warm.get("ok"):
            peers[peer] = process
            peer_samples[peer] = []
        else:
            peer_errors[peer] = warm.get("error", "no answer")
            process.close(kill=True)
    try:
        for index in range(rounds):
            for side in rotation(index, ["ours", "other", *peers]):
                if side == "ours":
                    elapsed, round_marks = await _ours_once()
                    ours.append(elapsed * 1000)
                    marks.append(round_marks)
                    if tuned:
                        ours_tuned.append((await _ours_once(TUNED_PACING_MS))[0] * 1000)
                elif side == "other":
                    theirs.append(await _theirs_once() * 1000)
                elif side not in peer_errors:
                    answer = peers[side].request(timeout=60, cmd="open")
                    if answer.get("ok"):
                        peer_samples[side].append(answer["open_s"] * 1000)
                    else:
                        peer_errors[side] = answer.get("error", "no answer")
    finally:
        for process in peers.values():
            process.close()
    breakdown = {
        name: round(median([m[name] * 1000 for m in marks if name in m]), 2)
        for name in sorted(
            {key for m in marks for key in m}, key=lambda k: median([m[k] for m in marks if k in m])
        )
    }
    details: dict[str, Any] = {"rounds": rounds, "ours_marks_ms": breakdown}
    if tuned:
        details[f"ours_pacing_{TUNED_PACING_MS}ms_ms"] = round(median(ours_tuned), 2)
        details[f"ours_pacing_{TUNED_PACING_MS}ms_samples"] = [round(x, 2) for x in ours_tuned]
    result = Result(
        "open_warm",
        median(ours),
        median(theirs),
        "ms",
        "lower",
        ours_samples=ours,
        other_samples=theirs,
        details=details,
        description="create_offer() to channel open on both sides, warm process",
    )
    return native.attach(result, peer_samples, peer_errors)


def _cold(settings: Settings) -> Result:
    rounds = settings.n_rounds(5, 1)
    samples: dict[str, list[dict[str, Any]]] = {"ours": [], "other": []}
    peers = native.available()
    peer_runs: dict[str, list[dict[str, Any]]] = {peer: [] for peer in peers}
    for index in range(rounds):
        for side in rotation(index, ["ours", "other", *peers]):
            if side in peer_runs:
                peer_runs[side].append(_peer_cold(side))
                continue
            name = "ours" if side == "ours" else "aiortc"
            samples[side].append(run_child("open_cold", name, {}, timeout=60))

    def values(side: str, key: str) -> list[float]:
        return [s[key] * 1000 if key in s else math.nan for s in samples[side]]

    errors = [s["error"] for side in samples.values() for s in side if "error" in s]
    details: dict[str, Any] = {
        "rounds": rounds,
        "ours_total_ms": round(median(values("ours", "total_s")), 1),
        "aiortc_total_ms": round(median(values("other", "total_s")), 1),
        "ours_import_ms": round(median(values("ours", "import_s")), 1),
        "aiortc_import_ms": round(median(values("other", "import_s")), 1),
        "errors": errors,
    }
    ours = values("ours", "open_s")
    theirs = values("other", "open_s")
    peer_samples: dict[str, list[float]] = {}
    peer_errors: dict[str, str] = {}
    for peer, runs in peer_runs.items():
        failed = [r["error"] for r in runs if not r.get("ok")]
        if failed:
            peer_errors[peer] = failed[0]
            continue
        peer_samples[peer] = [r["open_s"] * 1000 for r in runs]
        details[f"{peer}_total_ms"] = round(median([r["total_s"] * 1000 for r in runs]), 1)
        details[f"{peer}_import_ms"] = round(median([r["import_s"] * 1000 for r in runs]), 1)
    result = Result(
        "open_cold",
        median(ours),
        median(theirs),
        "ms",
        "lower",
        ours_samples=ours,
        other_samples=theirs,
        details=details,
        description="create_offer() to channel open on both sides, first pair in a fresh process",
    )
    return native.attach(result, peer_samples, peer_errors)


def _peer_cold(peer: str) -> dict[str, Any]:
    """The first pair of a fresh driver process of ``peer``."""
    with PeerProcess(peer) as process:
        hello = process.request(timeout=60, cmd="hello")
        if not hello.get("ok"):
            return hello
        answer = process.request(timeout=60, cmd="open")
        if answer.get("ok"):
            answer["import_s"] = hello["import_s"]
        return answer


def run(settings: Settings, names: set[str]) -> list[Result]:
    """Run the requested benchmarks of this family."""
    results = []
    if "open_warm" in names:
        results.append(asyncio.run(_warm(settings)))
    if "open_cold" in names:
        results.append(_cold(settings))
    return results


# --- in the child process -----------------------------------------------------------------------


async def child_open_cold(side: str, options: dict[str, Any], started: float) -> dict[str, Any]:
    """The first pair of this process (called by ``bench.child``)."""
    import time

    if side == "ours":
        import aiogstwebrtc  # noqa: F401

        imported = time.perf_counter()
        pair: Any = await open_ours(pacing_ms=options.get("pacing_ms"))
    else:
        import aiortc  # noqa: F401

        imported = time.perf_counter()
        pair = await open_aiortc()
    done = time.perf_counter()
    await pair.close()
    return {
        "open_s": pair.open_s,
        "import_s": imported - started,
        "total_s": done - started,
        "marks": getattr(pair, "marks", {}),
    }
