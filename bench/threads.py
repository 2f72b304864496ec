"""Who owns the threads of one connected pair: ``python -m bench.threads [--pairs N]``.

Lists this process's threads (``/proc/self/task/*/comm``, the names GStreamer, GLib and
libnice give them) before any pair, then with ``N`` connected idle pairs of ours, grouped
by name with the digits taken out, so each group is one kind of thread (a pad task such as
``nicesrc0:src``, webrtcbin's ``:pc`` and ``:ice`` context threads, ...). The process-wide
ones (the library's GLib thread, usrsctp's timer) show up once, not per pair.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence

from .common import ensure_namespace

__all__ = ["census", "main", "named_threads", "thread_kind"]


def thread_kind(name: str) -> str:
    """A thread's name with its digits replaced by ``#``: one kind for every instance."""
    return re.sub(r"\d+", "#", name)


def named_threads() -> Iterator[tuple[str, str]]:
    """(id, kind) of each thread of this process (``/proc/self/task``), skipping any that
    ended while being read."""
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        yield task, thread_kind(name)


def census() -> Counter[str]:
    """Thread names of this process, digits replaced by ``#``."""
    return Counter(kind for _task, kind in named_threads())


async def _run(pairs: int) -> tuple[Counter[str], Counter[str]]:
    from .pairs import open_ours

    # no warm-up pair: GStreamer's task pool would keep its threads, under their old names
    before = census()
    opened = [await open_ours() for _ in range(pairs)]
    await asyncio.sleep(0.5)
    after = census()
    for pair in opened:
        await pair.close()
    return before, after


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.threads", description=__doc__)
    parser.add_argument("--pairs", type=int, default=1)
    args = parser.parse_args(args_list)
    ensure_namespace(args_list, module="bench.threads")
    before, after = asyncio.run(_run(args.pairs))
    added = after - before
    total = sum(added.values())
    print(
        f"threads before: {sum(before.values())}, with {args.pairs} pair(s): "
        f"{sum(after.values())} (+{total}, {total / args.pairs:.1f} per pair)"
    )
    for name, count in added.most_common():
        print(f"{count / args.pairs:6.2f} per pair ({count:4d})  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
