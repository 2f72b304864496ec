"""Hypothesis strategies for the signalling fuzz tests: every message type, valid and mutated.

Texts are JSON with placeholders for ids only known at run time (``@prod``, ``@cons``,
``@sid``, ``@self``, ``@other``); :func:`substitute` puts the real ids in. Sources of text:

* valid messages of every client and server type, with varied fields;
* the same after one to three structural mutations (a member deleted, replaced by any
  JSON value or id, added, the type swapped for another);
* the same serialised and then mutated as text (characters inserted, deleted, replaced,
  the text cut or a slice repeated);
* random JSON objects with a known or random ``type``, and random text.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from .sigtools import ANSWER_SDP, CANDIDATE, OFFER_SDP

PLACEHOLDERS = ("@prod", "@cons", "@sid", "@self", "@other")

CLIENT_TYPES = (
    "setProtocolVersion",
    "setPeerStatus",
    "list",
    "listConsumers",
    "startSession",
    "endSession",
    "peer",
)
SERVER_TYPES = (
    "welcome",
    "peerStatusChanged",
    "list",
    "listConsumers",
    "startSession",
    "sessionStarted",
    "endSession",
    "peer",
    "error",
)
ALL_TYPES = tuple(sorted({*CLIENT_TYPES, *SERVER_TYPES}))

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
IDS = st.sampled_from(PLACEHOLDERS) | st.text(min_size=1, max_size=12)
ROLES = st.lists(st.sampled_from(["producer", "consumer", "listener"]), max_size=3)
META = st.none() | st.dictionaries(st.text(max_size=8), JSON, max_size=3)
SDP_TEXT = st.sampled_from([OFFER_SDP, ANSWER_SDP]) | st.text(min_size=1, max_size=40)
PEER_INFO = st.fixed_dictionaries({"id": IDS, "meta": META})


def _peer_payloads() -> st.SearchStrategy[dict[str, Any]]:
    sdp = st.fixed_dictionaries(
        {
            "sessionId": IDS,
            "sdp": st.fixed_dictionaries(
                {"type": st.sampled_from(["offer", "answer"]), "sdp": SDP_TEXT}
            ),
        }
    )
    ice = st.fixed_dictionaries(
        {
            "sessionId": IDS,
            "ice": st.fixed_dictionaries(
                {
                    "candidate": st.sampled_from([CANDIDATE, ""]) | st.text(max_size=20),
                    "sdpMLineIndex": st.integers(0, 3),
                },
                optional={
                    "sdpMid": st.none() | st.text(max_size=3),
                    "usernameFragment": st.text(max_size=8),
                },
            ),
        }
    )
    return sdp | ice


def _typed(
    type_name: str, fields: st.SearchStrategy[dict[str, Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    return fields.map(lambda f: {"type": type_name, **f})


_NOTHING: st.SearchStrategy[dict[str, Any]] = st.just({})

VALID_CLIENT = st.one_of(
    _typed(
        "setProtocolVersion", st.fixed_dictionaries({"version": st.sampled_from(["1.0", "1.1"])})
    ),
    _typed(
        "setPeerStatus",
        st.fixed_dictionaries({"roles": ROLES}, optional={"meta": META, "peerId": IDS}),
    ),
    _typed("list", _NOTHING),
    _typed("listConsumers", _NOTHING),
    _typed("startSession", st.fixed_dictionaries({"peerId": IDS}, optional={"offer": SDP_TEXT})),
    _typed("endSession", st.fixed_dictionaries({"sessionId": IDS})),
    _typed("peer", _peer_payloads()),
)
"""Client messages of every type, mostly valid (ids and roles may still be refused)."""

VALID_SERVER = st.one_of(
    _typed("welcome", st.fixed_dictionaries({"peerId": IDS})),
    _typed(
        "peerStatusChanged", st.fixed_dictionaries({"peerId": IDS, "roles": ROLES, "meta": META})
    ),
    _typed("list", st.fixed_dictionaries({"producers": st.lists(PEER_INFO, max_size=3)})),
    _typed("listConsumers", st.fixed_dictionaries({"consumers": st.lists(PEER_INFO, max_size=3)})),
    _typed(
        "startSession",
        st.fixed_dictionaries({"peerId": IDS, "sessionId": IDS}, optional={"offer": SDP_TEXT}),
    ),
    _typed("sessionStarted", st.fixed_dictionaries({"peerId": IDS, "sessionId": IDS})),
    _typed("endSession", st.fixed_dictionaries({"sessionId": IDS})),
    _typed("peer", _peer_payloads()),
    _typed("error", st.fixed_dictionaries({"details": st.text(max_size=40)})),
)
"""Server messages of every type, valid in shape."""


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every ``(container, key)`` inside ``value``: the places a mutation can hit."""
    out: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        keys = (
            list(item)
            if isinstance(item, dict)
            else range(len(item))
            if isinstance(item, list)
            else ()
        )
        for key in keys:
            out.append((item, key))
            stack.append(item[key])
    return out


@st.composite
def mutated_tree(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A message from ``base`` after one to three structural mutations."""
    obj = copy.deepcopy(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(obj)
        op = draw(st.sampled_from(["delete", "replace", "add", "retype"] if slots else ["add"]))
        if op == "retype":
            obj["type"] = draw(st.sampled_from(ALL_TYPES) | JSON)
            continue
        if op == "add":
            dicts = [obj] + [c[k] for c, k in slots if isinstance(c[k], dict)]
            target = draw(st.sampled_from(dicts))
            target[
                draw(
                    st.sampled_from(["peerId", "sessionId", "sdp", "ice", "roles", "meta"])
                    | st.text(max_size=6)
                )
            ] = draw(JSON | IDS)
            continue
        container, key = draw(st.sampled_from(slots))
        if op == "delete":
            del container[key]
        else:
            container[key] = draw(JSON | IDS)
    return obj


@st.composite
def mutated_text(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> str:
    """A message from ``base`` serialised, then mutated as text."""
    text = json.dumps(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 8)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "cut", "repeat"]))
        if op == "insert":
            text = text[:i] + draw(st.text(min_size=1, max_size=4)) + text[i:]
        elif op == "delete":
            text = text[:i] + text[j:]
        elif op == "replace":
            text = text[:i] + draw(st.sampled_from(list('{}[]",:0 \\n'))) + text[j:]
        elif op == "cut":
            text = text[:i]
        else:
            text = text[:j] + text[i:j] * draw(st.integers(1, 3)) + text[j:]
    return text


def texts(
    valid: st.SearchStrategy[dict[str, Any]], types: tuple[str, ...]
) -> st.SearchStrategy[str]:
    """Texts to feed a parser or a server: valid, mutated and random messages of ``types``."""
    random_object = st.dictionaries(
        st.sampled_from(
            ["peerId", "sessionId", "sdp", "ice", "roles", "meta", "offer", "version", "details"]
        ),
        JSON | IDS,
        max_size=4,
    ).flatmap(lambda obj: (st.sampled_from(types) | JSON).map(lambda t: {"type": t, **obj}))
    return st.one_of(
        valid.map(json.dumps),
        mutated_tree(valid).map(json.dumps),
        mutated_text(valid),
        random_object.map(json.dumps),
        st.text(max_size=40),
    )


CLIENT_TEXTS = texts(VALID_CLIENT, CLIENT_TYPES)
"""Anything a peer could send the server."""

SERVER_TEXTS = texts(VALID_SERVER, SERVER_TYPES)
"""Anything a server could send a client."""


def substitute(text: str, ids: Mapping[str, str]) -> str:
    """Put the real ids in place of the placeholders of ``text``."""
    for placeholder, real in ids.items():
        text = text.replace(placeholder, real)
    return text
