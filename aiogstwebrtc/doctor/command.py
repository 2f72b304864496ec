"""``aiogstwebrtc doctor``: the menu, the options and the output."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .approaches import APPROACHES, Approach, select
from .scenario import SCENARIOS, Scenario

__all__ = ["MENU", "add_arguments", "run", "run_doctor", "run_menu"]

MENU = """\
Which approach should run?
  1) Solution 1: synchronous promises (Gst.Promise.new + wait) on the GLib thread
  2) Solution 2: an early data channel (init_data_channel=True)
  3) Solution 3: change-func callbacks rescheduled with GLib.idle_add
  4) Solution 4: asyncio futures with call_soon_threadsafe (the default)
  5) all approaches: the four, gi-events, and the broken ones (to see why they fail)
  q) quit
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``aiogstwebrtc doctor``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--approach",
        metavar="WHICH",
        help="run without the menu: 1, 2, 3, 4, 5/all, or approach names "
        f"({', '.join(a.key for a in APPROACHES)}), comma-separated",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (schema aiogstwebrtc-doctor/1; implies --approach all "
        "when none is given)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="watchdog: an approach's child process that reports no progress for this long "
        "is killed and reported as deadlocked (default 20)",
    )
    parser.add_argument(
        "--step-timeout",
        type=float,
        metavar="SECONDS",
        help="how long each webrtcbin operation may take (default: a third of --timeout, "
        "at most 5)",
    )
    parser.add_argument(
        "--peer",
        choices=("webrtcbin", "aiortc", "both"),
        default="both",
        help="the offering peer (default both)",
    )
    parser.add_argument(
        "--offer",
        choices=("datachannel", "media", "both"),
        default="both",
        help="what it offers: a data channel only, audio+video+data, or both (default)",
    )
    parser.add_argument(
        "--jobs", type=int, metavar="N", help="approaches run at once (default: CPU count, <= 4)"
    )
    parser.add_argument(
        "--details", action="store_true", help="show every run in full, not only the first"
    )
    parser.add_argument(
        "--trace-threads",
        dest="doctor_trace_threads",
        action="store_true",
        help="show every callback of the runs with its thread (AIOGSTWEBRTC_TRACE_THREADS=1)",
    )


def _scenarios(peer: str, offer: str) -> tuple[Scenario, ...]:
    return tuple(
        scenario
        for scenario in SCENARIOS
        if peer in ("both", scenario.peer) and offer in ("both", scenario.offer)
    )


def _options(args: argparse.Namespace) -> dict[str, Any]:
    timeout = float(args.timeout)
    if timeout <= 0:
        raise ValueError("--timeout must be positive")
    step = args.step_timeout if args.step_timeout is not None else max(0.5, min(5.0, timeout / 3))
    if step <= 0:
        raise ValueError("--step-timeout must be positive")
    jobs = args.jobs if args.jobs is not None else max(1, min(4, os.cpu_count() or 1))
    from ..tracing import thread_tracing_enabled

    return {
        "timeout": timeout,
        "step_timeout": float(step),
        "jobs": max(1, jobs),
        "scenarios": _scenarios(args.peer, args.offer),
        "trace_threads": bool(args.doctor_trace_threads) or thread_tracing_enabled(),
    }


def _echo(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def run_doctor(
    approaches: list[Approach],
    options: dict[str, Any],
    environment: dict[str, Any] | None = None,
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Probe the environment (unless given), run ``approaches``, return the whole report."""
    from .environment import probe_environment
    from .report import build_report
    from .runner import RunOptions, run_approaches

    if environment is None:
        environment = probe_environment()
    results: list[dict[str, Any]] = []
    if not environment.get("required_missing"):
        run_options = RunOptions(
            timeout=options["timeout"],
            step_timeout=options["step_timeout"],
            scenarios=options["scenarios"],
            jobs=options["jobs"],
            network=environment["network"],
            trace_threads=options["trace_threads"],
            echo_stderr=_echo if options["trace_threads"] else None,
        )
        results = asyncio.run(run_approaches(approaches, run_options, on_report))
    return build_report(
        environment,
        results,
        approaches,
        {
            "scenarios": [scenario.key for scenario in options["scenarios"]],
            "timeout_s": options["timeout"],
            "step_timeout_s": options["step_timeout"],
            "jobs": options["jobs"],
        },
    )


def _write_runs(report: dict[str, Any], out: TextIO, details: bool) -> None:
    from .report import render_approach, render_verdict

    for approach in report["approaches"]:
        out.write("\n" + render_approach(approach, details) + "\n")
    out.write("\n" + render_verdict(report) + "\n")
    out.flush()


def _progress(out: TextIO, total: int) -> Callable[[dict[str, Any]], None]:
    finished = 0

    def show(report: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1
        outcome = "works" if report["worked"] else "fails"
        out.write(
            f"  [{finished}/{total}] {report['key']}: {outcome} "
            f"({report['duration_ms'] / 1000:.1f} s)\n"
        )
        out.flush()

    return show


def run_menu(options: dict[str, Any], stdin: TextIO, out: TextIO, details: bool = False) -> int:
    """The interactive menu; reads choices line by line (works with piped input)."""
    from .environment import probe_environment
    from .report import render_environment

    out.write("aiogstwebrtc doctor: which promise strategy works on this machine?\n\n")
    environment = probe_environment()
    out.write(render_environment(environment) + "\n")
    status = 0
    show_menu = True
    while True:
        out.write(("\n" + MENU if show_menu else "") + "choice: ")
        out.flush()
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            out.write("\n")
            return 130
        choice = line.strip().lower()
        if not line or choice in ("q", "quit", "exit"):
            out.write("\n" if not line else "")
            break
        show_menu = False
        if not choice:
            continue
        if choice not in ("1", "2", "3", "4", "5", "all"):
            out.write(f"unknown choice {choice!r}: type 1, 2, 3, 4, 5 or q\n")
            continue
        show_menu = True
        approaches = select(choice)
        out.write(f"\nrunning {len(approaches)} approach(es)...\n")
        out.flush()
        try:
            report = run_doctor(approaches, options, environment, _progress(out, len(approaches)))
        except KeyboardInterrupt:
            out.write("\ninterrupted: the children were stopped\n")
            continue
        _write_runs(report, out, details)
        status = report["exit_status"]
    out.flush()
    return status


def run(args: argparse.Namespace) -> int:
    """Run ``aiogstwebrtc doctor`` with parsed arguments; return the exit status."""
    try:
        options = _options(args)
        approaches = select(args.approach) if args.approach else None
    except ValueError as exc:
        sys.stderr.write(f"aiogstwebrtc doctor: {exc}\n")
        return 2
    if approaches is None and not args.json:
        return run_menu(options, sys.stdin, sys.stdout, args.details)
    approaches = approaches or select("all")
    out = sys.stdout
    if args.json:
        report = run_doctor(approaches, options)
        out.write(json.dumps(report, indent=2) + "\n")
        out.flush()
        return int(report["exit_status"])
    from .environment import probe_environment
    from .report import render_environment

    environment = probe_environment()
    out.write(render_environment(environment) + "\n")
    out.write(f"\nrunning {len(approaches)} approach(es)...\n")
    out.flush()
    report = run_doctor(approaches, options, environment, _progress(out, len(approaches)))
    _write_runs(report, out, args.details)
    return int(report["exit_status"])
