"""``scale_250``: N concurrent pairs in one process (N = 10, 100, 250), ours and aiortc alone;
``pairs_100``, ``rss_100`` and ``threads_per_pair``: the same at N = 100 for every stack
(ours, aiortc, and the native peers through ``bench/peer_driver.py``).

Each (side, N) runs in a fresh child process: one untimed pair first (plugins, certificates,
imports), then the idle process is measured, then N pairs are opened at once
(``asyncio.gather``). Reported: the wall time until every pair is open or has failed,
failures, and RSS, threads (kernel tasks) and file descriptors with all pairs open, as growth
over the idle process divided by the pairs that connected. The table's number is the connect
time at the largest N (250 in the full set, 10 in the quick set). ``rss_100`` is the peak
resident memory (``VmHWM``) of the process holding the 100 pairs, ``threads_per_pair`` the
threads added per open idle pair; in the quick set these three rows use N = 10.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from typing import Any

from . import native
from .common import (
    Result,
    Settings,
    fd_count,
    median,
    order_for_round,
    rotation,
    rss_bytes,
    run_child,
    thread_count,
)
from .native import PeerProcess


def peak_rss_bytes() -> int:
    """The peak resident set size of this process: ``VmHWM`` (``ru_maxrss`` would not do: it
    keeps the parent's peak across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


__all__ = ["NAMES", "run"]

NAMES = ("scale_250", "pairs_100", "rss_100", "threads_per_pair")


PAIRS_N = 100
#: rows measured from the N = 100 children: (unit, better, key in a child's result, description)
PAIR_ROWS: dict[str, tuple[str, str, str, str]] = {
    "pairs_100": ("s", "lower", "connect_s", "wall time to open 100 concurrent pairs"),
    "rss_100": ("MiB", "lower", "peak_rss_mib", "peak RSS of a process holding 100 open pairs"),
    "threads_per_pair": (
        "threads",
        "lower",
        "threads_per_pair",
        "threads added per open idle pair, 100 pairs in one process",
    ),
}


def run(settings: Settings, names: set[str]) -> list[Result]:
    """Run the requested benchmarks of this family."""
    results: list[Result] = []
    rows: list[dict[str, Any]] = []
    if "scale_250" in names:
        sizes = settings.pick([10, 100, 250], [10])
        for index, n in enumerate(sizes):
            for side in order_for_round(index):
                name = "ours" if side == "ours" else "aiortc"
                result = run_child("scale", name, {"n": n}, timeout=60 + 1.2 * n)
                rows.append({"side": name, "n": n, **result})
        results.append(_scale_250(rows, max(sizes)))
    wanted = [name for name in PAIR_ROWS if name in names]
    if wanted:
        results += _pair_rows(settings, rows, wanted)
    return results


def _scale_250(rows: list[dict[str, Any]], largest: int) -> Result:
    def pick(side: str, key: str) -> float:
        values = [r.get(key, math.nan) for r in rows if r["side"] == side and r["n"] == largest]
        return float(values[0]) if values else math.nan

    errors = [f"{r['side']} N={r['n']}: {r['error']}" for r in rows if "error" in r]
    details: dict[str, Any] = {"n": largest, "per_n": rows}
    if errors:
        details["errors"] = errors
    return Result(
        "scale_250",
        pick("ours", "connect_s"),
        pick("aiortc", "connect_s"),
        "s",
        "lower",
        details=details,
        description=f"wall time to open {largest} concurrent pairs in one process",
    )


def _pair_rows(settings: Settings, rows: list[dict[str, Any]], wanted: list[str]) -> list[Result]:
    """``pairs_100``, ``rss_100``, ``threads_per_pair``: every side at N = 100 (10 quick)."""
    n = settings.pick(PAIRS_N, 10)
    by_side: dict[str, dict[str, Any]] = {
        r["side"]: r for r in rows if r["n"] == n and r["side"] in ("ours", "aiortc")
    }
    peers = native.available()
    for side in rotation(0, ["ours", "aiortc", *peers]):
        if side in by_side:
            continue  # measured by scale_250 in this run
        if side in peers:
            with PeerProcess(side) as process:
                answer = process.request(timeout=60 + 1.2 * n, cmd="scale", n=n)
            by_side[side] = answer if answer.get("ok") else {"error": answer.get("error")}
        else:
            by_side[side] = run_child("scale", side, {"n": n}, timeout=60 + 1.2 * n)
    results = []
    for name in wanted:
        unit, better, key, description = PAIR_ROWS[name]

        def value(side: str, key: str = key) -> float:
            row = by_side.get(side, {})
            return math.nan if "error" in row else float(row.get(key, math.nan))

        errors = {side: str(r["error"]) for side, r in by_side.items() if "error" in r}
        details: dict[str, Any] = {"n": n, "per_side": by_side}
        if "ours" in errors or "aiortc" in errors:
            details["error"] = "; ".join(
                f"{s}: {errors[s]}" for s in ("ours", "aiortc") if s in errors
            )
        result = Result(
            name,
            value("ours"),
            value("aiortc"),
            unit,
            better,
            ours_samples=[value("ours")],
            other_samples=[value("aiortc")],
            details=details,
            description=description if n == PAIRS_N else description.replace("100", str(n)),
        )
        samples = {peer: [value(peer)] for peer in peers if peer not in errors}
        results.append(native.attach(result, samples, {p: errors[p] for p in peers if p in errors}))
    return results


# --- in the child process -----------------------------------------------------------------------


async def child_scale(side: str, options: dict[str, Any]) -> dict[str, Any]:
    """Open ``options["n"]`` pairs at once in this process and measure it."""
    from .common import raise_fd_limit
    from .pairs import open_aiortc, open_ours

    raise_fd_limit()
    n = int(options["n"])
    timeout = 30 + 0.4 * n

    async def one() -> Any:
        if side == "ours":
            return await open_ours(timeout=timeout)
        return await open_aiortc(timeout=timeout)

    warm = await one()
    await warm.close()
    del warm
    gc.collect()
    await asyncio.sleep(0.2)
    threads, fds, rss = thread_count(), fd_count(), rss_bytes()
    start = time.perf_counter()
    outcomes = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    connect_s = time.perf_counter() - start
    pairs = [o for o in outcomes if not isinstance(o, BaseException)]
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    await asyncio.sleep(0.2)
    gc.collect()
    connected = max(len(pairs), 1)
    result: dict[str, Any] = {
        "connect_s": round(connect_s, 3),
        "pair_open_median_s": round(median([p.open_s for p in pairs]), 4),
        "failures": len(failures),
        "failure_kinds": sorted({f"{type(f).__name__}: {f}"[:120] for f in failures})[:3],
        "rss_mb_per_pair": round((rss_bytes() - rss) / connected / 1e6, 3),
        "threads_per_pair": round((thread_count() - threads) / connected, 2),
        "fds_per_pair": round((fd_count() - fds) / connected, 2),
        "rss_mib": round(rss_bytes() / 2**20, 1),
        "peak_rss_mib": round(peak_rss_bytes() / 2**20, 1),
        "threads": thread_count(),
    }
    close_start = time.perf_counter()
    await asyncio.gather(*(p.close() for p in pairs), return_exceptions=True)
    result["close_s"] = round(time.perf_counter() - close_start, 3)
    del pairs, outcomes
    gc.collect()
    await asyncio.sleep(0.5)
    result["threads_left"] = thread_count() - threads
    result["fds_left"] = fd_count() - fds
    return result
