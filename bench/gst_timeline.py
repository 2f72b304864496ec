"""An open's stages from GStreamer's own debug log (``python -m bench.timeline --gst-log``).

GStreamer stamps every debug line with the time since ``gst_init`` on its monotonic clock,
on the thread that logs it. :func:`debug_environment` asks for a few categories at the
levels where webrtcbin, the DTLS and SCTP elements and the data channels report their
steps (a few hundred lines per open, not the per-packet ``LOG`` level); :func:`mark` writes
a line of our own into the same log when the clock of ``bench.timeline`` starts, and
:func:`parse` gives, for every round, each step's time in ms after that line.

The steps, in the order an open takes them (first and last occurrence where both sides
report one):

- webrtcbin's operation thread: creating the offer (which builds the transport and SCTP
  elements for the data channel), setting it locally, the answerer's set-remote, create and
  set-local, the offerer's set-remote of the answer; ICE gathering complete; connection
  state ``connecting`` and ``connected``;
- the DTLS elements: a handshake starting (``dtlsenc`` starts its connection) and done
  (``dtlsconnection``: keys exported);
- usrsctp (``sctpassociation``): the association up;
- the data channels: DATA_CHANNEL_OPEN sent, the last channel (the hidden keep-alive
  channel included) open in webrtcbin.

Debug logging costs time itself (each line is formatted and written): compare the open
time of a ``--gst-log`` run with one without it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

__all__ = [
    "GST_STEPS",
    "debug_environment",
    "log_line",
    "log_lines",
    "mark",
    "parse",
    "split_rounds",
]

#: Categories and levels: DEBUG only where the step is logged at DEBUG.
CATEGORIES = (
    "webrtcbin:5,webrtctransportreceivebin:5,webrtctransportsendbin:4,dtlsenc:5,"
    "dtlsconnection:4,sctpassociation:5,webrtcdatachannel:4"
)
_RECEIVE_BIN_PLAYING = r"transport_receive_bin_change_state: changing state: PAUSED => PLAYING"

#: (step, thread-independent pattern on the message, "first" or "last").
GST_STEPS: tuple[tuple[str, str, str], ...] = (
    ("offer: webrtcbin starts creating it", r"creating offer sdp", "first"),
    ("offer: transport elements built", _RECEIVE_BIN_PLAYING, "first"),
    ("offer: set locally", r"set local offer", "first"),
    ("offerer: ICE gathering complete", r"gathering\(1\) to complete\(2\)", "first"),
    ("answerer: set remote offer", r"set remote offer", "first"),
    ("answerer: transport elements built", _RECEIVE_BIN_PLAYING, "last_before_answer"),
    ("answerer: creating the answer", r"creating answer sdp", "first"),
    ("answerer: answer set locally", r"set local answer", "first"),
    ("offerer: set remote answer", r"set remote answer", "first"),
    ("connection state connecting (first side)", r"new\(0\) to connecting\(1\)", "first"),
    ("DTLS handshake starts (first side)", r"starting connection", "first"),
    ("DTLS handshake done (both)", r"handshake just completed successfully", "last"),
    ("connection state connected (both)", r"connecting\(1\) to connected\(2\)", "last"),
    ("SCTP association up (both)", r"SCTP association connected", "last"),
    ("DCEP: DATA_CHANNEL_OPEN sent", r"Sending channel open", "first"),
    ("every channel open in webrtcbin", r"We are open and ready for data", "last"),
)

_LINE = re.compile(r"^(\d+):(\d\d):(\d\d)\.(\d{9})\s+\d+\s+(0x[0-9a-f]+)\s+\w+\s+(\S+)\s+(.*)$")
_MARK = "aiogstwebrtc bench: clock starts"


def debug_environment(path: str, categories: str = CATEGORIES) -> dict[str, str]:
    """Environment variables that send ``categories``' log to ``path`` (before gst_init)."""
    return {"GST_DEBUG": categories, "GST_DEBUG_FILE": path, "GST_DEBUG_NO_COLOR": "1"}


def mark() -> None:
    """Write the round's start line into GStreamer's debug log (any thread)."""
    log_line(_MARK)


def log_line(text: str) -> None:
    """Write ``text`` into GStreamer's debug log, as an ERROR of webrtcbin's category."""
    from aiogstwebrtc.gst import Gst

    Gst.debug_log_literal(_category(), Gst.DebugLevel.ERROR, "bench", "mark", 0, None, text)


@functools.cache
def _category() -> Any:
    from aiogstwebrtc.gst import Gst

    for category in Gst.debug_get_all_categories():
        if category.get_name() == "webrtcbin":
            return category
    raise RuntimeError("webrtcbin's debug category is not registered")


def log_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """The lines of a GStreamer debug log as (ns since gst_init, thread, message)."""
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is not None:
            hours, minutes, seconds, fraction = (int(match.group(i)) for i in range(1, 5))
            ns = ((hours * 60 + minutes) * 60 + seconds) * 1_000_000_000 + fraction
            yield ns, match.group(5), match.group(7)


def split_rounds(text: str, marker: str, unit_ns: float) -> list[list[tuple[float, str, str]]]:
    """The log's lines after each line containing ``marker``, one list per marker, as
    (time since that marker in units of ``unit_ns``, thread, message)."""
    rounds: list[list[tuple[float, str, str]]] = []
    start = 0
    for now, thread, message in log_lines(text):
        if marker in message:
            rounds.append([])
            start = now
        elif rounds:
            rounds[-1].append(((now - start) / unit_ns, thread, message))
    return rounds


def parse(text: str) -> list[dict[str, float]]:
    """Every round's steps, in ms after its :func:`mark` line."""
    return [
        _steps([(t, message) for t, _thread, message in lines])
        for lines in split_rounds(text, _MARK, 1e6)
    ]


def _steps(lines: list[tuple[float, str]]) -> dict[str, float]:
    steps: dict[str, float] = {}
    answer_created = next((t for t, text in lines if "creating answer sdp" in text), None)
    for name, pattern, which in GST_STEPS:
        regex = re.compile(pattern)
        times = [t for t, text in lines if regex.search(text)]
        if which == "last_before_answer":
            times = [t for t in times if answer_created is not None and t < answer_created]
            which = "last"
        if times:
            steps[name] = times[0] if which == "first" else times[-1]
    return steps
