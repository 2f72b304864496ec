"""The documentation site: it builds with ``--strict``, its links resolve, its API has docstrings.

The build is the one ``make docs`` runs (mkdocs.yml, Material, mkdocstrings), into a
temporary directory; no network is used (the link check reads the built files only).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The modules whose API pages docs/reference/ renders, and whose exports must be documented.
DOCUMENTED_MODULES = (
    "aiogstwebrtc",
    "aiogstwebrtc.media",
    "aiogstwebrtc.signalling",
    "aiogstwebrtc.signalling.cluster",
    "aiogstwebrtc.whep",
    "aiogstwebrtc.strategies",
    "aiogstwebrtc.doctor",
)


def _require_docs_extra() -> None:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            pytest.fail(
                f"{module} is not installed: run `make docs` (or "
                "`pip install -e '.[docs]'`) to install the docs extra",
                pytrace=False,
            )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The site built with ``mkdocs build --strict``, as ``make docs`` does."""
    _require_docs_extra()
    out = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(f"mkdocs build --strict: {time.monotonic() - started:.1f} s")
    assert build.returncode == 0, build.stdout + build.stderr
    warnings = [line for line in build.stderr.splitlines() if "WARNING" in line]
    assert not warnings, "\n".join(warnings)
    yield out


def test_every_page_of_the_navigation_is_built(site: Path) -> None:
    import yaml

    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def pages(node: object) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)
        elif isinstance(node, dict):
            for value in node.values():
                yield from pages(value)

    listed = list(pages(config["nav"]))
    assert len(listed) >= 25
    for page in listed:
        html = site / page.removesuffix(".md") / "index.html"
        if page == "index.md":
            html = site / "index.html"
        assert html.is_file(), f"{page} was not built"
    # Every page in docs/ is in the navigation: none is left where nobody finds it.
    on_disk = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk == set(listed)


def test_the_api_reference_shows_every_exported_name(site: Path) -> None:
    import importlib

    for name in DOCUMENTED_MODULES:
        page = "aiogstwebrtc" if name == "aiogstwebrtc" else name.split(".")[1]
        html = (site / "reference" / page / "index.html").read_text(encoding="utf-8")
        assert ":class:" not in html and ":meth:" not in html  # roles shown as code
        exported = importlib.import_module(name).__all__
        for export in exported:
            if export.startswith("__"):
                continue
            assert f'id="{name}.{export}"' in html, f"{name}.{export} is not on its API page"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if value is None:
                continue
            if key in ("href", "src"):
                self.links.append(value)
            elif key in ("id", "name"):
                self.ids.add(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _broken_links(site: Path) -> tuple[int, list[str]]:
    """(links checked, the broken ones): every local href/src must name a file of the
    site, and its #fragment an id (or name) in that page. External links are not followed."""
    parsed = {path: _parse(path) for path in site.rglob("*.html")}
    broken: list[str] = []
    checked = 0
    for page, links in parsed.items():
        for link in links.links:
            url = urlsplit(link)
            if url.scheme or link.startswith("//"):
                continue  # http, mailto, data: not followed, no network
            if not url.path:
                target = page
            elif url.path.startswith("/"):  # 404.html links from the site's root
                target = (site / unquote(url.path).lstrip("/")).resolve()
            else:
                target = (page.parent / unquote(url.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {link} (no such file)")
                continue
            if url.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(url.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    return checked, broken


def test_every_internal_link_and_anchor_of_the_site_resolves(site: Path) -> None:
    checked, broken = _broken_links(site)
    assert checked > 500
    assert not broken, "\n".join(broken)


def test_the_link_check_finds_a_missing_page_asset_and_anchor(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text('<h2 id="here">x</h2><a href="../">up</a>')
    (tmp_path / "index.html").write_text(
        '<a href="a/#here">ok</a><a href="a/#gone">x</a><img src="b.png">'
        '<a href="c/">x</a><a href="https://example.org/">external</a><a href="/a/">root</a>'
    )
    checked, broken = _broken_links(tmp_path)
    assert checked == 6
    assert broken == [
        "index.html: a/#gone (no such anchor)",
        "index.html: b.png (no such file)",
        "index.html: c/ (no such file)",
    ]


def _undocumented() -> list[str]:
    """Exported names (classes, functions, constants) and their public methods and
    properties without a docstring: the API reference leaves those out.

    Plain attributes of a class (dataclass fields, instance variables) are described in
    its docstring; a method overriding a documented one of a base class inherits its
    docstring.
    """
    import griffe

    package = griffe.load("aiogstwebrtc", search_paths=[str(ROOT)])
    missing: list[str] = []

    def target(obj: griffe.Object | griffe.Alias) -> griffe.Object:
        return obj.final_target if obj.is_alias else obj  # type: ignore[return-value]

    def inherited(owner: griffe.Class, name: str) -> bool:
        return any(
            name in base.members and target(base.members[name]).docstring is not None
            for base in owner.mro()
        )

    def visit(obj: griffe.Object, path: str, exported: bool = False) -> None:
        if obj.is_attribute and "property" not in obj.labels and not exported:
            return
        if obj.docstring is None:
            owner = obj.parent
            if not (isinstance(owner, griffe.Class) and inherited(owner, obj.name)):
                missing.append(path)
        if isinstance(obj, griffe.Class):
            for name, member in obj.members.items():
                if not name.startswith("_") and not member.is_alias:
                    visit(member, f"{path}.{name}")

    for module_name in DOCUMENTED_MODULES:
        module = package if module_name == "aiogstwebrtc" else package[module_name[13:]]
        for export in module.exports or ():
            name = export if isinstance(export, str) else export.name
            if not name.startswith("__"):
                visit(target(module[name]), f"{module_name}.{name}", exported=True)
    return missing


def test_every_exported_name_and_its_public_members_have_docstrings() -> None:
    _require_docs_extra()
    missing = _undocumented()
    assert not missing, "no docstring:\n" + "\n".join(missing)


def test_sphinx_roles_become_code_spans() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from griffe_sphinx_roles import strip_roles
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    text = ":class:`~aiogstwebrtc.media.Broadcast` and :meth:`.close`, :data:`CODECS`"
    assert strip_roles(text) == "`Broadcast` and `close`, `CODECS`"
