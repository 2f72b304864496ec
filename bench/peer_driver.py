"""A native peer for the benchmarks, run in that library's own venv.

    <venv>/bin/python -P bench/peer_driver.py LIBRARY

``LIBRARY`` is ``aiolibdatachannel`` (libdatachannel) or ``wrtc`` (libwebrtc). The driver uses
only the standard library and that package: it never imports aiogstwebrtc, GStreamer or the
rest of ``bench`` (``-P`` keeps ``bench/`` off ``sys.path``). It reads one JSON request a line
on stdin and answers each with one JSON line on stdout:

    {"cmd": "hello"}              -> {"ok": true, "library", "version", "python", "import_s"}
    {"cmd": "open"}               -> {"ok": true, "open_s"}  (a pair, opened and closed)
    {"cmd": "connect"}            -> {"ok": true, "open_s"}  (the pair kept for what follows)
    {"cmd": "transfer", "size", "count"}
                                  -> {"ok": true, "seconds", "bytes", "messages", "verified"}
    {"cmd": "rtt", "count"}       -> {"ok": true, "samples_ms": [...]}
    {"cmd": "scale", "n"}         -> {"ok": true, "connect_s", "failures", per-pair figures}
    {"cmd": "quit"}               -> (exits)

A failure answers ``{"ok": false, "error": "..."}``. The first ``open`` of a fresh driver is its
``open_cold``. Every peer runs without any STUN or TURN server. A transfer's receiver counts
messages and bytes; ``verified`` is true only if both match what was sent exactly.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import resource
import sys
import time
from typing import Any

STARTED = time.perf_counter()
OPEN_TIMEOUT = 30.0
THRESHOLD = 1 << 20  # the same backpressure threshold the other sides use
STALL_TIMEOUT = 10.0  # a receiver that makes no progress this long has lost messages


# --- this process ---------------------------------------------------------------------------


def thread_count() -> int:
    """Kernel tasks (threads) of this process."""
    return len(os.listdir("/proc/self/task"))


def fd_count() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """The peak resident set size of this process: ``VmHWM`` (``ru_maxrss`` would not do: it
    keeps the parent's peak across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def raise_fd_limit() -> None:
    """Lift the soft limit on open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Counter:
    """Counts received messages and bytes; ``done`` once ``expected`` of both arrived."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.expected_messages = -1
        self.expected_bytes = -1
        self.changed = asyncio.Event()

    def expect(self, messages: int, size: int) -> None:
        self.messages = self.bytes = 0
        self.expected_messages, self.expected_bytes = messages, size
        self.changed = asyncio.Event()

    def add(self, message: bytes | str) -> None:
        self.messages += 1
        self.bytes += len(message)
        if self.messages >= self.expected_messages:
            self.changed.set()

    async def wait(self) -> None:
        """Until every message arrived, or no progress for STALL_TIMEOUT seconds."""
        while self.messages < self.expected_messages:
            before = self.messages
            try:
                await asyncio.wait_for(self.changed.wait(), STALL_TIMEOUT)
            except TimeoutError:
                if self.messages == before:
                    return
            self.changed.clear()

    @property
    def verified(self) -> bool:
        return self.messages == self.expected_messages and self.bytes == self.expected_bytes


# --- libdatachannel through aiolibdatachannel ----------------------------------------------


class LibdatachannelPair:
    """Two aiolibdatachannel peers with a channel open on both sides."""

    library = "aiolibdatachannel"

    def __init__(self) -> None:
        import aiolibdatachannel as ald

        self.ald = ald
        self.counter = Counter()
        self.replies: asyncio.Queue[bytes | str] = asyncio.Queue()
        self.echo = False
        self.tasks: list[asyncio.Task[None]] = []

    @staticmethod
    def configure() -> None:
        """Make every channel's receive queue unbounded.

        aiolibdatachannel's ``DataChannel`` keeps received messages in an ``asyncio.Queue`` of
        ``recv_buffer`` = 1,024 and silently drops the oldest when it is full; its
        ``PeerConnection`` does not expose the size, so the constructor's default is set to
        0 (``asyncio.Queue(maxsize=0)``: unbounded) before any channel exists.
        """
        import aiolibdatachannel as ald

        defaults = ald.DataChannel.__init__.__kwdefaults__
        assert defaults is not None and "recv_buffer" in defaults, defaults
        defaults["recv_buffer"] = 0

    async def open(self, timeout: float = OPEN_TIMEOUT) -> float:
        ald = self.ald
        config = ald.RTCConfiguration(ice_servers=[])  # no STUN/TURN server
        self.offerer = ald.PeerConnection(config)
        self.answerer = ald.PeerConnection(ald.RTCConfiguration(ice_servers=[]))
        self.channel = await self.offerer.create_data_channel("bench")
        start = time.perf_counter()

        async def negotiate() -> Any:
            offer = await self.offerer.create_offer()  # gathers first (no trickle)
            await self.answerer.set_remote_description(offer.sdp, offer.type)
            answer = await self.answerer.create_answer()
            await self.offerer.set_remote_description(answer.sdp, answer.type)
            await self.channel.wait_open()
            remote = await self.answerer.accept_data_channel()
            await remote.wait_open()
            return remote

        self.remote = await asyncio.wait_for(negotiate(), timeout)
        elapsed = time.perf_counter() - start
        assert self.remote._recv_queue.maxsize == 0, "receive queue is bounded"
        self.tasks = [
            asyncio.ensure_future(self._receive_remote()),
            asyncio.ensure_future(self._receive_local()),
        ]
        return elapsed

    async def _receive_remote(self) -> None:
        while True:
            message = await self.remote.recv()
            if self.echo:
                await self.remote.send(message)
            else:
                self.counter.add(message)

    async def _receive_local(self) -> None:
        while True:
            self.replies.put_nowait(await self.channel.recv())

    async def send(self, payload: bytes) -> None:
        # the library's own backpressure: send() waits for buffered_amount_low when needed
        await self.channel.send(payload)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(self.offerer.aclose(), self.answerer.aclose(), return_exceptions=True)


# --- libwebrtc through wrtc ---------------------------------------------------------------------


class WrtcPair:
    """Two wrtc peers (libwebrtc) with a channel open on both sides, trickling candidates."""

    library = "wrtc"

    def __init__(self) -> None:
        import webrtc

        self.webrtc = webrtc
        self.counter = Counter()
        self.replies: asyncio.Queue[bytes | str] = asyncio.Queue()
        self.echo = False
        self.low: asyncio.Event | None = None

    @staticmethod
    def configure() -> None:
        """Nothing to configure: wrtc delivers every message to the ``message`` handler."""

    async def open(self, timeout: float = OPEN_TIMEOUT) -> float:
        webrtc = self.webrtc
        loop = asyncio.get_running_loop()
        self.offerer = webrtc.RTCPeerConnection(webrtc.RTCConfiguration(ice_servers=[]))
        self.answerer = webrtc.RTCPeerConnection(webrtc.RTCConfiguration(ice_servers=[]))
        remote_future: asyncio.Future[Any] = loop.create_future()
        opened: asyncio.Future[None] = loop.create_future()
        ready = {id(self.offerer): asyncio.Event(), id(self.answerer): asyncio.Event()}
        pending: list[asyncio.Task[None]] = []

        def forward(target: Any) -> Any:
            async def add(candidate: Any) -> None:
                await ready[id(target)].wait()  # a candidate needs the remote description
                await target.add_ice_candidate(candidate)

            def on_candidate(event: Any) -> None:
                if event.candidate is not None and event.candidate.candidate:
                    pending.append(loop.create_task(add(event.candidate)))

            return on_candidate

        self.offerer.on("icecandidate", forward(self.answerer))
        self.answerer.on("icecandidate", forward(self.offerer))

        def on_datachannel(event: Any) -> None:
            channel = event.channel
            if remote_future.done():
                return
            if channel.ready_state == "open":
                remote_future.set_result(channel)
            else:
                channel.once("open", lambda _e: remote_future.set_result(channel))

        self.answerer.on("datachannel", on_datachannel)
        self.channel = self.offerer.create_data_channel("bench")
        self.channel.once("open", lambda _e: None if opened.done() else opened.set_result(None))
        start = time.perf_counter()

        async def negotiate() -> Any:
            offer = await self.offerer.create_offer()
            await self.offerer.set_local_description(offer)
            await self.answerer.set_remote_description(offer)
            ready[id(self.answerer)].set()
            answer = await self.answerer.create_answer()
            await self.answerer.set_local_description(answer)
            await self.offerer.set_remote_description(answer)
            ready[id(self.offerer)].set()
            await opened
            return await remote_future

        self.remote = await asyncio.wait_for(negotiate(), timeout)
        elapsed = time.perf_counter() - start
        self.pending = pending
        self.channel.binary_type = "arraybuffer"
        self.remote.binary_type = "arraybuffer"
        self.remote.on("message", self._on_remote_message)
        self.channel.on("message", lambda event: self.replies.put_nowait(event.data))
        self.channel.buffered_amount_low_threshold = THRESHOLD
        self.channel.on("bufferedamountlow", self._on_low)
        return elapsed

    def _on_remote_message(self, event: Any) -> None:
        if self.echo:
            self.remote.send(event.data)
        else:
            self.counter.add(event.data)

    def _on_low(self, _event: Any) -> None:
        if self.low is not None:
            self.low.set()

    async def send(self, payload: bytes) -> None:
        self.channel.send(payload)
        if self.channel.buffered_amount > THRESHOLD:
            self.low = asyncio.Event()
            if self.channel.buffered_amount > THRESHOLD:
                await self.low.wait()

    async def close(self) -> None:
        for task in self.pending:
            task.cancel()
        self.offerer.close()
        self.answerer.close()
        await asyncio.sleep(0)


PAIRS: dict[str, Any] = {"aiolibdatachannel": LibdatachannelPair, "wrtc": WrtcPair}


# --- the measurements ---------------------------------------------------------------------------


async def transfer(pair: Any, size: int, count: int) -> dict[str, Any]:
    """``count`` messages of ``size`` bytes one way; stops when the receiver has all."""
    payload = b"\xab" * size
    pair.echo = False
    pair.counter.expect(count, size * count)
    start = time.perf_counter()
    for _ in range(count):
        await pair.send(payload)
    await pair.counter.wait()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "messages": pair.counter.messages,
        "bytes": pair.counter.bytes,
        "expected_messages": count,
        "expected_bytes": size * count,
        "verified": pair.counter.verified,
    }


async def rtt(pair: Any, count: int) -> list[float]:
    """``count`` ping-pongs of 32 bytes, echoed by the remote's message handler."""
    pair.echo = True
    payload = b"p" * 32
    samples = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            await pair.send(payload)
            reply = await asyncio.wait_for(pair.replies.get(), 10)
            samples.append((time.perf_counter() - start) * 1000)
            if len(reply) != len(payload):
                raise RuntimeError(f"echo of {len(reply)} bytes, sent {len(payload)}")
    finally:
        pair.echo = False
    return samples


async def scale(cls: Any, n: int) -> dict[str, Any]:
    """Open ``n`` pairs at once in this process; time, failures, per-pair cost."""
    raise_fd_limit()
    timeout = 30 + 0.4 * n
    warm = cls()
    await warm.open(timeout)
    await warm.close()
    del warm
    gc.collect()
    await asyncio.sleep(0.2)
    threads, fds, rss = thread_count(), fd_count(), rss_bytes()
    pairs = [cls() for _ in range(n)]
    start = time.perf_counter()
    outcomes = await asyncio.gather(*(p.open(timeout) for p in pairs), return_exceptions=True)
    connect_s = time.perf_counter() - start
    opened = [p for p, o in zip(pairs, outcomes, strict=True) if not isinstance(o, BaseException)]
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    await asyncio.sleep(0.2)
    gc.collect()
    connected = max(len(opened), 1)
    result: dict[str, Any] = {
        "connect_s": round(connect_s, 3),
        "failures": len(failures),
        "failure_kinds": sorted({f"{type(f).__name__}: {f}"[:120] for f in failures})[:3],
        "rss_mb_per_pair": round((rss_bytes() - rss) / connected / 1e6, 3),
        "threads_per_pair": round((thread_count() - threads) / connected, 2),
        "fds_per_pair": round((fd_count() - fds) / connected, 2),
        "rss_mib": round(rss_bytes() / 2**20, 1),
        "peak_rss_mib": round(peak_rss_bytes() / 2**20, 1),
        "threads": thread_count(),
    }
    await asyncio.gather(*(p.close() for p in opened), return_exceptions=True)
    return result


async def serve(library: str, import_s: float) -> None:
    cls = PAIRS[library]
    cls.configure()
    kept: Any = None
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(payload: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    while True:
        line = await reader.readline()
        if not line:
            break
        request = json.loads(line)
        command = request.get("cmd")
        try:
            if command == "quit":
                break
            if command == "hello":
                answer(
                    {
                        "ok": True,
                        "library": library,
                        "version": _version(library),
                        "python": platform.python_version(),
                        "import_s": import_s,
                    }
                )
            elif command in ("open", "connect"):
                pair = cls()
                open_s = await pair.open()
                if command == "connect":
                    if kept is not None:
                        await kept.close()
                    kept = pair
                else:
                    await pair.close()
                answer({"ok": True, "open_s": open_s, "total_s": time.perf_counter() - STARTED})
            elif command == "transfer":
                result = await transfer(kept, int(request["size"]), int(request["count"]))
                answer({"ok": True, **result})
            elif command == "rtt":
                answer({"ok": True, "samples_ms": await rtt(kept, int(request["count"]))})
            elif command == "scale":
                answer({"ok": True, **await scale(cls, int(request["n"]))})
            else:
                answer({"ok": False, "error": f"unknown command {command!r}"})
        except Exception as exc:  # one failed measurement does not end the driver
            answer({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    if kept is not None:
        await kept.close()


def _version(library: str) -> str:
    from importlib.metadata import version

    return version(library)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PAIRS:
        print(f"usage: peer_driver.py {{{','.join(PAIRS)}}}", file=sys.stderr)
        return 2
    library = argv[0]
    if library == "wrtc":
        import webrtc  # noqa: F401
    else:
        import aiolibdatachannel  # noqa: F401
    import_s = time.perf_counter() - STARTED
    asyncio.run(serve(library, import_s))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
