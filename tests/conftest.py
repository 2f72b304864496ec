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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests to completion on a fresh loop."""
    function = pyfuncitem.obj
    if not inspect.iscoroutinefunction(function):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(function(**kwargs))
    finally:
        try:
            pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
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
