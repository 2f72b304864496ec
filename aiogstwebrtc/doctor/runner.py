"""The parent side: one child process per approach, a watchdog on each, reports assembled.

A child reports every step as it starts and ends (see :mod:`aiogstwebrtc.doctor.child`). The
watchdog kills a child that reports nothing for ``timeout`` seconds — whatever it was doing,
a deadlocked thread can never hang the doctor — and the step it was in is named in the
report: "deadlock detected in step X".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..netns import namespace_command
from ..timeouts import wait_for
from .approaches import Approach
from .scenario import SCENARIOS, Failure, Scenario, empty_result, reason_text

__all__ = ["RunOptions", "run_approach", "run_approaches"]

log = logging.getLogger(__name__)

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent.parent)
_STDERR_TAIL = 4000


@dataclass
class RunOptions:
    """How the doctor runs approaches.

    ``timeout``: the watchdog, seconds a child may go without reporting progress;
    ``step_timeout``: seconds each webrtcbin operation may take inside the child;
    ``jobs``: children running at once; ``network``: from
    :func:`~aiogstwebrtc.doctor.environment.network_plan`.
    """

    timeout: float = 20.0
    step_timeout: float = 5.0
    scenarios: tuple[Scenario, ...] = SCENARIOS
    jobs: int = 2
    network: dict[str, Any] = field(default_factory=dict)
    trace_threads: bool = False
    echo_stderr: Callable[[str], None] | None = None


def _child_command(approach: Approach, options: RunOptions) -> tuple[list[str], str]:
    argv = [
        sys.executable,
        "-m",
        "aiogstwebrtc.doctor.child",
        "--approach",
        approach.key,
        "--scenarios",
        ",".join(scenario.key for scenario in options.scenarios),
        "--step-timeout",
        f"{options.step_timeout:g}",
    ]
    mode = options.network.get("mode", "loopback")
    if mode == "inherited":
        return argv, "inherited"
    if not any(scenario.peer == "aiortc" for scenario in options.scenarios):
        return argv, "none"  # webrtcbin peers stay on 127.0.0.1
    if mode == "new":
        wrapped = namespace_command(argv)
        if wrapped is not None:
            return wrapped, "new"
    reason = options.network.get("aiortc_reason") or "no network namespace for aiortc"
    return [*argv, "--skip", f"aiortc={reason}"], "none"


def _environment(options: RunOptions) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE"):
        env.pop(name, None)  # asyncio's debug mode would change what the broken ones do
    paths = [_PACKAGE_ROOT, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if options.trace_threads:
        env["AIOGSTWEBRTC_TRACE_THREADS"] = "1"
    return env


class _ChildState:
    def __init__(self, approach: Approach, options: RunOptions) -> None:
        self.approach = approach
        self.options = options
        self.results: dict[str, dict[str, Any]] = {}
        self.scenario: str | None = None
        self.step: str | None = None
        self.done: dict[str, Any] | None = None
        self.error: str | None = None
        self.pid: int | None = None

    def feed(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "hello":
            self.pid = event.get("pid")
        elif kind == "step":
            self.scenario = event.get("scenario")
            self.step = event.get("step") if event.get("phase") == "start" else None
        elif kind == "scenario":
            result = event["result"]
            self.results[f"{result['peer']}/{result['offer']}"] = result
            self.scenario = self.step = None
        elif kind == "done":
            self.done = event
        elif kind == "error":
            self.error = event.get("error")


async def _read_stderr(stream: asyncio.StreamReader, tail: bytearray, echo: Any) -> None:
    while line := await stream.readline():
        tail.extend(line)
        del tail[: max(0, len(tail) - _STDERR_TAIL)]
        if echo is not None:
            echo(line.decode(errors="replace"))


def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill the child and anything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


async def run_approach(approach: Approach, options: RunOptions) -> dict[str, Any]:
    """Run ``approach`` in a child process under the watchdog; return its report."""
    started = time.monotonic()
    argv, namespace = _child_command(approach, options)
    state = _ChildState(approach, options)
    tail = bytearray()
    fired = False
    failure: Failure | None = None
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_environment(options),
            start_new_session=True,
            limit=1 << 22,
        )
    except OSError as exc:
        return _not_started(approach, options, f"{argv[0]}: {exc}", started)
    assert process.stdout is not None and process.stderr is not None
    echo = None
    if options.echo_stderr is not None:
        sink = options.echo_stderr

        def echo(text: str) -> None:
            sink(f"[{approach.key}] {text}")

    stderr_task = asyncio.ensure_future(_read_stderr(process.stderr, tail, echo))
    last_progress = time.monotonic()
    try:
        while True:
            remaining = options.timeout - (time.monotonic() - last_progress)
            try:
                line = await wait_for(process.stdout.readline(), max(remaining, 0))
            except TimeoutError:
                fired = True
                break
            if not line:
                break
            last_progress = time.monotonic()
            try:
                state.feed(json.loads(line))
            except (ValueError, KeyError, TypeError):
                log.debug("unreadable line from the child: %r", line[:200])
    finally:
        if fired or state.done is None:
            _kill(process)
        try:
            await wait_for(process.wait(), 5)
        except TimeoutError:
            _kill(process)
            await process.wait()
        with contextlib.suppress(TimeoutError):
            await wait_for(stderr_task, 2)
        stderr_task.cancel()
    stderr_text = tail.decode(errors="replace")
    if fired:
        step = state.step or "start-up"
        failure = Failure(
            "deadlock",
            step,
            f"the child made no progress for {options.timeout:g} s (a blocked thread); "
            f"the watchdog killed it (pid {state.pid or process.pid})",
        )
    elif state.done is None:
        step = state.step or "start-up"
        code = process.returncode
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        last = next((x for x in reversed(stderr_text.strip().splitlines()) if x.strip()), "")
        detail = f"the child process {how}" + (f": {last.strip()}" if last else "")
        if state.error:
            detail = f"the child failed: {state.error}"
        failure = Failure("crash", step, detail)
    return _assemble(
        approach, options, state, failure, fired, namespace, process, started, stderr_text
    )


def _assemble(
    approach: Approach,
    options: RunOptions,
    state: _ChildState,
    failure: Failure | None,
    fired: bool,
    namespace: str,
    process: asyncio.subprocess.Process | None,
    started: float,
    stderr_text: str,
) -> dict[str, Any]:
    scenarios: list[dict[str, Any]] = []
    first_failure: dict[str, Any] | None = None
    # A child that died or was killed was in this scenario (or about to start it).
    target = state.scenario or next(
        (item.key for item in options.scenarios if item.key not in state.results), None
    )
    for scenario in options.scenarios:
        result = state.results.get(scenario.key)
        if result is None:
            if failure is not None and scenario.key == target:
                result = empty_result(scenario, "failed", failure)
            else:
                result = empty_result(scenario, "not-run")
        scenarios.append(result)
        if result["status"] == "failed" and first_failure is None:
            first_failure = result["failure"]
    ran = [item for item in scenarios if item["status"] in ("worked", "failed")]
    worked = bool(ran) and all(item["status"] == "worked" for item in ran)
    if first_failure is None and not ran:
        skipped = [item["reason"] for item in scenarios if item["status"] == "skipped"]
        detail = skipped[0] if skipped else "nothing was run"
        first_failure = {"kind": "skipped", "step": None, "detail": detail.split(": ", 1)[-1]}
    reason = None
    if first_failure is not None and not worked:
        reason = reason_text(first_failure["kind"], first_failure["step"], first_failure["detail"])
    done = state.done or {}
    return {
        "key": approach.key,
        "number": approach.number,
        "title": approach.title,
        "kind": approach.kind,
        "summary": approach.summary,
        "strategy": approach.strategy,
        "init_data_channel": approach.init_data_channel,
        "loop": approach.loop,
        "expected_failure": approach.expected_failure,
        "worked": worked,
        "as_expected": (not worked) if approach.broken else worked,
        "reason": reason,
        "failure": None if worked else first_failure,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "watchdog": {
            "timeout_s": options.timeout,
            "fired": fired,
            "pid": state.pid or (process.pid if process is not None else None),
            "exit_status": None if process is None else process.returncode,
            "namespace": namespace,
        },
        "scenarios": scenarios,
        "notes": [note["what"] for note in done.get("notes", [])],
        "workarounds": list(done.get("workarounds", [])),
        "stderr_tail": stderr_text[-_STDERR_TAIL:] if not worked or fired else "",
    }


def _not_started(
    approach: Approach, options: RunOptions, error: str, started: float
) -> dict[str, Any]:
    failure = Failure("crash", "start-up", f"the child process could not start ({error})")
    state = _ChildState(approach, options)
    report = _assemble(approach, options, state, failure, False, "none", None, started, "")
    return report


async def run_approaches(
    approaches: list[Approach],
    options: RunOptions,
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the approaches, ``options.jobs`` at a time; reports come back in the given order."""
    limit = asyncio.Semaphore(max(1, options.jobs))

    async def one(approach: Approach) -> dict[str, Any]:
        async with limit:
            report = await run_approach(approach, options)
        if on_report is not None:
            on_report(report)
        return report

    return list(await asyncio.gather(*(one(approach) for approach in approaches)))
