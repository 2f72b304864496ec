"""webrtcbin's ``get-stats`` reply as plain Python data."""

from __future__ import annotations

from typing import Any

from .gst import GObject, Gst

__all__ = ["stats_from_reply", "structure_to_dict"]


def _plain(value: Any) -> Any:
    if isinstance(value, Gst.Structure):
        return structure_to_dict(value)
    if isinstance(value, GObject.GEnum | GObject.GFlags):
        return value.value_nick
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def structure_to_dict(structure: Gst.Structure) -> dict[str, Any]:
    """Every field of ``structure`` as a dict of plain values (nested structures too)."""
    result: dict[str, Any] = {}
    for index in range(structure.n_fields()):
        name = structure.nth_field_name(index)
        try:
            result[name] = _plain(structure.get_value(name))
        except TypeError:  # a GValue type PyGObject cannot convert
            result[name] = None
    return result


def stats_from_reply(reply: Gst.Structure | None) -> dict[str, dict[str, Any]]:
    """``{stat id: {"type": ..., ...}}`` from a get-stats promise reply."""
    if reply is None:
        return {}
    stats: dict[str, dict[str, Any]] = {}
    for key, value in structure_to_dict(reply).items():
        if isinstance(value, dict):
            stats[str(value.get("id", key))] = value
    return stats
