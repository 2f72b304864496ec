"""Which thread spends a transfer's CPU: ``python -m bench.thread_cpu --size B --count N``.

One connected pair of ours sends ``count`` messages of ``size`` bytes one way, as
``throughput_*`` and ``message_rate`` do (``send`` then ``drain`` per message, the clock
stopped when the receiver's handler has counted every byte), twice: the first transfer warms
up, the second is measured. Each thread's CPU time is read from ``/proc/self/task/*/stat``
before and after and grouped by thread name with the digits taken out (as
:mod:`bench.threads` names them), so one line is one kind of thread of both peers: the
asyncio thread (``python``, the sender's ``send`` and the receiver's handler), webrtcbin's
``:pc`` thread (which emits every received message to Python), the pad tasks of the
data path. A thread near 100 % busy is the bottleneck; a CPU total near the number of
cores means the machine is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .common import ensure_namespace
from .threads import named_threads

__all__ = ["main", "measure", "thread_cpu"]

_TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> Counter[tuple[str, str]]:
    """CPU seconds (user + system) of each thread of this process, keyed by (name, id)."""
    seconds: Counter[tuple[str, str]] = Counter()
    for task, kind in named_threads():
        try:
            with open(f"/proc/self/task/{task}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        seconds[(kind, task)] += (int(fields[11]) + int(fields[12])) / _TICKS
    return seconds


async def measure(size: int, count: int) -> dict[str, Any]:
    """One warm-up transfer, then one measured; the per-thread CPU of the second."""
    from .datachannels import ours_transfer
    from .pairs import open_ours

    pair = await open_ours()
    try:  # ours_transfer sets the bench's drain threshold itself
        await ours_transfer(pair, size, count)
        before, process_before = thread_cpu(), time.process_time()
        wall = await ours_transfer(pair, size, count)
        after, process = thread_cpu(), time.process_time() - process_before
    finally:
        await pair.close()
    by_kind: Counter[str] = Counter()
    for key, seconds in after.items():
        by_kind[key[0]] += max(0.0, seconds - before.get(key, 0.0))
    return {
        "size": size,
        "count": count,
        "wall_s": wall,
        "messages_per_s": count / wall,
        "process_cpu_s": process,
        "threads": {
            name: {
                "cpu_s": seconds,
                "us_per_message": seconds / count * 1e6,
                "busy": seconds / wall,
            }
            for name, seconds in by_kind.most_common()
            if seconds > 0
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.thread_cpu", description=__doc__)
    parser.add_argument("--size", type=int, default=32, help="bytes per message")
    parser.add_argument("--count", type=int, default=40_000, help="messages per transfer")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(args_list)
    ensure_namespace(args_list, module="bench.thread_cpu")
    result = asyncio.run(measure(args.size, args.count))
    print(
        f"{args.count} x {args.size} B: {result['messages_per_s']:,.0f} msg/s, "
        f"wall {result['wall_s']:.2f} s, process CPU {result['process_cpu_s']:.2f} s "
        f"({result['process_cpu_s'] / args.count * 1e6:.1f} µs per message)"
    )
    print("| thread | CPU s | µs per message | busy |")
    print("| --- | ---: | ---: | ---: |")
    for name, figures in result["threads"].items():
        print(
            f"| `{name}` | {figures['cpu_s']:.2f} | {figures['us_per_message']:.1f} "
            f"| {figures['busy'] * 100:.0f} % |"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
