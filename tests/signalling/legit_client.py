"""A legitimate signalling client in a process of its own, timing what it does.

    python -m tests.signalling.legit_client ws://127.0.0.1:PORT/ ROUNDS

Each round, from 127.0.0.1: a listener connects (``welcome``), registers
(``setPeerStatus`` and its echo) and lists the producers; a producer and a consumer
connect and the consumer starts a session with the producer (``sessionStarted`` to the
consumer, ``startSession`` to the producer). It prints one JSON line: every round's
latency in seconds (connect to session started), p50/p99 and the errors seen. Run apart
from the attacker, so the attacker's event loop does not slow down its measurements.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

import aiohttp

from tests.signalling.sigtools import RawPeer, start_raw_session


async def one_round(url: str, http: aiohttp.ClientSession) -> float:
    """One listener and one session, start to end; returns the seconds it took."""
    started = time.monotonic()
    peers: list[RawPeer] = []
    try:
        listener = await RawPeer.connect(url, http=http)
        peers.append(listener)
        await listener.register("listener")
        reply = await listener.request({"type": "list"})
        assert reply["type"] == "list", reply
        producer = await RawPeer.connect(url, http=http)
        peers.append(producer)
        await producer.register("producer", meta={"name": "legit"})
        consumer = await RawPeer.connect(url, http=http)
        peers.append(consumer)
        await start_raw_session(consumer, producer)
        return time.monotonic() - started
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def main(url: str, rounds: int, timeout: float = 10.0) -> dict[str, Any]:
    """Run ``rounds`` rounds one after the other; each gets ``timeout`` seconds."""
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0), limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(rounds):
            try:
                async with asyncio.timeout(timeout):
                    latencies.append(await one_round(url, http))
            except Exception as exc:  # reported, the test decides
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
    return {
        "latencies": latencies,
        "p50": statistics.median(latencies) if latencies else None,
        "p99": percentile(latencies, 0.99) if latencies else None,
        "errors": errors,
    }


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    sys.stdout.write(json.dumps(result) + "\n")
