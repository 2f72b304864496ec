"""The seed's two files: the answerer example against real offering peers, and the runner."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest

from tests.doctor.tools import EXAMPLES, ROOT, WebsocketOfferer, doctor_env


async def _read_until(stream: asyncio.StreamReader, marker: str, timeout: float) -> str:
    seen = ""

    async def read() -> str:
        nonlocal seen
        while line := await stream.readline():
            seen += line.decode()
            if marker in line.decode():
                return line.decode()
        raise AssertionError(f"{marker!r} never came; output:\n{seen}")

    return await asyncio.wait_for(read(), timeout)


@pytest.mark.parametrize(
    ("strategy", "peer", "options", "stop"),
    [
        ("asyncio", "aiortc", [], signal.SIGINT),
        ("sync", "webrtcbin", ["--loopback"], signal.SIGINT),
        ("callback", "aiortc", ["--init-data-channel"], signal.SIGTERM),
        ("gi-events", "webrtcbin", ["--loopback"], signal.SIGTERM),
    ],
)
async def test_solution_example_answers_and_echoes_then_shuts_down_cleanly(
    strategy: str, peer: str, options: list[str], stop: signal.Signals
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / "webrtc_promise_fix_solution.py"),
        "--port", "0", "--strategy", strategy, *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ROOT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        line = await _read_until(process.stdout, "listening on ws://", 30)
        url = line.split("listening on ", 1)[1].split()[0]
        assert f"(strategy {strategy})" in line
        offerer = WebsocketOfferer(peer)
        assert await offerer.exchange(url, "hello from the test") == "hello from the test"
        # A second peer on the same server gets its own peer connection.
        assert await WebsocketOfferer(peer).exchange(url, "second") == "second"
        process.send_signal(stop)
        rest = await asyncio.wait_for(process.stdout.read(), 20)
        assert await asyncio.wait_for(process.wait(), 5) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert "shut down cleanly" in rest.decode()


def test_runner_example_opens_the_doctor_menu() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "test_webrtc_promise_fix.py"), "--timeout", "12"],
        input="3\nq\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=doctor_env(),
    )
    assert result.returncode == 0, result.stderr
    assert "Which approach should run?" in result.stdout
    assert "[3] Solution 3" in result.stdout and "WORKS: 4 of 4 runs" in result.stdout
