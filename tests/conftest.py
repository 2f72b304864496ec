"""Test set-up: every test runs inside a network namespace the suite makes itself.

If pytest is started outside one, it re-executes itself through scripts/in-netns.sh, so no
test can send a packet beyond this machine. Coroutine tests run on a fresh event loop:
the standard one, or PyGObject's gi.events GLib loop with ``AIOGST_LOOP=gi-events``.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOOP_KIND = os.environ.get("AIOGST_LOOP", "asyncio")


def _route_out_exists() -> bool:
    routes = subprocess.run(
        ["ip", "route", "show", "default"], capture_output=True, text=True, check=True
    ).stdout
    return bool(routes.strip())


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("AIOGST_NETNS") != "1" or _route_out_exists():
        if os.environ.get("AIOGST_NETNS_REEXEC") == "1":
            pytest.exit("could not enter a network namespace without a default route", 3)
        os.environ["AIOGST_NETNS_REEXEC"] = "1"
        os.environ.pop("AIOGST_NETNS", None)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(
            str(ROOT / "scripts" / "in-netns.sh"),
            [str(ROOT / "scripts" / "in-netns.sh"), sys.executable, "-m", "pytest", *sys.argv[1:]],
        )


@pytest.fixture(scope="session", autouse=True)
def _isolated_network() -> None:
    """Fail loudly if the suite ever runs where traffic could leave the machine."""
    assert not _route_out_exists(), "tests must run in a namespace without a default route"
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "eth0" not in links


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A fresh loop of the kind this run tests (``AIOGST_LOOP``)."""
    if LOOP_KIND == "gi-events":
        from gi.events import GLibEventLoopPolicy

        return GLibEventLoopPolicy().new_event_loop()
    return asyncio.new_event_loop()


_LOOP = pytest.StashKey[asyncio.AbstractEventLoop]()


def _live_peers() -> set[Any]:
    """Peer connections started and not yet closed (the library's exit registry)."""
    module = sys.modules.get("aiogstwebrtc.peerconnection")
    if module is None:  # never imported: no peer can exist
        return set()
    registry = getattr(module, "_LIVE", None)
    assert registry is not None, (
        "aiogstwebrtc.peerconnection._LIVE (started, unclosed peers) moved: "
        "point tests/conftest.py:_live_peers at its new home"
    )
    return set(registry)


def _describe_task(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", repr(coro))
    frames = task.get_stack(limit=1)
    where = f" at {frames[0].f_code.co_filename}:{frames[0].f_lineno}" if frames else ""
    return f"task {task.get_name()} running {name}{where}"


@pytest.fixture(autouse=True)
def _nothing_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a started ``PeerConnection`` unclosed or an asyncio task pending.

    Coroutine tests run on the loop made here (see :func:`pytest_pyfunc_call`); when the test
    returns (or raises), every task of that loop must be done and every peer connection the
    test started must be closed. What is left is reported, then cleaned up (peers closed,
    tasks cancelled) so that one test's leftovers cannot break the next one.
    """
    before = _live_peers()
    loop: asyncio.AbstractEventLoop | None = None
    function = getattr(request.node, "obj", None)
    if inspect.iscoroutinefunction(function):
        loop = new_event_loop()
        request.node.stash[_LOOP] = loop
    yield
    problems: list[str] = []
    if loop is not None:
        asyncio.set_event_loop(loop)
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            problems += [f"pending {_describe_task(task)}" for task in pending]
            leaked = _live_peers() - before
            problems += [f"unclosed {peer!r}" for peer in leaked]
            if leaked:
                closing = asyncio.gather(*(peer.close() for peer in leaked), return_exceptions=True)
                loop.run_until_complete(asyncio.wait_for(closing, 15))
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    else:
        leaked = _live_peers() - before
        problems += [f"unclosed {peer!r}" for peer in leaked]
        for peer in leaked:
            peer._stop_now()  # no asyncio loop to close it on
    if problems:
        pytest.fail(
            "the test left these behind (close peers in `finally`/`async with`, await or "
            "cancel its tasks):\n  " + "\n  ".join(problems),
            pytrace=False,
        )


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """Name the running test where scripts/pytest-crash-report.sh reads it after a crash."""
    path = os.environ.get("AIOGST_RUNNING_TEST")
    if path:
        Path(path).write_text(nodeid + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests to completion on the loop :func:`_nothing_left_behind` made."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}
    loop = pyfuncitem.stash[_LOOP]
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(function(**kwargs))
    finally:
        asyncio.set_event_loop(None)
    return True


@pytest.fixture
def artifacts_dir() -> Iterator[Path]:
    """A folder for files a test keeps for people to look at (screenshots, recordings)."""
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    yield path


@pytest.fixture
def leak_check() -> Iterator[Any]:
    """Resource counts of this process (:mod:`tests.leakcheck`): ``leak_check.baseline()``
    after a warm-up, ``leak_check.assert_back()`` after the scenario (no GC in between)."""
    from tests.leakcheck import LeakCheck

    yield LeakCheck()
