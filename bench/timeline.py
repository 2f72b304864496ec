"""Where an open's time goes: ``python -m bench.timeline [--rounds N] [--cold N]``.

Opens pairs of ours the way ``open_warm`` does (trickle, both peers started and the channel
created before the clock) and stamps, with ``time.perf_counter()`` on whichever thread
reports it, each stage after ``create_offer()``:

- signalling (ours and webrtcbin): offer created, offer set locally, answer created and set
  on the answerer (``handle_offer``), answer applied on the offerer;
- ICE (libnice): each agent's first component ``connecting`` (checks started), ``connected``
  and ``ready`` (``component-state-changed``, on libnice's thread);
- DTLS: each side's ``GstWebRTCDTLSTransport`` ``state`` (``connecting``, ``connected``);
- SCTP: each side's ``GstWebRTCSCTPTransport`` ``state`` ``connected`` (the association);
- DCEP: the answerer's ``on-data-channel`` (the DATA_CHANNEL_OPEN arrived; webrtcbin's
  thread), then the channel ``open`` in asyncio on each side (the offerer's after the ACK).

Warm: ``--rounds`` pairs in this process after one untimed pair. Cold: ``--cold`` fresh
processes, the first pair of each. Prints the medians in ms and, with ``--json``, every
sample. Like every benchmark it runs inside a network namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

from .common import ROOT, ensure_namespace, median

__all__ = ["STAGES", "main", "one_open"]

STAGES = (
    "offer_created",
    "offer_set",
    "answer_set_on_answerer",
    "answer_applied",
    "ice_checking_offerer",
    "ice_checking_answerer",
    "ice_connected_offerer",
    "ice_connected_answerer",
    "ice_ready_offerer",
    "ice_ready_answerer",
    "dtls_connecting_offerer",
    "dtls_connecting_answerer",
    "dtls_connected_offerer",
    "dtls_connected_answerer",
    "sctp_connected_offerer",
    "sctp_connected_answerer",
    "dcep_open_received_answerer",
    "open_offerer",
    "open_answerer",
)
_NICE = {2: "checking", 3: "connected", 4: "ready"}


async def one_open(on_start: Callable[[], None] | None = None) -> dict[str, float]:
    """One pair of ours opened with every stage stamped; ms after ``create_offer()``.

    ``on_start`` runs when the clock starts (``--gst-log`` writes its mark there).
    """
    from aiogstwebrtc import DataChannel, IceCandidate, PeerConnection
    from aiogstwebrtc.gst import read_ice_agent, read_object_property

    marks: dict[str, float] = {}
    lock = threading.Lock()
    start = [0.0]

    def mark(name: str) -> None:
        now = time.perf_counter()
        with lock:
            if start[0] and name not in marks:
                marks[name] = (now - start[0]) * 1000

    def hook_agent(side: str) -> Any:
        def apply(_pipeline: Any, webrtcbin: Any) -> None:
            agent = read_object_property(read_ice_agent(webrtcbin), "agent")
            agent.connect(
                "component-state-changed",
                lambda _a, _s, _c, state: (
                    mark(f"ice_{_NICE[state]}_{side}") if state in _NICE else None
                ),
            )

        return apply

    def hook_transports(side: str) -> Any:
        def apply(_pipeline: Any, webrtcbin: Any) -> None:
            # read without stealing webrtcbin's references (floating on GStreamer 1.22)
            sctp = read_object_property(webrtcbin, "sctp-transport")
            if sctp is None:
                return
            dtls = read_object_property(sctp, "transport")

            def on_dtls(transport: Any, _pspec: Any) -> None:
                nick = transport.get_property("state").value_nick
                if nick in ("connecting", "connected"):
                    mark(f"dtls_{nick}_{side}")

            def on_sctp(transport: Any, _pspec: Any) -> None:
                if transport.get_property("state").value_nick == "connected":
                    mark(f"sctp_connected_{side}")

            dtls.connect("notify::state", on_dtls)
            sctp.connect("notify::state", on_sctp)
            if side == "answerer":
                webrtcbin.connect(
                    "on-data-channel", lambda *_args: mark("dcep_open_received_answerer")
                )

        return apply

    def forward(target: PeerConnection) -> Any:
        async def send(candidate: IceCandidate | None) -> None:
            if candidate is not None:
                await target.add_ice_candidate(candidate)

        return send

    async with AsyncExitStack() as stack:
        offerer = await stack.enter_async_context(PeerConnection())
        answerer = await stack.enter_async_context(PeerConnection())
        await offerer.run_in_glib(hook_agent("offerer"))
        await answerer.run_in_glib(hook_agent("answerer"))
        loop = asyncio.get_running_loop()
        remote_future: asyncio.Future[DataChannel] = loop.create_future()
        answerer.on(
            "datachannel",
            lambda ch: None if remote_future.done() else remote_future.set_result(ch),
        )
        offerer.on("icecandidate", forward(answerer))
        answerer.on("icecandidate", forward(offerer))
        channel = await offerer.create_data_channel("bench")
        start[0] = time.perf_counter()
        if on_start is not None:
            on_start()
        offer = await offerer.create_offer()
        mark("offer_created")
        await offerer.set_local_description(offer)
        mark("offer_set")
        await offerer.run_in_glib(hook_transports("offerer"))
        answer = await answerer.handle_offer(offer)
        mark("answer_set_on_answerer")
        await answerer.run_in_glib(hook_transports("answerer"))
        await offerer.set_remote_description(answer)
        mark("answer_applied")
        await channel.wait_open(30)
        mark("open_offerer")
        remote = await asyncio.wait_for(remote_future, 30)
        await remote.wait_open(30)
        mark("open_answerer")
    return dict(marks)


async def _warm(rounds: int, on_start: Callable[[], None] | None = None) -> list[dict[str, float]]:
    await one_open()  # untimed: plugins, certificate, the GLib thread
    return [await one_open(on_start) for _ in range(rounds)]


def _cold_child() -> None:
    result = asyncio.run(one_open())
    print(json.dumps(result), flush=True)


def _cold(count: int) -> list[dict[str, float]]:
    samples = []
    for _ in range(count):
        done = subprocess.run(
            [sys.executable, "-m", "bench.timeline", "--child"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"cold timeline child failed: {done.stderr[-500:]}")
        samples.append(json.loads(lines[-1]))
    return samples


def summary(samples: list[dict[str, float]]) -> dict[str, float]:
    """The median of every stage over ``samples`` (stages never seen are left out)."""
    return {
        stage: round(median([s[stage] for s in samples if stage in s]), 2)
        for stage in STAGES
        if any(stage in s for s in samples)
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.timeline", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="warm pairs")
    parser.add_argument("--cold", type=int, default=5, help="fresh processes")
    parser.add_argument("--json", type=str, default="", help="write every sample here")
    parser.add_argument(
        "--gst-log",
        action="store_true",
        help="warm rounds only, stages also from GStreamer's debug log (bench.gst_timeline)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(args_list)
    ensure_namespace(args_list, module="bench.timeline")
    if args.child:
        _cold_child()
        return 0
    if args.gst_log:
        return _gst_log(args.rounds, args.json)
    warm = asyncio.run(_warm(args.rounds)) if args.rounds else []
    cold = _cold(args.cold) if args.cold else []
    result = {"warm": summary(warm), "cold": summary(cold)}
    print(f"{'stage':32} {'warm ms':>9} {'cold ms':>9}")
    for stage in STAGES:
        cells = [result[kind].get(stage) for kind in ("warm", "cold")]
        shown = ["" if c is None else f"{c:.2f}" for c in cells]
        print(f"{stage:32} {shown[0]:>9} {shown[1]:>9}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"medians": result, "warm": warm, "cold": cold}, out, indent=1)
    return 0


def _gst_log(rounds: int, json_path: str) -> int:
    """Warm rounds with GStreamer's debug log on; its steps beside ours."""
    from . import gst_timeline

    with tempfile.TemporaryDirectory(prefix="bench-timeline-") as directory:
        path = os.path.join(directory, "gst.log")
        os.environ.update(gst_timeline.debug_environment(path))  # before gst_init
        ours = asyncio.run(_warm(rounds, gst_timeline.mark))
        with open(path) as log:
            theirs = gst_timeline.parse(log.read())
    if len(theirs) != len(ours):
        raise RuntimeError(f"{len(ours)} rounds but {len(theirs)} marks in GStreamer's log")
    print(f"{rounds} warm rounds with GStreamer's debug log on; medians, ms after create_offer()")
    print("\nfrom GStreamer's log:")
    for name, _pattern, _which in gst_timeline.GST_STEPS:
        values = [r[name] for r in theirs if name in r]
        if values:
            print(f"  {name:44} {median(values):8.2f}  ({len(values)} rounds)")
    print("\nours (perf_counter in the signal handlers), same rounds:")
    for stage, value in summary(ours).items():
        print(f"  {stage:44} {value:8.2f}")
    if json_path:
        with open(json_path, "w") as out:
            json.dump({"gst": theirs, "ours": ours}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
