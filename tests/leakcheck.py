"""Counting what a process holds: fds, UDP sockets, eventfds, threads, RSS, GStreamer objects.

The one place tests and benchmarks (``bench/``) count a process's resources:
:func:`thread_count`, :func:`fd_count` and :func:`rss_bytes` read one figure each; a
:class:`Resources` snapshot reads them all from ``/proc`` (of this process or of another
one by pid):

- ``fds``: open file descriptors;
- ``udp``: UDP sockets, the inodes of ``/proc/PID/net/udp`` (and ``udp6``) matched to the
  ``socket:[inode]`` links of ``/proc/PID/fd`` (the namespace's table lists every process's
  sockets; only the matched ones are this process's);
- ``eventfds``: ``anon_inode:[eventfd]`` descriptors (one or two per GMainContext/GstPoll);
- ``threads``: kernel threads (GStreamer's and libnice's included);
- ``rss``: resident memory in bytes.

:func:`gst_live_objects` asks GStreamer itself: with ``GST_TRACERS=leaks`` in the
environment *before* ``Gst.init``, the tracer's ``get-live-objects`` action lists every
``GstObject`` (elements, pads, bins, ...) and mini object alive right now. Set the variable
in a child process (:func:`leak_tracer_env`), never globally in the test process.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LeakCheck",
    "Resources",
    "assert_back_to_baseline",
    "fd_count",
    "gst_live_objects",
    "leak_tracer_env",
    "python_threads",
    "rss_bytes",
    "snapshot",
    "thread_count",
    "udp_socket_inodes",
    "wait_until_settled",
]


def _proc(pid: int | None) -> str:
    return f"/proc/{'self' if pid is None else pid}"


def _fd_targets(pid: int | None) -> list[str]:
    base = f"{_proc(pid)}/fd"
    targets = []
    for name in os.listdir(base):
        with contextlib.suppress(OSError):  # closed between listdir and readlink
            targets.append(os.readlink(f"{base}/{name}"))
    return targets


def thread_count(pid: int | None = None) -> int:
    """Threads of process ``pid`` (default: this one) as the kernel sees them (GStreamer's
    and libnice's included)."""
    return len(os.listdir(f"{_proc(pid)}/task"))


def fd_count(pid: int | None = None) -> int:
    """Open file descriptors of process ``pid`` (default: this one)."""
    return len(os.listdir(f"{_proc(pid)}/fd"))


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of process ``pid`` (default: this one), in bytes."""
    with open(f"{_proc(pid)}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def python_threads() -> list[str]:
    """Names of this process's live Python threads."""
    return [thread.name for thread in threading.enumerate()]


def udp_socket_inodes(pid: int | None = None) -> set[int]:
    """Inodes of the UDP sockets process ``pid`` (default: this one) has open."""
    table: set[int] = set()
    for name in ("udp", "udp6"):
        try:
            with open(f"{_proc(pid)}/net/{name}") as lines:
                next(lines)  # the header
                for line in lines:
                    fields = line.split()
                    if len(fields) > 9:
                        table.add(int(fields[9]))
        except FileNotFoundError:
            continue
    mine = set()
    for target in _fd_targets(pid):
        if target.startswith("socket:["):
            inode = int(target[8:-1])
            if inode in table:
                mine.add(inode)
    return mine


@dataclass(frozen=True)
class Resources:
    """What a process held at one moment."""

    fds: int
    udp: int
    eventfds: int
    threads: int
    rss: int

    def minus(self, other: Resources) -> dict[str, int]:
        """The growth since ``other``, field by field."""
        return {
            "fds": self.fds - other.fds,
            "udp": self.udp - other.udp,
            "eventfds": self.eventfds - other.eventfds,
            "threads": self.threads - other.threads,
            "rss": self.rss - other.rss,
        }

    def __str__(self) -> str:
        return (
            f"fds={self.fds} udp={self.udp} eventfds={self.eventfds} "
            f"threads={self.threads} rss={self.rss / 1e6:.1f}MB"
        )


def snapshot(pid: int | None = None) -> Resources:
    """Count what process ``pid`` (default: this one) holds now."""
    targets = _fd_targets(pid)
    return Resources(
        fds=len(targets),
        udp=len(udp_socket_inodes(pid)),
        eventfds=sum(1 for target in targets if target == "anon_inode:[eventfd]"),
        threads=thread_count(pid),
        rss=rss_bytes(pid),
    )


def wait_until_settled(
    check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.05
) -> bool:
    """Poll ``check`` until it is true or ``timeout`` passes (threads exit asynchronously).

    Only for counting kernel resources that have no event to wait on.
    """
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def assert_back_to_baseline(
    baseline: Resources,
    *,
    pid: int | None = None,
    fds: int = 0,
    udp: int = 0,
    threads: int = 0,
    timeout: float = 5.0,
    collect: bool = False,
) -> Resources:
    """Assert fds, UDP sockets, eventfds and threads are back to ``baseline`` (plus slack).

    ``collect=False`` (the default) does not run the garbage collector first: resources
    that only a collection frees are what a deterministic ``close()`` must not leave.
    """
    if collect:
        gc.collect()

    def ok() -> bool:
        now = snapshot(pid)
        return (
            now.fds <= baseline.fds + fds
            and now.udp <= baseline.udp + udp
            and now.eventfds <= baseline.eventfds + fds
            and now.threads <= baseline.threads + threads
        )

    wait_until_settled(ok, timeout)
    now = snapshot(pid)
    assert ok(), f"resources not back to baseline: before {baseline}, after {now}"
    return now


class LeakCheck:
    """This process's baseline and the check against it (the ``leak_check`` fixture)."""

    def __init__(self) -> None:
        self._baseline: Resources | None = None

    def baseline(self) -> Resources:
        """Record what the process holds now (call after a warm-up scenario)."""
        self._baseline = snapshot()
        return self._baseline

    def assert_back(self, **slack: Any) -> Resources:
        """Assert fds, UDP sockets, eventfds and threads are back to the baseline."""
        assert self._baseline is not None, "call baseline() first"
        return assert_back_to_baseline(self._baseline, **slack)


def leak_tracer_env(log_file: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for a child process with GStreamer's ``leaks`` tracer on.

    The tracer's lines go to ``log_file`` (GStreamer's debug log, GST_TRACER only).
    """
    env = dict(os.environ if environ is None else environ)
    env["GST_TRACERS"] = "leaks"
    env["GST_DEBUG"] = "GST_TRACER:7"  # object-alive lines are TRACE level
    env["GST_DEBUG_NO_COLOR"] = "1"
    env["GST_DEBUG_FILE"] = log_file
    return env


def gst_live_objects() -> Counter[str] | None:
    """Live GStreamer objects by type name, from the ``leaks`` tracer (None if not active).

    Needs :func:`leak_tracer_env` (the tracer logs to ``GST_DEBUG_FILE``). The tracer's
    ``log-live-objects`` action writes one ``object-alive`` line per ``GstObject`` and mini
    object alive now; this reads the lines it adds. (Its ``get-live-objects`` action is
    unusable on 1.22: freeing the returned structure unrefs objects it never reffed.)
    """
    from aiogstwebrtc.gst import Gst

    path = os.environ.get("GST_DEBUG_FILE")
    tracer = next(
        (t for t in Gst.tracing_get_active_tracers() if type(t).__name__ == "GstLeaksTracer"),
        None,
    )
    if tracer is None or not path:
        return None
    start = os.path.getsize(path)
    tracer.emit("log-live-objects")
    with open(path, "rb") as log:
        log.seek(start)
        text = log.read().decode(errors="replace")
    return Counter(_LIVE_OBJECT.findall(text))


_LIVE_OBJECT = re.compile(r"object-alive, type-name=\(string\)(\w+)")
