"""mkdocs hooks (mkdocs.yml ``hooks:``): the benchmark charts in the site.

``make bench`` writes its charts to ``bench/results/``, outside ``docs/``. The pages link
them as ``../bench/results/NAME.png`` so that they also show on GitHub; the site gets a
copy of each chart at ``bench/NAME.png`` and the links are rewritten to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"
CHARTS = ("latest.png", "trixie-latest.png")


def on_files(files: Files, config: Any) -> Files:
    for name in CHARTS:
        files.append(
            File.generated(config, f"bench/{name}", abs_src_path=str(RESULTS / name))
        )
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return markdown.replace("../bench/results/", "bench/")
