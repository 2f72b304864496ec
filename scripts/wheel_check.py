"""Checks an installed aiogstwebrtc wheel from outside the repository (``make test-wheel``).

Run by scripts/test-wheel.sh with the interpreter of a fresh venv that has only the wheel
(and its dependencies) installed, inside a network namespace, from a directory outside the
checkout. Every check prints one ``ok:`` line; the first failure raises with what was seen.

    python wheel_check.py README.md WHEEL_VERSION
"""

from __future__ import annotations

import html.parser
import importlib.metadata
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


class CheckFailed(Exception):
    """One check of the installed wheel failed."""


def ok(what: str) -> None:
    sys.stdout.write(f"ok: {what}\n")
    sys.stdout.flush()


def command() -> list[str]:
    """The installed console script (not ``-m``: the entry point is part of what we check)."""
    script = Path(sys.executable).with_name("aiogstwebrtc")
    if not script.exists():
        raise CheckFailed(f"no console script next to {sys.executable}")
    return [str(script)]


def check_installed_outside(version: str) -> None:
    import aiogstwebrtc

    where = Path(aiogstwebrtc.__file__).resolve()
    if not str(where).startswith(str(Path(sys.prefix).resolve())):
        raise CheckFailed(f"aiogstwebrtc imported from {where}, not from the venv {sys.prefix}")
    ok(f"imported from {where.parent}")
    installed = importlib.metadata.version("aiogstwebrtc")
    if installed != version or aiogstwebrtc.__version__ != version:
        raise CheckFailed(
            f"wheel {version}, metadata {installed}, __version__ {aiogstwebrtc.__version__}"
        )
    shown = subprocess.run([*command(), "--version"], capture_output=True, text=True, check=True)
    if shown.stdout.strip() != f"aiogstwebrtc {version}":
        raise CheckFailed(f"`aiogstwebrtc --version` printed {shown.stdout!r}")
    ok(f"version {version} (metadata, __version__, --version)")
    package = where.parent
    for relative in ("py.typed", "web/index.html", "web/app.js", "web/style.css"):
        if not (package / relative).is_file():
            raise CheckFailed(f"{relative} is not in the installed package")
    vendored = list((package / "web" / "vendor").glob("gstwebrtc-api-*.min.js"))
    if not vendored:
        raise CheckFailed("the vendored gstwebrtc-api bundle is not installed")
    files = importlib.metadata.files("aiogstwebrtc") or []
    licences = {Path(str(f)).name for f in files if ".dist-info/licenses/" in str(f)}
    for name in ("LICENSE", "LICENSE-MPL-2.0"):
        if name not in licences:
            raise CheckFailed(f"{name} is not among the wheel's licence files ({sorted(licences)})")
    ok("py.typed, web page, vendored bundle and both licences installed")


def readme_example(readme: Path) -> str:
    """The first Python block under the README's "Example" heading."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("\n## Example", 1)
    if len(section) != 2:
        raise CheckFailed("README has no '## Example' section")
    found = re.search(r"```python\n(.*?)```", section[1], re.S)
    if found is None:
        raise CheckFailed("README's Example section has no python block")
    return found.group(1)


def check_readme_example(readme: Path, workdir: Path) -> None:
    script = workdir / "readme_example.py"
    script.write_text(readme_example(readme), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=90, cwd=workdir
    )
    if done.returncode != 0 or "echo: hello" not in done.stdout:
        raise CheckFailed(
            f"README example exited {done.returncode}, stdout {done.stdout!r}, "
            f"stderr tail {done.stderr[-2000:]!r}"
        )
    ok("README example printed 'echo: hello'")


def check_doctor() -> None:
    done = subprocess.run(
        [*command(), "doctor", "--approach", "4", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise CheckFailed(
            f"doctor printed no JSON ({exc}); exit {done.returncode}, "
            f"stderr tail {done.stderr[-2000:]!r}"
        ) from None
    approaches = report.get("approaches", [])
    if (
        done.returncode != 0
        or len(approaches) != 1
        or approaches[0].get("number") != 4
        or not approaches[0].get("worked")
        or approaches[0]["key"] not in report["verdict"]["working"]
    ):
        raise CheckFailed(
            f"doctor --approach 4: exit {done.returncode}, verdict {report.get('verdict')}, "
            f"approaches {[(a.get('key'), a.get('worked'), a.get('reason')) for a in approaches]}"
        )
    ok(f"doctor --approach 4 --json: '{approaches[0]['key']}' works")


class _Assets(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value and not value.startswith(("data:", "http:", "https:")):
                self.found.append(value)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def check_demo(workdir: Path) -> None:
    port = _free_port()
    log = (workdir / "demo.log").open("w+")
    demo = subprocess.Popen(
        [*command(), "demo", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, page = _get(base)
                break
            except (ConnectionError, urllib.error.URLError):
                if demo.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read()[-2000:]
                    raise CheckFailed(f"the demo never served its page: {tail}") from None
                time.sleep(0.2)
        if status != 200 or b"<html" not in page.lower():
            raise CheckFailed(f"GET / answered {status}")
        parser = _Assets()
        parser.feed(page.decode("utf-8"))
        if not any(asset.endswith(".js") for asset in parser.found):
            raise CheckFailed(f"the page names no script: {parser.found}")
        for asset in parser.found:
            status, body = _get(base + asset.lstrip("/"))
            if status != 200 or not body:
                raise CheckFailed(f"GET /{asset} answered {status} with {len(body)} bytes")
        ok(f"demo served its page and {len(parser.found)} assets: {', '.join(parser.found)}")
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            code = demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise CheckFailed("the demo did not stop within 20 s of SIGINT") from None
        log.close()
    if code != 0:
        raise CheckFailed(f"the demo exited {code} after SIGINT")
    ok("demo stopped on SIGINT with status 0")


def main() -> int:
    readme, version = Path(sys.argv[1]).resolve(), sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="aiogst-wheel-") as tmp:
        workdir = Path(tmp)
        os.chdir(workdir)
        try:
            check_installed_outside(version)
            check_readme_example(readme, workdir)
            check_doctor()
            check_demo(workdir)
        except (CheckFailed, subprocess.SubprocessError) as exc:
            sys.stderr.write(f"FAILED: {exc}\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
