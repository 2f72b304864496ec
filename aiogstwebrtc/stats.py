"""webrtcbin's ``get-stats`` reply as plain Python data, with the selected candidate pairs.

webrtcbin 1.22 reports candidates only for media sessions, with ``local-candidate`` and
``remote-candidate`` swapped; the selected pair of each ICE transport is read from the ICE
agent instead (:func:`selected_pairs`, on the GLib thread) in the browser's shape: a
``candidate-pair`` entry (``selected``, ``nominated``, ``local-candidate-id``,
``remote-candidate-id``) and its two candidates (``candidate-type`` host/srflx/prflx/relay,
``protocol``, ``address``, ``port``, and ``relay-protocol`` udp/tcp/tls for a relay).
"""

from __future__ import annotations

from typing import Any

from .gst import GObject, Gst, read_object_property

__all__ = [
    "ice_transports",
    "infer_relay_protocol",
    "selected_pairs",
    "stats_from_reply",
    "structure_to_dict",
    "with_selected_pairs",
]


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


# --- the selected candidate pair, read from the ICE agent -------------------------------------

#: webrtcbin's own candidate entries; 1.22 swaps their local/remote types and data-channel
#: sessions get none, so they are replaced by those read from the ICE agent.
_CANDIDATE_TYPES = ("candidate-pair", "local-candidate", "remote-candidate")
_RELAY_PROTOCOLS = ("udp", "tcp", "tls")


def ice_transports(webrtc: Gst.Element) -> list[tuple[str, GObject.Object]]:
    """GLib thread: ``(DTLS transport name, ICE transport)`` of the SCTP transport and of
    every transceiver, each ICE transport once (bundled media share one)."""
    dtls_transports: list[GObject.Object] = []
    sctp = read_object_property(webrtc, "sctp-transport")
    if sctp is not None:
        dtls_transports.append(read_object_property(sctp, "transport"))
    for index in range(64):
        transceiver = webrtc.emit("get-transceiver", index)
        if transceiver is None:
            break
        receiver = read_object_property(transceiver, "receiver")
        if receiver is not None and receiver.find_property("transport") is not None:
            dtls_transports.append(read_object_property(receiver, "transport"))
    result: list[tuple[str, GObject.Object]] = []
    seen: set[str] = set()
    for dtls in dtls_transports:
        if dtls is None:
            continue
        ice = read_object_property(dtls, "transport")
        if ice is not None and ice.get_name() not in seen:
            seen.add(ice.get_name())
            result.append((dtls.get_name(), ice))
    return result


def _candidate(stats: Any, kind: str, transport_id: str) -> dict[str, Any]:
    candidate_type = getattr(stats, "type", None)
    entry: dict[str, Any] = {
        "type": kind,
        "transport-id": transport_id,
        "address": getattr(stats, "ipaddr", None),
        "port": getattr(stats, "port", None),
        "protocol": getattr(stats, "proto", None),
        "candidate-type": candidate_type,
        "priority": getattr(stats, "prio", None),
        "url": getattr(stats, "url", None) or None,
    }
    if candidate_type == "relay":
        relay_protocol = getattr(stats, "relay_proto", None)
        entry["relay-protocol"] = relay_protocol if relay_protocol in _RELAY_PROTOCOLS else None
    entry["id"] = f"{kind}_{entry['address']}_{entry['port']}_{entry['protocol']}"
    return entry


def infer_relay_protocol(priority: int | None, configured: set[str]) -> str | None:
    """The protocol to the TURN server of a local relay candidate libnice does not name.

    libnice gives a relay reached over UDP the type preference 30 and one over TCP or TLS
    20 (the top byte of the priority; measured with libnice 0.1.21 and 0.1.22): of the
    configured protocols (``configured``) those that fit; one left is the answer, else None.
    """
    fitting = set(configured)
    if priority is not None and priority >> 24 == 30:
        fitting &= {"udp"}
    elif priority is not None and priority >> 24 == 20:
        fitting &= {"tcp", "tls"}
    return next(iter(fitting)) if len(fitting) == 1 else None


def selected_pairs(webrtc: Gst.Element, relay_protocols: set[str]) -> list[dict[str, Any]]:
    """GLib thread: the selected pair of each ICE transport, as stats entries.

    Each pair comes with its local and remote candidate: ``[pair, local, remote, ...]``.
    webrtcbin (1.22 and 1.26) reports no relay protocol (``"none"``): it is inferred from
    the configured TURN protocols (``relay_protocols``) with :func:`infer_relay_protocol`.
    """
    agent = read_object_property(webrtc, "ice-agent")
    entries: list[dict[str, Any]] = []
    for dtls_name, ice_transport in ice_transports(webrtc):
        stream = read_object_property(ice_transport, "stream")
        if stream is None:
            continue
        found, local, remote = agent.get_selected_pair(stream)
        if not found or local is None or remote is None:
            continue
        transport_id = f"transport-stats_{dtls_name}"
        local_entry = _candidate(local, "local-candidate", transport_id)
        if "relay-protocol" in local_entry and local_entry["relay-protocol"] is None:
            local_entry["relay-protocol"] = infer_relay_protocol(
                local_entry["priority"], relay_protocols
            )
        remote_entry = _candidate(remote, "remote-candidate", transport_id)
        pair = {
            "type": "candidate-pair",
            "id": f"candidate-pair_{ice_transport.get_name()}",
            "transport-id": transport_id,
            "local-candidate-id": local_entry["id"],
            "remote-candidate-id": remote_entry["id"],
            "state": "succeeded",
            "nominated": True,
            "selected": True,
        }
        entries += [pair, local_entry, remote_entry]
    return entries


def with_selected_pairs(
    stats: dict[str, dict[str, Any]], entries: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``stats`` with webrtcbin's candidate entries replaced by ``entries``.

    Each ``transport`` entry's ``selected-candidate-pair-id`` names our pair.
    """
    result = {
        key: value for key, value in stats.items() if value.get("type") not in _CANDIDATE_TYPES
    }
    for entry in entries:
        result[entry["id"]] = entry
        if entry["type"] == "candidate-pair":
            transport = result.get(entry["transport-id"])
            if transport is not None:
                transport["selected-candidate-pair-id"] = entry["id"]
    return result
