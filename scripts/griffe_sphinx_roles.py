"""A griffe extension (mkdocs.yml): Sphinx roles in our docstrings shown as code.

The docstrings name other objects the Sphinx way (``:class:`~aiogstwebrtc.media.Broadcast```,
``:meth:`close```). mkdocstrings renders Markdown, where such a role would show with its
colons; this turns each into a code span of the name as Sphinx displays it (the last
component after ``~``, leading dots dropped).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`(~?)\.?([^`]+)`")


def _plain(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def strip_roles(text: str) -> str:
    """``text`` with every Sphinx cross-reference role replaced by a code span."""
    return _ROLE.sub(_plain, text)


class SphinxRoles(griffe.Extension):
    """Rewrites each loaded object's docstring once."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
