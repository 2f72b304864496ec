"""The doctor's child process: runs the scenarios of one approach and reports as it goes.

``python -m aiogstwebrtc.doctor.child --approach KEY --scenarios webrtcbin/datachannel,...``

It writes one JSON object per line to its standard output (file descriptor 1 is then
pointed at standard error, so that nothing else can get in the way):

* ``{"event": "hello", "pid", "loop", "isolated"}`` once it has started;
* ``{"event": "step", "scenario", "step", "phase": "start"|"end", "ms"}`` as it goes;
* ``{"event": "scenario", "result": {...}}`` after each scenario (see
  :mod:`aiogstwebrtc.doctor.report` for the fields);
* ``{"event": "done", "notes", "workarounds", "poisoned"}`` at the end.

Then it leaves with ``os._exit`` without waiting for GStreamer's threads, so that a thread left
blocked by a broken approach cannot keep it alive. The parent's watchdog kills it if it stops
reporting. For testing that watchdog, ``AIOGSTWEBRTC_DOCTOR_HANG_STEP=<step>`` makes it block
its asyncio thread when that step starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["main"]

HANG_VARIABLE = "AIOGSTWEBRTC_DOCTOR_HANG_STEP"


class _Workarounds(logging.Handler):
    """Collects the library's debug notes about the GStreamer 1.22 workarounds it applied."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "workaround" in message or "reference restored" in message:
            if message not in self.seen:
                self.seen.append(message)


def _writer(stream: TextIO) -> Any:
    def send(event: dict[str, Any]) -> None:
        stream.write(json.dumps(event) + "\n")
        stream.flush()

    return send


async def _run(
    approach_key: str,
    scenario_keys: Sequence[str],
    step_timeout: float,
    skip: dict[str, str],
    send: Any,
    workarounds: _Workarounds,
) -> None:
    from ..netns import in_isolated_namespace
    from ..strategies.broken import BrokenStrategy
    from .approaches import by_key
    from .peers import aiortc_version
    from .scenario import Scenario, ScenarioRun, skipped_result

    approach = by_key(approach_key)
    hang_step = os.environ.get(HANG_VARIABLE) or None
    not_here = skip.get("*")
    notes: list[dict[str, Any]] = []
    poisoned = False
    for key in scenario_keys:
        scenario = Scenario.parse(key)
        reason = not_here or skip.get(scenario.peer)
        if reason is None and scenario.peer == "aiortc":
            if aiortc_version() is None:
                reason = "aiortc is not installed (pip install aiortc)"
            elif not in_isolated_namespace():
                reason = "aiortc needs a network namespace of its own, and this is not one"
        if reason is not None:
            send({"event": "scenario", "result": skipped_result(scenario, reason)})
            continue

        def progress(event: dict[str, Any], key: str = key) -> None:
            send({**event, "scenario": key})

        run = ScenarioRun(
            approach, scenario, step_timeout=step_timeout, progress=progress, hang_step=hang_step
        )
        result = await run.run()
        if isinstance(run.inner, BrokenStrategy):
            notes.extend(
                {"scenario": key, "thread": note["thread"], "what": note["what"]}
                for note in run.inner.notes()
            )
        send({"event": "scenario", "result": result})
        if run.poisoned:
            poisoned = True
            break
        if not result["worked"] and approach.broken:
            break  # one failure shows it; the others would fail the same way
    send({"event": "done", "notes": notes, "workarounds": workarounds.seen, "poisoned": poisoned})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(prog="python -m aiogstwebrtc.doctor.child")
    parser.add_argument("--approach", required=True)
    parser.add_argument("--scenarios", required=True, help="comma-separated peer/offer keys")
    parser.add_argument("--step-timeout", type=float, default=5.0)
    parser.add_argument(
        "--skip", action="append", default=[], metavar="PEER=REASON", help="skip a peer"
    )
    args = parser.parse_args(argv)
    # The protocol gets its own copy of stdout; stray writes to fd 1 go to stderr instead.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    send = _writer(protocol)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    workarounds = _Workarounds()
    gst_log = logging.getLogger("aiogstwebrtc.gst")
    gst_log.addHandler(workarounds)
    gst_log.setLevel(logging.DEBUG)
    gst_log.propagate = False
    warnings_only = logging.StreamHandler(sys.stderr)
    warnings_only.setLevel(logging.WARNING)
    gst_log.addHandler(warnings_only)
    from ..tracing import enable_thread_tracing, thread_tracing_enabled

    if thread_tracing_enabled():
        enable_thread_tracing()
    skip = dict(item.split("=", 1) for item in args.skip if "=" in item)
    from .approaches import by_key

    approach = by_key(args.approach)
    send(
        {
            "event": "hello",
            "pid": os.getpid(),
            "loop": approach.loop,
            "isolated": os.environ.get("AIOGST_NETNS") == "1",
        }
    )
    code = 0
    if approach.loop == "gi-events":
        try:
            from gi.events import GLibEventLoopPolicy  # noqa: F401
        except ImportError as exc:
            skip["*"] = f"gi.events is not available ({exc}): it needs PyGObject >= 3.50"
    coroutine = _run(
        approach.key, args.scenarios.split(","), args.step_timeout, skip, send, workarounds
    )
    try:
        if approach.loop == "gi-events" and "*" not in skip:
            from .. import run as run_on_glib

            run_on_glib(coroutine, gi_events=True)
        else:
            asyncio.run(coroutine)
    except BaseException as exc:  # reported, then the parent decides
        logging.getLogger(__name__).exception("the doctor's child failed")
        send({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
        code = 1
    protocol.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
