"""The signalling server under abuse from one host: the legitimate client's latency.

    python -m bench.server_abuse [--rounds 30] [--only NAME ...] [--json FILE]

Starts ``aiogstwebrtc signalling-server`` with its default limits in a process of its own
(inside ``scripts/in-netns.sh``, on 127.0.0.1), then for each abuse below starts the
attacker (this process, from 127.0.0.2; helpers from 127.0.1.x), and while it runs a
legitimate client in a third process, from 127.0.0.1, times ``rounds`` rounds of: connect
(welcome) -> setPeerStatus -> list, a producer and a consumer connect and start a session.
It prints the p50/p99 of those rounds and how many failed, per abuse, so a regression
shows as a number. ``docs/security.md`` quotes the figures.

Abuses: ``none`` (the baseline); ``unregistered`` (1,000 websockets opened and held
without a message); ``slow_http`` (1,100 TCP connections that never finish their request,
half of them sending a byte a second); ``list_bursts`` (100 producers with 8 KiB of meta,
then bursts of 490 ``list`` on fresh connections that are aborted at once);
``status_churn`` (900 idle listeners, a producer re-registering with a new meta as fast as
its rate limit lets it); ``greedy_consumer`` (one consumer starting 64 sessions with
every producer that appears, the legitimate one included); ``malformed_http`` (requests without
a Host header and resets during the upgrade, as fast as it can).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PACE = 0.35  # s between rounds: 3 connections a round stay under 10 new ones a second
SOFT_FD_LIMIT = resource.getrlimit(resource.RLIMIT_NOFILE)[0]  # what the server starts with
ATTACKER = "127.0.0.2"
UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


# ---------------------------------------------------------------- the legitimate client


async def legit_round(url: str, http: aiohttp.ClientSession) -> float:
    started = time.monotonic()
    wss: list[aiohttp.ClientWebSocketResponse] = []

    async def connect() -> tuple[aiohttp.ClientWebSocketResponse, str]:
        ws = await http.ws_connect(url)
        wss.append(ws)
        welcome = await ws.receive_json()
        assert welcome["type"] == "welcome", welcome
        return ws, welcome["peerId"]

    async def until(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
        while True:
            msg = await ws.receive_json()
            if msg["type"] == kind:
                return dict(msg)
            assert msg["type"] != "error", msg

    try:
        listener, _ = await connect()
        await listener.send_json({"type": "setPeerStatus", "roles": ["listener"]})
        await until(listener, "peerStatusChanged")
        await listener.send_json({"type": "list"})
        await until(listener, "list")
        producer, producer_id = await connect()
        await producer.send_json({"type": "setPeerStatus", "roles": ["producer"]})
        await until(producer, "peerStatusChanged")
        consumer, _ = await connect()
        await consumer.send_json({"type": "startSession", "peerId": producer_id})
        await until(consumer, "sessionStarted")
        await until(producer, "startSession")
        return time.monotonic() - started
    finally:
        await asyncio.gather(*(ws.close() for ws in wss), return_exceptions=True)


async def legit_main(url: str, rounds: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0), limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(rounds):
            try:
                async with asyncio.timeout(10):
                    latencies.append(await legit_round(url, http))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:160])
            await asyncio.sleep(PACE)
    ordered = sorted(latencies)
    return {
        "rounds": rounds,
        "ok": len(latencies),
        "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
        "p99_ms": round(ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))] * 1000, 1)
        if ordered
        else None,
        "errors": sorted(set(errors))[:3],
    }


async def run_legit(url: str, rounds: int) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.server_abuse", "--legit", url, str(rounds),
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, _ = await process.communicate()
    result: dict[str, Any] = json.loads(out)
    return result


# ---------------------------------------------------------------- the attacker


def session(address: str = ATTACKER) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=0, force_close=True)
    return aiohttp.ClientSession(connector=connector)


async def gather_some(jobs: list[Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*jobs, return_exceptions=True))


@contextlib.asynccontextmanager
async def abuse_none(url: str) -> AsyncIterator[str]:
    yield "no abuse"


@contextlib.asynccontextmanager
async def abuse_unregistered(url: str) -> AsyncIterator[str]:
    async with session() as http:
        tries = await gather_some([http.ws_connect(url) for _ in range(1000)])
        held = [t for t in tries if isinstance(t, aiohttp.ClientWebSocketResponse)]
        try:
            yield f"1,000 websockets tried, {len(held)} accepted and held"
        finally:
            await gather_some([ws.close() for ws in held])


@contextlib.asynccontextmanager
async def abuse_slow_http(url: str) -> AsyncIterator[str]:
    port = int(url.rsplit(":", 1)[1].strip("/"))
    conns = await gather_some(
        [asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0)) for _ in range(1100)]
    )
    writers = [w for c in conns if not isinstance(c, BaseException) for w in [c[1]]]
    for w in writers[::2]:
        w.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ")

    async def dribble() -> None:
        while True:
            await asyncio.sleep(1)
            for w in writers[::2]:
                if not w.is_closing():
                    w.write(b"a")

    task = asyncio.ensure_future(dribble())
    try:
        yield f"1,100 connections tried, {len(writers)} opened (half slowloris)"
    finally:
        task.cancel()
        for w in writers:
            w.close()


@contextlib.asynccontextmanager
async def abuse_list_bursts(url: str) -> AsyncIterator[str]:
    pad = "x" * 8000
    producers: list[aiohttp.ClientWebSocketResponse] = []
    helpers = [session(f"127.0.1.{i}") for i in range(1, 5)]
    for i in range(100):
        ws = await helpers[i % 4].ws_connect(url)
        await ws.receive_json()
        meta = {"i": i, "pad": pad}
        await ws.send_json({"type": "setPeerStatus", "roles": ["producer"], "meta": meta})
        await ws.receive_json()
        producers.append(ws)
    stop = asyncio.Event()
    bursts = 0

    async def burst(http: aiohttp.ClientSession) -> None:
        ws = await http.ws_connect(url)
        for _ in range(490):
            await ws.send_str('{"type":"list"}')
        transport = ws._response.connection.transport if ws._response.connection else None
        if transport is not None:
            transport.abort()

    async def attack() -> None:
        nonlocal bursts
        async with session() as http:
            while not stop.is_set():
                await gather_some([burst(http) for _ in range(8)])
                bursts += 8

    task = asyncio.ensure_future(attack())
    try:
        yield "100 producers with 8 KiB meta; bursts of 490 list on aborted connections"
    finally:
        stop.set()
        await gather_some([task])
        await gather_some([ws.close() for ws in producers])
        await gather_some([h.close() for h in helpers])


@contextlib.asynccontextmanager
async def abuse_status_churn(url: str) -> AsyncIterator[str]:
    helpers = [session(f"127.0.1.{i}") for i in range(1, 31)]
    listeners: list[aiohttp.ClientWebSocketResponse] = []
    for i in range(900):
        ws = await helpers[i % 30].ws_connect(url)
        await ws.receive_json()
        await ws.send_json({"type": "setPeerStatus", "roles": ["listener"]})
        listeners.append(ws)
    stop = asyncio.Event()

    async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in ws:
            pass

    drains = [asyncio.ensure_future(drain(ws)) for ws in listeners]

    async def churn() -> None:
        async with session() as http:
            ws = await http.ws_connect(url)
            reader = asyncio.ensure_future(drain(ws))
            i = 0
            while not stop.is_set():
                for _ in range(10):
                    i += 1
                    meta = {"i": i}
                    await ws.send_json(
                        {"type": "setPeerStatus", "roles": ["producer"], "meta": meta}
                    )
                await asyncio.sleep(0.1)  # 100 per second: the default rate limit
            reader.cancel()
            await ws.close()

    task = asyncio.ensure_future(churn())
    try:
        yield "900 listeners; a producer re-registering 100 times a second"
    finally:
        stop.set()
        await gather_some([task])
        for d in drains:
            d.cancel()
        await gather_some([ws.close() for ws in listeners])
        await gather_some([h.close() for h in helpers])


@contextlib.asynccontextmanager
async def abuse_greedy_consumer(url: str) -> AsyncIterator[str]:
    stop = asyncio.Event()
    refused = 0

    async def greedy() -> None:
        nonlocal refused
        async with session() as http:
            ws = await http.ws_connect(url)
            await ws.receive_json()
            await ws.send_json({"type": "setPeerStatus", "roles": ["listener"]})
            while not stop.is_set():
                try:
                    msg = await ws.receive_json(timeout=0.2)
                except TimeoutError:
                    continue
                if msg["type"] == "peerStatusChanged" and "producer" in msg["roles"]:
                    for _ in range(64):
                        await ws.send_json({"type": "startSession", "peerId": msg["peerId"]})
                elif msg["type"] == "error":
                    refused += 1
            await ws.close()

    task = asyncio.ensure_future(greedy())
    await asyncio.sleep(0.3)
    try:
        yield "a consumer starting 64 sessions with every producer that appears"
    finally:
        stop.set()
        await gather_some([task])


def _reset(port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), source_address=(ATTACKER, 0))
    sock.sendall(UPGRADE)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@contextlib.asynccontextmanager
async def abuse_malformed_http(url: str) -> AsyncIterator[str]:
    port = int(url.rsplit(":", 1)[1].strip("/"))
    stop = asyncio.Event()
    sent = 0

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ATTACKER, 0))
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            await reader.read()
        writer.close()

    async def attack() -> None:
        nonlocal sent
        while not stop.is_set():
            await gather_some([one() for _ in range(20)])
            await asyncio.to_thread(_reset, port)
            sent += 21

    task = asyncio.ensure_future(attack())
    try:
        yield "requests without Host and resets during the upgrade, back to back"
    finally:
        stop.set()
        await gather_some([task])


ABUSES: dict[str, Callable[[str], contextlib.AbstractAsyncContextManager[str]]] = {
    "none": abuse_none,
    "unregistered": abuse_unregistered,
    "slow_http": abuse_slow_http,
    "list_bursts": abuse_list_bursts,
    "status_churn": abuse_status_churn,
    "greedy_consumer": abuse_greedy_consumer,
    "malformed_http": abuse_malformed_http,
}


# ---------------------------------------------------------------- the server and the run


@contextlib.asynccontextmanager
async def signalling_server(
    log: Path, root: Path
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aiogstwebrtc", "signalling-server",
            "--host", "127.0.0.1", "--port", str(port), "--no-web",
            stdout=sink, stderr=sink, cwd=root, preexec_fn=_server_limits,
        )  # fmt: skip
    url = f"ws://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                async with session("127.0.0.1") as http, http.ws_connect(url):
                    break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        await process.wait()


def _server_limits() -> None:
    """The server starts with the soft limit on open files this bench was started with."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT_FD_LIMIT, hard))


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(names: list[str], rounds: int, root: Path) -> list[dict[str, Any]]:
    results = []
    for name in names:
        log = Path(f"/tmp/server_abuse-{os.getpid()}-{name}.log")
        async with signalling_server(log, root) as (url, process):
            async with ABUSES[name](url) as what:
                await asyncio.sleep(0.5)
                legit = await run_legit(url, rounds)
                rss = rss_mib(process.pid)
        text = log.read_text(errors="replace")
        result = {
            "abuse": name,
            "what": what,
            **legit,
            "server_rss_mib": round(rss, 1),
            "log_lines": len(text.splitlines()),
            "tracebacks": text.count("Traceback"),
        }
        log.unlink()
        print(
            f"{name:16} p50 {legit['p50_ms']} ms  p99 {legit['p99_ms']} ms  "
            f"ok {legit['ok']}/{rounds}  rss {rss:.0f} MiB  log {result['log_lines']} lines, "
            f"{result['tracebacks']} tracebacks  ({what}) {legit['errors'] or ''}",
            flush=True,
        )
        results.append(result)
    return results


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", nargs="*", choices=sorted(ABUSES), default=list(ABUSES))
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--server-root",
        type=Path,
        default=ROOT,
        help="run the server from this checkout (e.g. an older one, for a before/after)",
    )
    parser.add_argument("--legit", nargs=2, metavar=("URL", "ROUNDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.legit:
        url, rounds = args.legit
        print(json.dumps(asyncio.run(legit_main(url, int(rounds)))))
        return 0
    if os.environ.get("AIOGST_NETNS") != "1":
        script = str(ROOT / "scripts" / "in-netns.sh")
        os.execv(script, [script, sys.executable, "-m", "bench.server_abuse", *sys.argv[1:]])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = asyncio.run(main(args.only, args.rounds, args.server_root))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
