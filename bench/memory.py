"""Where the memory of one connected pair goes: ``python -m bench.memory [--pairs N]``.

Opens ``N`` pairs of ours in stages and reports the resident memory each stage adds per
pair, split by the kind of mapping it landed in (``/proc/self/smaps``):

- ``started``: both ``PeerConnection`` objects entered (pipeline and webrtcbin playing), the
  offerer's channel created, nothing negotiated;
- ``negotiated``: offer and answer applied, candidates gathered but held back, so
  webrtcbin has built its transports, libnice agent streams and SCTP elements, but ICE
  has nothing to check;
- ``connected``: the held candidates delivered; ICE, DTLS and SCTP up, channels open on
  both sides (this is where the per-connection threads start);
- ``exchanged``: 200 messages of 1 KiB sent each way on every pair (buffers that only
  traffic fills: usrsctp's, OpenSSL's record buffers, buffer pools).

Mapping kinds: thread stacks (the 8 MiB anonymous mappings glibc gives each thread),
malloc's heap (``[heap]`` and the per-thread arenas, whose heaps start aligned to 64 MiB),
Python's obmalloc arenas (1 MiB), other anonymous memory, files (code pages a process
touches once when a code path first runs: not a cost per pair, though it shows in the stage
that first runs it). Python's own allocations
are traced with ``tracemalloc`` (its own bookkeeping subtracted) and shown beside the total.
A second table counts, in one connected pair, the elements webrtcbin built
(by GType), and the resident memory an instance of each costs when made on its own and
set to ``READY`` (200 instances, no data through them): the static part per element.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import re
import sys
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .common import ensure_namespace, run_child

__all__ = ["child_element_costs", "element_census", "main", "mapping_rss"]

_STACK_SIZES = {8 << 20, (8 << 20) + 4096}
_ARENA_ALIGN = 64 << 20  # glibc's HEAP_MAX_SIZE: each non-main arena's heap starts aligned to it
_PYTHON_ARENA = 1 << 20  # obmalloc's arenas (Python 3.10 and later)
_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def mapping_rss() -> Counter[str]:
    """This process's resident KiB by kind of mapping (see the module docstring)."""
    kinds: Counter[str] = Counter()
    kind = "other"
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if _MAPPING.match(line):
                fields = line.split()
                low, high = (int(x, 16) for x in fields[0].split("-"))
                name = fields[5] if len(fields) > 5 else ""
                size = high - low
                if not name and size in _STACK_SIZES:
                    kind = "thread stacks"
                elif not name and size == _PYTHON_ARENA:
                    kind = "Python arenas"
                elif name == "[heap]" or (not name and low % _ARENA_ALIGN == 0):
                    kind = "malloc heap and arenas"
                elif not name or name.startswith("["):
                    kind = "other anonymous"
                else:
                    kind = "files (code, data)"
            elif line.startswith("Rss:"):
                kinds[kind] += int(line.split()[1])
    return kinds


def _python_kib() -> float:
    current, _peak = tracemalloc.get_traced_memory()
    return (current - tracemalloc.get_tracemalloc_memory()) / 1024


def _snapshot() -> Counter[str]:
    gc.collect()
    kinds = mapping_rss()
    kinds["python objects (tracemalloc)"] = round(_python_kib())
    kinds["tracemalloc's own"] = round(tracemalloc.get_tracemalloc_memory() / 1024)
    return kinds


async def _stages(n: int) -> list[tuple[str, Counter[str]]]:
    from aiogstwebrtc import DataChannel, IceCandidate, PeerConnection

    async def make() -> tuple[PeerConnection, PeerConnection, DataChannel]:
        offerer, answerer = PeerConnection(), PeerConnection()
        await offerer.__aenter__()
        await answerer.__aenter__()
        return offerer, answerer, await offerer.create_data_channel("memory")

    # one pair first, closed again: per-process costs (plugins, certificate, threads that
    # GStreamer keeps for reuse) are not counted per pair
    warm = await make()
    for pc in warm[:2]:
        await pc.close()
    await asyncio.sleep(0.3)
    stages = [("before", _snapshot())]

    pairs = [await make() for _ in range(n)]
    stages.append(("started", _snapshot()))

    held: list[list[tuple[PeerConnection, IceCandidate]]] = []
    remotes: list[asyncio.Future[DataChannel]] = []
    loop = asyncio.get_running_loop()
    for offerer, answerer, _channel in pairs:
        queue: list[tuple[PeerConnection, IceCandidate]] = []
        held.append(queue)
        future: asyncio.Future[DataChannel] = loop.create_future()
        remotes.append(future)
        answerer.on("datachannel", lambda ch, f=future: None if f.done() else f.set_result(ch))
        for source, target in ((offerer, answerer), (answerer, offerer)):
            source.on(
                "icecandidate",
                lambda c, t=target, q=queue: None if c is None else q.append((t, c)),
            )
        offer = await offerer.create_offer()
        await offerer.set_local_description(offer)
        await offerer.set_remote_description(await answerer.handle_offer(offer))
    await asyncio.sleep(0.5)  # gathering done: host candidates only, in the namespace
    stages.append(("negotiated", _snapshot()))

    for queue in held:
        for target, candidate in queue:
            await target.add_ice_candidate(candidate)
    channels = []
    for (_offerer, _answerer, channel), future in zip(pairs, remotes, strict=True):
        await channel.wait_open(30)
        remote = await asyncio.wait_for(future, 30)
        await remote.wait_open(30)
        channels.append((channel, remote))
    await asyncio.sleep(0.5)
    stages.append(("connected", _snapshot()))

    payload = bytes(1024)
    for channel, remote in channels:
        for sender, receiver in ((channel, remote), (remote, channel)):
            got = 0
            done = loop.create_future()

            def on_message(_m: Any, r: asyncio.Future[None] = done) -> None:
                nonlocal got
                got += 1
                if got == 200 and not r.done():
                    r.set_result(None)

            receiver.on("message", on_message)
            for _ in range(200):
                sender.send(payload)
            await asyncio.wait_for(done, 30)
    await asyncio.sleep(0.5)
    stages.append(("exchanged", _snapshot()))

    for offerer, answerer, _channel in pairs:
        await asyncio.gather(offerer.close(), answerer.close())
    return stages


def element_census(webrtcbin: Any) -> Counter[str]:
    """Every element inside ``webrtcbin`` (recursively), with counts.

    Named by factory (``queue``), or by GType for webrtcbin's internal bins, which have none.
    """
    names: Counter[str] = Counter({"webrtcbin": 1})
    iterator = webrtcbin.iterate_recurse()
    while True:
        result, element = iterator.next()
        if result.value_nick != "ok":
            if result.value_nick == "resync":
                names = Counter({"webrtcbin": 1})
                iterator.resync()
                continue
            break
        factory = element.get_factory()
        names[factory.get_name() if factory is not None else type(element).__gtype__.name] += 1
    return names


async def _census() -> Counter[str]:
    from .pairs import open_ours

    pair = await open_ours()
    try:
        return await pair.offerer.run_in_glib(
            lambda _pipeline, webrtcbin: element_census(webrtcbin)
        )
    finally:
        await pair.close()


def _element_cost(name: str, count: int) -> float | None:
    """Resident KiB one standalone element of factory ``name`` adds in ``READY``."""
    from aiogstwebrtc.gst import Gst

    factory = Gst.ElementFactory.find(name)
    if factory is None:
        return None  # an internal bin of webrtcbin: no factory of its own
    warm = factory.create(None)
    warm.set_state(Gst.State.READY)
    warm.set_state(Gst.State.NULL)
    del warm
    gc.collect()
    before = sum(mapping_rss().values())
    elements = [factory.create(None) for _ in range(count)]
    for element in elements:
        element.set_state(Gst.State.READY)
    after = sum(mapping_rss().values())
    for element in elements:
        element.set_state(Gst.State.NULL)
    return (after - before) / count


def _print_stages(stages: list[tuple[str, Counter[str]]], n: int) -> None:
    kinds = sorted({k for _stage, snapshot in stages for k in snapshot}, key=str)
    rss_kinds = [k for k in kinds if "tracemalloc" not in k]
    header = "| stage | " + " | ".join(rss_kinds) + " | total RSS | of it Python objects |"
    print(f"KiB added per pair, {n} pairs:")
    print(header)
    print("|" + " --- |" * (len(rss_kinds) + 3))
    for (_previous_name, previous), (name, snapshot) in itertools.pairwise(stages):
        deltas = {k: (snapshot[k] - previous[k]) / n for k in kinds}
        total = sum(deltas[k] for k in rss_kinds)
        cells = " | ".join(f"{deltas[k]:.0f}" for k in rss_kinds)
        python = deltas["python objects (tracemalloc)"]
        print(f"| {name} | {cells} | {total:.0f} | {python:.0f} |")
    first, last = stages[0][1], stages[-1][1]
    total = sum(last[k] - first[k] for k in rss_kinds) / n
    print(f"all stages: {total:.0f} KiB per pair")


def child_element_costs(options: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process (``bench.child element_costs``): each element's static cost, with
    no heap freed by earlier pairs to reuse."""
    from aiogstwebrtc.gst import ensure_init

    ensure_init()
    instances = int(options["instances"])
    return {"costs": {name: _element_cost(name, instances) for name in options["names"]}}


def _element_costs(names: list[str], instances: int) -> dict[str, float | None]:
    result = run_child(
        "element_costs", "ours", {"names": names, "instances": instances}, timeout=600
    )
    if "error" in result:
        raise RuntimeError(f"element costs: {result['error']}")
    costs: dict[str, float | None] = result["costs"]
    return costs


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--instances", type=int, default=200)
    args = parser.parse_args(args_list)
    ensure_namespace(args_list, module="bench.memory")
    tracemalloc.start()
    stages = asyncio.run(_stages(args.pairs))
    tracemalloc.stop()
    _print_stages(stages, args.pairs)
    census = asyncio.run(_census())
    costs = _element_costs(list(census), args.instances)
    print("\nElements in one connected peer connection's webrtcbin, and each one's static cost:")
    print("| element (factory, or GType) | per peer connection | KiB each, alone in READY |")
    print("| --- | ---: | ---: |")
    for name, count in census.most_common():
        cost = costs.get(name)
        shown = "internal (no factory)" if cost is None else f"{cost:.1f}"
        print(f"| {name} | {count} | {shown} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
