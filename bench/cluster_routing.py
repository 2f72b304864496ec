"""Routing through a signalling cluster on Redis vs one server: messages/s and relay latency.

    python -m bench.cluster_routing [--clients 3000] [--sessions 600] [--messages 10]
                                    [--servers 3] [--json FILE]

Starts a ``redis-server`` (loopback, temporary directory, no persistence) and the
signalling servers as processes of their own (inside ``scripts/in-netns.sh``), then, in
this process, connects ``clients`` websocket peers spread round-robin over the servers.
``sessions`` producer/consumer pairs, each pair on two different servers, negotiate: the
producer sends an offer and ``messages`` ICE candidates, the consumer an answer and as
many candidates, each carrying its sender, a sequence number and the time it was sent (in
``sdpMid``). Every receiver checks that it got exactly its partner's messages, in order,
for its own session: none lost, duplicated, reordered or misrouted. The other clients
stay connected (they asked for the producer list once). The same load is run against one
server alone, in turns with the cluster (``--rounds``), so the cluster's cost shows as a
ratio measured in the same run; the medians are printed last.

The figures: routed messages per second (peer messages delivered / time from the first
``startSession`` to the last delivery) and the p50/p99 of the relay latency (send ->
receive, one clock) under that burst (every pair sends all its messages at once, so this
is mostly queueing), then the relay latency without load (``unloaded_*``: one pair on the
first and last server, 200 messages one at a time). ``tests/cluster/test_cluster_load.py``
runs a small version of the same load and asserts the counts; ``docs/cluster.md`` quotes
the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp

__all__ = ["LoadResult", "routing_load"]


@dataclass
class LoadResult:
    """What one run of the load saw."""

    clients: int
    sessions: int
    expected: int = 0  # peer messages that had to arrive
    delivered: int = 0  # peer messages that arrived where and when they should
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    misrouted: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def per_second(self) -> float:
        """Routed messages per second."""
        return self.delivered / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the relay latency in ms."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        """The figures, JSON-ready."""
        out = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        out["per_second"] = round(self.per_second)
        out["p50_ms"] = round(self.percentile(0.5), 2)
        out["p99_ms"] = round(self.percentile(0.99), 2)
        return out


class _Side:
    """One member of a negotiating pair: what it must receive, and what it did."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, peer_id: str) -> None:
        self.ws = ws
        self.peer_id = peer_id
        self.partner = ""
        self.session = ""
        self.next_seq = 0
        self.done = asyncio.Event()


def _message(session: str, sender: str, seq: int, kind: str | None) -> dict[str, Any]:
    mid = f"{sender}|{seq}|{time.perf_counter_ns()}"
    if kind is not None:  # seq 0: the offer or the answer
        return {
            "type": "peer",
            "sessionId": session,
            "sdp": {"type": kind, "sdp": f"v=0\r\no=- {seq} 1 IN IP4 127.0.0.1\r\na=mid:{mid}\r\n"},
        }
    candidate = f"candidate:{seq} 1 UDP 2122252543 127.0.0.1 {40000 + seq % 20000} typ host"
    return {
        "type": "peer",
        "sessionId": session,
        "ice": {"candidate": candidate, "sdpMLineIndex": 0, "sdpMid": mid},
    }


def _stamp(message: dict[str, Any]) -> str:
    if "ice" in message:
        return str(message["ice"].get("sdpMid", ""))
    text = str(message.get("sdp", {}).get("sdp", ""))
    return text.rsplit("a=mid:", 1)[-1].strip()


async def _read(side: _Side, expected: int, result: LoadResult, first: asyncio.Queue[Any]) -> None:
    """Check every message ``side`` receives; the first control messages go to ``first``."""
    async for msg in side.ws:
        if msg.type is not aiohttp.WSMsgType.TEXT:
            break
        data = json.loads(msg.data)
        if data["type"] != "peer":
            if data["type"] == "endSession":
                result.misrouted += 1  # nobody ends a session during the load
            else:
                first.put_nowait(data)
            continue
        received = time.perf_counter_ns()
        sender, seq_text, sent = _stamp(data).split("|")
        seq = int(seq_text)
        if data["sessionId"] != side.session or sender != side.partner:
            result.misrouted += 1
            continue
        if seq < side.next_seq:
            result.duplicated += 1
            continue
        if seq > side.next_seq:
            result.reordered += 1  # an earlier one is late or lost
        side.next_seq = seq + 1
        result.delivered += 1
        result.latencies_ms.append((received - int(sent)) / 1e6)
        if side.next_seq == expected:
            side.done.set()


async def _connect(http: aiohttp.ClientSession, url: str) -> tuple[Any, str]:
    ws = await http.ws_connect(url, autoping=True, max_msg_size=0)
    welcome = json.loads((await ws.receive()).data)
    return ws, welcome["peerId"]


async def routing_load(
    urls: Sequence[str],
    *,
    clients: int,
    sessions: int,
    messages: int = 10,
    timeout: float = 60.0,
) -> LoadResult:
    """Run the load (module docstring) against the servers at ``urls``; return what it saw."""
    if 2 * sessions > clients:
        raise ValueError("clients must be at least twice sessions")
    result = LoadResult(clients=clients, sessions=sessions)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        try:
            for start in range(0, clients, 200):  # in slices: the servers accept in bursts
                batch = [
                    _connect(http, urls[n % len(urls)])
                    for n in range(start, min(clients, start + 200))
                ]
                sockets.extend(ws for ws, _ in await asyncio.gather(*batch))
            result.seconds = await _negotiate(sockets, sessions, messages, result, timeout)
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return result


async def _negotiate(
    sockets: list[aiohttp.ClientWebSocketResponse],
    sessions: int,
    messages: int,
    result: LoadResult,
    timeout: float,
) -> float:
    # the pairs: client 2k (on server 2k % n) produces, client 2k+1 (the next server)
    # consumes; with one server both are on it
    for ws in sockets:
        await ws.send_str(json.dumps({"type": "list"}))  # a first message: not idle
    producers = [_Side(sockets[2 * k], "") for k in range(sessions)]
    consumers = [_Side(sockets[2 * k + 1], "") for k in range(sessions)]
    queues = {id(s): asyncio.Queue[Any]() for s in producers + consumers}
    readers = [
        asyncio.ensure_future(_read(s, messages + 1, result, queues[id(s)]))
        for s in producers + consumers
    ]
    try:
        for side in producers + consumers:  # the list replies
            await asyncio.wait_for(queues[id(side)].get(), timeout)
        for side in producers:
            await side.ws.send_str(json.dumps({"type": "setPeerStatus", "roles": ["producer"]}))
        for side in producers:
            echo = await asyncio.wait_for(queues[id(side)].get(), timeout)
            side.peer_id = echo["peerId"]
        # the consumers' servers must know the producers before startSession
        await _wait_listed(consumers, {p.peer_id for p in producers}, queues, timeout)
        started = time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    _pair(p, c, messages, queues[id(p)], queues[id(c)])
                    for p, c in zip(producers, consumers, strict=True)
                )
            ),
            timeout,
        )
        seconds = time.perf_counter() - started
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    result.expected = 2 * sessions * (messages + 1)
    result.lost = result.expected - result.delivered
    return seconds


async def _wait_listed(
    consumers: list[_Side], producers: set[str], queues: dict[int, Any], timeout: float
) -> None:
    async with asyncio.timeout(timeout):
        for side in consumers:
            while True:
                await side.ws.send_str(json.dumps({"type": "list"}))
                reply = await queues[id(side)].get()
                if producers <= {p["id"] for p in reply["producers"]}:
                    break
                await asyncio.sleep(0.05)


async def _pair(
    producer: _Side, consumer: _Side, messages: int, to_producer: Any, to_consumer: Any
) -> None:
    await consumer.ws.send_str(json.dumps({"type": "startSession", "peerId": producer.peer_id}))
    started = await to_consumer.get()
    assert started["type"] == "sessionStarted", started
    request = await to_producer.get()
    assert request["type"] == "startSession", request
    session = started["sessionId"]
    producer.session = consumer.session = session
    producer.partner, consumer.partner = request["peerId"], producer.peer_id
    consumer.peer_id = request["peerId"]
    for seq in range(messages + 1):
        kind = "offer" if seq == 0 else None
        await producer.ws.send_str(json.dumps(_message(session, producer.peer_id, seq, kind)))
    for seq in range(messages + 1):
        kind = "answer" if seq == 0 else None
        await consumer.ws.send_str(json.dumps(_message(session, consumer.peer_id, seq, kind)))
    await asyncio.gather(producer.done.wait(), consumer.done.wait())


async def relay_latency(producer_url: str, consumer_url: str, count: int = 200) -> list[float]:
    """Relay latency without load, in ms: one pair, one message in flight at a time."""
    async with aiohttp.ClientSession() as http:
        (prod, prod_id), (cons, _) = (
            await _connect(http, producer_url),
            await _connect(http, consumer_url),
        )
        try:
            await prod.send_str(json.dumps({"type": "setPeerStatus", "roles": ["producer"]}))
            await prod.receive()
            while True:  # until the consumer's server knows the producer
                await cons.send_str(json.dumps({"type": "list"}))
                listed = json.loads((await cons.receive()).data)
                if prod_id in {p["id"] for p in listed["producers"]}:
                    break
                await asyncio.sleep(0.05)
            await cons.send_str(json.dumps({"type": "startSession", "peerId": prod_id}))
            session = json.loads((await cons.receive()).data)["sessionId"]
            await prod.receive()
            out = []
            for seq in range(count):
                started = time.perf_counter()
                await prod.send_str(json.dumps(_message(session, prod_id, seq, None)))
                await cons.receive()
                out.append((time.perf_counter() - started) * 1000)
            return out
        finally:
            await prod.close()
            await cons.close()


# ---------------------------------------------------------------- the benchmark


@contextlib.asynccontextmanager
async def _servers(count: int, redis_url: str | None, clients: int) -> AsyncIterator[list[str]]:
    from tests.signalling.server_process import server_process

    options: dict[str, Any] = {
        "rate_limit": None,
        "max_peers": clients + 100,
        "status_interval": 0,
    }
    async with contextlib.AsyncExitStack() as stack:
        urls = []
        for n in range(count):
            extra = {} if redis_url is None else {"redis_url": redis_url, "server_id": f"s{n}"}
            proc = await stack.enter_async_context(server_process(**options, **extra))
            urls.append(proc.url)
        yield urls


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from tests.cluster.redis_server import redis_server

    runs: dict[str, list[dict[str, Any]]] = {"cluster": [], "one_server": []}
    async with (
        redis_server() as redis,
        _servers(args.servers, redis.url, args.clients) as cluster_urls,
        _servers(1, None, args.clients) as one_url,
    ):
        # the two set-ups take turns, so that a noisy moment on the machine hits both
        for _ in range(args.rounds):
            for name, urls in (("cluster", cluster_urls), ("one_server", one_url)):
                result = await routing_load(
                    urls, clients=args.clients, sessions=args.sessions, messages=args.messages
                )
                quiet = sorted(await relay_latency(urls[0], urls[-1]))
                figures = result.summary()
                figures["unloaded_p50_ms"] = round(quiet[len(quiet) // 2], 3)
                figures["unloaded_p99_ms"] = round(quiet[int(0.99 * len(quiet))], 3)
                runs[name].append(figures)
                print(f"{name:10} {json.dumps(figures)}", flush=True)
    out: dict[str, Any] = {"runs": runs}
    for name, figures in runs.items():
        out[name] = {
            key: statistics.median(f[key] for f in figures)
            for key in ("per_second", "p50_ms", "p99_ms", "unloaded_p50_ms", "unloaded_p99_ms")
        }
        out[name]["bad"] = sum(
            f[k] for f in figures for k in ("lost", "duplicated", "reordered", "misrouted")
        )
    ratios = [
        c["per_second"] / max(1, o["per_second"])
        for c, o in zip(runs["cluster"], runs["one_server"], strict=True)
    ]
    out["ratio_per_second"] = [round(r, 2) for r in sorted(ratios)]
    for name in ("cluster", "one_server"):
        print(f"median of {args.rounds} {name:10} {json.dumps(out[name])}")
    print(f"cluster/one server messages/s, each round: {out['ratio_per_second']}")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print (and optionally save) its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=600)
    parser.add_argument("--messages", type=int, default=10, help="ICE candidates per side")
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each set-up, in turn")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * args.clients + 256)), hard))
    figures = asyncio.run(_main(args))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    return 1 if figures["cluster"]["bad"] or figures["one_server"]["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
