"""A 32-byte round trip, hop by hop, from GStreamer's own log: ``python -m bench.rtt_path``.

One pair of ours; the offerer sends 32 bytes, the answerer's asyncio handler sends them
back. GStreamer's debug log is on for the elements a data-channel message passes (one or
two lines per element, not the per-buffer chatter of the base classes), and the bench
writes its own lines into the same log at the asyncio steps, so every step has a
timestamp from one clock and the thread that took it. For each direction the table lists
the steps with their thread's role (pad task, webrtcbin's thread, ours) and the median µs
after ``send()`` was called in asyncio, over ``--rounds`` round trips (after ``WARM``
unmeasured ones).

Logging costs time on every line: the total with the log on is printed beside the same
round trip without it (``rtt_32b``'s way, in the same process), so the hops' share can be
read with that in mind. The thread count per direction does not depend on it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence

from .common import ensure_namespace, median
from .gst_timeline import debug_environment, log_line, split_rounds

__all__ = ["STEPS", "main", "parse"]

CATEGORIES = (
    "webrtcbin:1,webrtcdatachannel:7,sctpenc:5,sctpdec:5,dtlsenc:5,dtlsdec:5,nicesink:6,nicesrc:6"
)

#: Round trips before the measured ones: past the library's HOT_AFTER (aiogstwebrtc.threadstate)
#: callbacks on each thread, so the threads calling into Python keep their thread state, as
#: they do on any busy channel (rtt_32b's steady state).
WARM = 150

_MARK_SEND = "aiogstwebrtc bench: rtt send"
_MARK_ANSWERER = "aiogstwebrtc bench: rtt answerer's asyncio handler"
_MARK_OFFERER = "aiogstwebrtc bench: rtt offerer's asyncio handler"

#: (step, pattern, who runs it). Each appears once per direction, in this order.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("send_data called", r"webrtc_data_channel_send_data", "asyncio (send() calls webrtcbin)"),
    ("pulled from the channel's appsrc", r"on_appsrc_data", "appsrc's pad task"),
    ("handed to usrsctp", r"gst_sctp_enc_sink_chain:.*Sending buffer", "appsrc's pad task"),
    ("SCTP packet pushed on", r"gst_sctp_enc_srcpad_loop", "sctpenc's pad task"),
    ("DTLS record made", r"on_send_data", "sctpenc's pad task"),
    ("sent to the socket", r"to be sent", "dtlsenc's pad task (nicesink)"),
    ("received from the socket", r"Got buffer, pushing", "nicesrc's pad task"),
    ("DTLS record in", r"sink_chain:.*received buffer", "the receive queue's pad task"),
    ("message out of usrsctp", r"on_receive:", "the receive queue's pad task"),
    ("message pushed on", r"gst_sctp_data_srcpad_loop", "sctpdec's pad task for the stream"),
    ("sample in the channel", r"_data_channel_have_sample", "sctpdec's pad task for the stream"),
    ("on-message-data", r"on_message_data", "webrtcbin's thread (our signal handler)"),
)


def parse(text: str) -> list[dict[str, tuple[float, str]]]:
    """Every round trip's steps: ``{"1 step" / "2 step": (µs after send, thread)}``."""
    return [_steps(lines) for lines in split_rounds(text, _MARK_SEND, 1e3)]


def _steps(lines: list[tuple[float, str, str]]) -> dict[str, tuple[float, str]]:
    found: dict[str, tuple[float, str]] = {}
    answered = next((t for t, _th, text in lines if _MARK_ANSWERER in text), None)
    back = next((t for t, _th, text in lines if _MARK_OFFERER in text), None)
    if answered is None or back is None:
        return found
    found["answerer's asyncio handler"] = (answered, "asyncio")
    found["offerer's asyncio handler"] = (back, "asyncio")
    for direction, low, high in (("1", 0.0, answered), ("2", answered, back)):
        for name, pattern, _who in STEPS:
            regex = re.compile(pattern)
            hit = next((t for t in lines if low <= t[0] <= high and regex.search(t[2])), None)
            if hit is not None:
                found[f"{direction} {name}"] = (hit[0], hit[1])
    sender = found.get("1 send_data called")
    if sender is not None:  # the handlers run on the thread that called send(): asyncio's
        for name in ("answerer's asyncio handler", "offerer's asyncio handler"):
            found[name] = (found[name][0], sender[1])
    return found


async def _round_trips(rounds: int, log: bool) -> list[float]:
    from .pairs import open_ours

    pair = await open_ours()
    loop = asyncio.get_running_loop()
    times: list[float] = []
    waiting: list[asyncio.Future[float]] = []

    def echo(message: bytes | str) -> None:
        if log:
            log_line(_MARK_ANSWERER)
        pair.remote.send(message)

    def back(_message: bytes | str) -> None:
        if log:
            log_line(_MARK_OFFERER)
        if waiting and not waiting[-1].done():
            waiting[-1].set_result(time.perf_counter())

    pair.remote.on("message", echo)
    pair.channel.on("message", back)
    try:
        # back to back, as rtt_32b does: a pause between round trips lets the threads
        # sleep, and waking them costs more than the hops themselves on this kind of VM
        for index in range(WARM + rounds):
            measured = index >= WARM
            waiting.append(loop.create_future())
            if log and measured:
                log_line(_MARK_SEND)
            start = time.perf_counter()
            pair.channel.send(bytes(32))
            elapsed = (await asyncio.wait_for(waiting[-1], 10) - start) * 1e6
            if measured:
                times.append(elapsed)
    finally:
        await pair.close()
    return times


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.rtt_path", description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(args_list)
    ensure_namespace(args_list, module="bench.rtt_path")
    with tempfile.TemporaryDirectory(prefix="bench-rtt-path-") as directory:
        path = os.path.join(directory, "gst.log")
        os.environ.update(debug_environment(path, CATEGORIES))
        logged = asyncio.run(_round_trips(args.rounds, log=True))
        with open(path) as file:
            rounds = [r for r in parse(file.read()) if r]
    from aiogstwebrtc.gst import Gst

    Gst.debug_set_active(False)
    plain = asyncio.run(_round_trips(args.rounds, log=False))
    print(
        f"round trip, median of {args.rounds}: {median(plain):.0f} µs without the log, "
        f"{median(logged):.0f} µs with it ({len(rounds)} rounds parsed)"
    )
    names = [f"{d} {name}" for d in ("1", "2") for name, _p, _w in STEPS]
    names.insert(len(STEPS), "answerer's asyncio handler")
    names.append("offerer's asyncio handler")
    who = {f"{d} {name}": w for d in ("1", "2") for name, _p, w in STEPS}
    print("| step | thread | µs after send() | threads so far |")
    print("| --- | --- | ---: | ---: |")
    threads: list[str] = []
    for name in names:
        samples = [r[name] for r in rounds if name in r]
        if not samples:
            print(f"| {name} | not found | | |")
            continue
        thread = samples[-1][1]
        if thread not in threads:
            threads.append(thread)
        role = who.get(name, "asyncio (ours)")
        value = median([s[0] for s in samples])
        print(f"| {name} | {role} | {value:.0f} | {len(threads)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
