"""The benchmark runner: ``python -m bench [--quick] [--only NAMES] [--out DIR]``.

Runs each requested benchmark (ours and the other side alternating), prints one line per
result and writes ``<name>.json``, ``<name>.md``, ``<name>.png`` and ``<name>-details.json``
to ``--out`` (default ``bench/results``; ``latest`` for a full run, ``quick`` with
``--quick``). It re-executes itself inside ``scripts/in-netns.sh`` when started outside a
network namespace: no benchmark opens a socket on the host network.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .common import ROOT, Result, Settings, ensure_namespace, in_namespace, raise_fd_limit

__all__ = ["ALL_NAMES", "SPECS", "main"]

# name: (unit, better, other side, family module)
SPECS: dict[str, tuple[str, str, str, str]] = {
    "open_warm": ("ms", "lower", "aiortc", "open"),
    "open_cold": ("ms", "lower", "aiortc", "open"),
    "throughput_1k": ("MB/s", "higher", "aiortc", "datachannels"),
    "throughput_16k": ("MB/s", "higher", "aiortc", "datachannels"),
    "throughput_64k": ("MB/s", "higher", "aiortc", "datachannels"),
    "message_rate": ("msg/s", "higher", "aiortc", "datachannels"),
    "rtt_32b": ("ms", "lower", "aiortc", "datachannels"),
    "hop": ("µs", "lower", "baseline", "hop"),
    "wrapper_overhead": ("MB/s", "higher", "baseline", "wrapper"),
    "scale_250": ("s", "lower", "aiortc", "scale"),
    "pairs_100": ("s", "lower", "aiortc", "scale"),
    "rss_100": ("MiB", "lower", "aiortc", "scale"),
    "threads_per_pair": ("threads", "lower", "aiortc", "scale"),
    "media_cpu_720p": ("CPU s/s", "lower", "aiortc", "media"),
}
ALL_NAMES = tuple(SPECS)


def _family(module: str) -> ModuleType:
    import importlib

    return importlib.import_module(f"bench.{module}")


def _failed(name: str, error: str) -> Result:
    unit, better, other, _module = SPECS[name]
    return Result(name, math.nan, math.nan, unit, better, other, details={"error": error})


def run_benchmarks(
    names: Sequence[str], settings: Settings, report: Callable[[Result], None]
) -> list[Result]:
    """Run ``names`` family by family; a family that crashes gives NaN results, not a stop."""
    results: list[Result] = []
    families: dict[str, list[str]] = {}
    for name in names:
        families.setdefault(SPECS[name][3], []).append(name)
    for module, wanted in families.items():
        started = time.monotonic()
        try:
            produced = _family(module).run(settings, set(wanted))
        except Exception as exc:  # keep the other families' numbers
            traceback.print_exc()
            produced = [_failed(name, f"{type(exc).__name__}: {exc}") for name in wanted]
        for result in produced:
            result.details.setdefault("seconds_spent", round(time.monotonic() - started, 1))
            report(result)
            results.append(result)
    order = {name: index for index, name in enumerate(ALL_NAMES)}
    return sorted(results, key=lambda r: order[r.name])


def _print_result(result: Result) -> None:
    ratio = "n/a" if math.isnan(result.ratio) else f"{result.ratio:.3g}"
    error = result.details.get("error")
    suffix = f"  ERROR {error}" if error else ""
    peers = "".join(
        f"  {peer} {result.peers[peer]:.4g}" if status == "ok" else f"  {peer} [{status}]"
        for peer, status in result.peer_status.items()
    )
    best = "" if math.isnan(result.ratio_best) else f" best-peer ratio {result.ratio_best:.3g}"
    print(
        f"{result.name:18} ours {result.ours:12.4g}  {result.other_label} "
        f"{result.other:12.4g} {result.unit:8} ratio {ratio:>7} ({result.better} is better)"
        f"{peers}{best}{suffix}",
        flush=True,
    )


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="aiogstwebrtc benchmarks against aiortc, aiolibdatachannel and wrtc",
    )
    parser.add_argument("--quick", action="store_true", help="reduced set (< 60 s)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per side")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--name", default=None, help="file stem (latest, or quick)")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--install-peers",
        action="store_true",
        help="create the native peers' venvs (.bench-venvs/) from PyPI where missing "
        "(before entering the network namespace; see python -m bench.native)",
    )
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = _parse(args_list)
    if args.list:
        for name, (unit, better, other, module) in SPECS.items():
            print(f"{name:18} {unit:8} {better:6} vs {other:8} (bench/{module}.py)")
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(ALL_NAMES)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    from . import native

    if args.install_peers and not in_namespace():  # PyPI is out of reach inside the namespace
        native.prepare(install=True)
    ensure_namespace(args_list)
    raise_fd_limit()
    os.environ.setdefault("GST_DEBUG", "0")
    settings = Settings(quick=args.quick, rounds=args.rounds)
    peers = native.prepare(install=False)
    for peer, (state, detail) in peers.items():
        print(f"bench: peer {peer}: {state} ({detail})", flush=True)
    stem = args.name or ("quick" if args.quick else "latest")
    started = time.monotonic()
    load_before = os.getloadavg()
    print(f"bench: {len(names)} benchmark(s), {'quick' if args.quick else 'full'} set", flush=True)
    results = run_benchmarks(names, settings, _print_result)
    meta: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "seconds": round(time.monotonic() - started, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "peers": {
            peer: {"state": state, "detail": detail} for peer, (state, detail) in peers.items()
        },
    }
    from .report import write_all

    written = write_all(results, args.out, stem, meta, charts=not args.no_charts)
    print(f"bench: done in {meta['seconds']} s; wrote " + ", ".join(str(p) for p in written))
    return 0
