"""GStreamer import, initialisation, feature probes and the GStreamer 1.22 workarounds."""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import logging
import random
import threading
from typing import Any

from .errors import MissingComponentError

__all__ = [
    "FAST_ICE_PACING_LIMIT",
    "FAST_ICE_PACING_MS",
    "GLib",
    "GObject",
    "Gst",
    "GstApp",
    "GstSdp",
    "GstVideo",
    "GstWebRTC",
    "SctpAssociationIds",
    "configure_ice_agent",
    "element_available",
    "ensure_init",
    "iterate",
    "make_element",
    "sink_pads",
    "versions",
]

log = logging.getLogger(__name__)

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstSdp", "1.0")
    gi.require_version("GstWebRTC", "1.0")
    gi.require_version("GstVideo", "1.0")
    gi.require_version("GstApp", "1.0")
    # GstApp loaded, appsrc elements are GstApp.AppSrc (push_buffer() is cheaper than
    # emitting "push-buffer", which matters on a broadcast's streaming thread)
    from gi.repository import GLib, GObject, Gst, GstApp, GstSdp, GstVideo, GstWebRTC
except (ImportError, ValueError) as exc:  # pragma: no cover - depends on the machine
    raise MissingComponentError(
        f"GStreamer introspection data is missing ({exc}); install the Debian packages "
        "gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0 "
        "and PyGObject"
    ) from exc

#: Debian package that provides each element the library may use.
ELEMENT_PACKAGES: dict[str, str] = {
    "webrtcbin": "gstreamer1.0-plugins-bad",
    "nicesrc": "gstreamer1.0-nice",
    "dtlssrtpenc": "gstreamer1.0-plugins-bad",
    "srtpenc": "gstreamer1.0-plugins-bad",
    "sctpenc": "gstreamer1.0-plugins-bad",
    "rtpbin": "gstreamer1.0-plugins-good",
    "vp8enc": "gstreamer1.0-plugins-good",
    "vp8dec": "gstreamer1.0-plugins-good",
    "vp9enc": "gstreamer1.0-plugins-good",
    "vp9dec": "gstreamer1.0-plugins-good",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "openh264enc": "gstreamer1.0-plugins-bad",
    "avdec_h264": "gstreamer1.0-libav",
    "opusenc": "gstreamer1.0-plugins-base",
    "opusdec": "gstreamer1.0-plugins-base",
    "videotestsrc": "gstreamer1.0-plugins-base",
    "audiotestsrc": "gstreamer1.0-plugins-base",
}

_init_lock = threading.Lock()
_initialised = False


def ensure_init() -> None:
    """Call ``Gst.init`` once per process (without it webrtcbin cannot be made)."""
    global _initialised
    if _initialised:
        return
    with _init_lock:
        if not _initialised:
            Gst.init(None)
            _initialised = True


_warm_up_thread: threading.Thread | None = None  # started once per process

#: The name of the warm-up thread (as thread listings show it).
WARM_UP_THREAD = "aiogst-warm-up"

#: The elements webrtcbin makes for a connection's transports and data channels (1.22 and
#: 1.26), ``dtlsdec`` first: its first instance makes the DTLS default key on 1.22.
WARM_UP_ELEMENTS = (
    "dtlsdec",
    "dtlsenc",
    "dtlssrtpenc",
    "dtlssrtpdec",
    "dtlssrtpdemux",
    "srtpenc",
    "srtpdec",
    "nicesrc",
    "nicesink",
    "sctpenc",
    "sctpdec",
    "rtpsession",
    "rtpssrcdemux",
    "rtpstorage",
    "rtprtxsend",
    "rtpfunnel",
    "funnel",
    "queue",
    "capsfilter",
    "clocksync",
    "appsrc",
    "appsink",
)


def warm_up_elements() -> None:
    """Make one of each element a connection needs now, on a thread of its own.

    The first offer of a process builds the first transports, and each element's first
    instance pays its plugin's loading and its class's one-time set-up: OpenSSL and the
    DTLS default certificate (an RSA-2048 key on GStreamer 1.22, 80-350 ms), libsrtp,
    usrsctp, libnice. Started when the first peer connection starts (or by
    :func:`aiogstwebrtc.prewarm`), this runs while the pipeline and the GLib loop come up
    and the application negotiates, instead of inside the first ``create_offer()``. The
    thread makes elements outside any pipeline and drops them, which GStreamer allows from
    any thread (listed in :mod:`aiogstwebrtc.glibloop`). It is not a daemon thread: the
    interpreter waits for it at exit (at most the key's time). A program ending while the
    key was still being made crashed otherwise: OpenSSL's exit clean-up freed the locks the
    key generation was using (SIGSEGV in ``RAND_priv_bytes``).
    """
    global _warm_up_thread
    if _warm_up_thread is not None:
        return
    ensure_init()
    _warm_up_thread = threading.Thread(target=_make_elements, name=WARM_UP_THREAD, daemon=False)
    _warm_up_thread.start()


def join_warm_up(timeout: float) -> None:
    """Wait up to ``timeout`` seconds for the warm-up thread, if one was started (for a
    measurement or a test that must see the warm-up finished before it goes on)."""
    thread = _warm_up_thread
    if thread is not None:
        thread.join(timeout)


def _make_elements() -> None:
    # webrtcbin itself: its plugin loaded only (an instance would start an ICE agent)
    factory = Gst.ElementFactory.find("webrtcbin")
    if factory is not None:
        factory.load()
    for name in WARM_UP_ELEMENTS:
        try:
            Gst.ElementFactory.make(name, None)
        except Exception as exc:  # a missing plugin is reported where it is needed
            log.debug("warm-up of %s: %r", name, exc)


def element_available(name: str) -> bool:
    """True when the GStreamer element factory ``name`` is installed."""
    ensure_init()
    return Gst.ElementFactory.find(name) is not None


def make_element(factory: str, name: str | None = None) -> Gst.Element:
    """Create an element or raise :class:`MissingComponentError` naming its Debian package."""
    ensure_init()
    element = Gst.ElementFactory.make(factory, name)
    if element is None:
        package = ELEMENT_PACKAGES.get(factory, "a GStreamer plugin package")
        raise MissingComponentError(
            f"GStreamer element {factory!r} is not available: install {package}"
        )
    return element


def iterate(iterator: Gst.Iterator, limit: int = 100_000) -> list[Any]:
    """Everything a ``Gst.Iterator`` yields, restarting on RESYNC (bounded)."""
    items: list[Any] = []
    for _ in range(limit):
        result, item = iterator.next()
        if result == Gst.IteratorResult.OK:
            items.append(item)
        elif result == Gst.IteratorResult.RESYNC:
            items.clear()
            iterator.resync()
        else:
            break
    return items


def sink_pads(element: Gst.Element) -> list[Gst.Pad]:
    """The element's sink pads, read with its thread-safe iterator (never ``.sinkpads``)."""
    pads: list[Gst.Pad] = iterate(element.iterate_sink_pads())
    return pads


def versions() -> dict[str, str]:
    """Versions of GStreamer, PyGObject, GLib and libnice (when found)."""
    ensure_init()
    result = {
        "gstreamer": ".".join(str(n) for n in Gst.version()),
        "pygobject": ".".join(str(n) for n in gi.version_info),
        "glib": f"{GLib.MAJOR_VERSION}.{GLib.MINOR_VERSION}.{GLib.MICRO_VERSION}",
    }
    plugin = Gst.Registry.get().find_plugin("nice")
    if plugin is not None:
        result["libnice-plugin"] = plugin.get_version()
    return result


# --- the ice-agent reference (1.22) ------------------------------------------------------------

_gobject_lib: Any = None


def _gobject() -> Any:
    global _gobject_lib
    if _gobject_lib is None:
        lib = ctypes.CDLL(ctypes.util.find_library("gobject-2.0") or "libgobject-2.0.so.0")
        lib.g_object_ref.restype = ctypes.c_void_p
        lib.g_object_ref.argtypes = [ctypes.c_void_p]
        lib.g_object_unref.restype = None
        lib.g_object_unref.argtypes = [ctypes.c_void_p]
        lib.g_object_is_floating.restype = ctypes.c_int
        lib.g_object_is_floating.argtypes = [ctypes.c_void_p]
        lib.g_object_get.restype = None
        ctypes.pythonapi.PyCapsule_GetPointer.restype = ctypes.c_void_p
        ctypes.pythonapi.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        _gobject_lib = lib
    return _gobject_lib


def _pointer(obj: GObject.Object) -> int:
    pointer: int = ctypes.pythonapi.PyCapsule_GetPointer(obj.__gpointer__, None)
    return pointer


def read_object_property(owner: GObject.Object, name: str) -> Any:
    """Read the object property ``name`` of ``owner`` without stealing its reference.

    GStreamer 1.22's webrtcbin keeps some of its objects (the ICE agent, the SCTP
    transport) floating: PyGObject sinks that floating reference on the first read and
    drops it with the wrapper, freeing the object under its owners. When the object is
    still floating we first add the reference PyGObject's sink will take.
    """
    lib = _gobject()
    out = ctypes.c_void_p()
    lib.g_object_get(
        ctypes.c_void_p(_pointer(owner)), name.encode(), ctypes.byref(out), ctypes.c_void_p()
    )
    if out.value:
        if lib.g_object_is_floating(out.value):
            lib.g_object_ref(out.value)  # what PyGObject's sink below takes over
            log.debug("%s: floating reference kept (GStreamer 1.22)", name)
        lib.g_object_unref(out.value)  # g_object_get's own
    return owner.get_property(name)


def read_ice_agent(webrtcbin: Gst.Element) -> GObject.Object:
    """Read webrtcbin's ``ice-agent`` without stealing webrtcbin's reference."""
    ice: GObject.Object = read_object_property(webrtcbin, "ice-agent")
    return ice


_nice_lib: Any = None

_P, _U, _S, _I = ctypes.c_void_p, ctypes.c_uint, ctypes.c_char_p, ctypes.c_int
#: The libnice functions called through ctypes: (result type, argument types).
_NICE_FUNCTIONS: dict[str, tuple[Any, list[Any]]] = {
    "nice_agent_close_async": (None, [_P, _P, _P]),
    "nice_agent_restart_stream": (_I, [_P, _U]),
    "nice_agent_set_local_credentials": (_I, [_P, _U, _S, _S]),
    # agent, stream, component, server, port, username, password, NiceRelayType
    "nice_agent_set_relay_info": (_I, [_P, _U, _U, _S, _U, _S, _S, _I]),
}


def _libnice() -> Any:
    """libnice through ctypes (webrtcbin does not expose these calls), or None."""
    global _nice_lib
    if _nice_lib is None:
        name = ctypes.util.find_library("nice") or "libnice.so.10"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            return None
        for function, (restype, argtypes) in _NICE_FUNCTIONS.items():
            getattr(lib, function).restype = restype
            getattr(lib, function).argtypes = argtypes
        _nice_lib = lib
    return _nice_lib


#: Seconds the ICE agent is kept after :func:`close_ice_agent`: libnice sends the TURN
#: refreshes of lifetime 0 from its own thread one pacing tick later and takes the answers.
TURN_RELEASE_GRACE = 0.5


def close_ice_agent(webrtcbin: Gst.Element) -> bool:
    """Release the agent's TURN allocations (``nice_agent_close_async``), without blocking.

    webrtcbin (1.22) never does: its agent goes with "We still have alive TURN
    refreshes" and every allocation stays on the TURN server until its lifetime ends
    (600 s with coturn). libnice sends the refreshes of lifetime 0 from the agent's own
    thread, so the agent is kept alive :data:`TURN_RELEASE_GRACE` seconds more by a timer
    thread holding a reference (dropping it there is thread-safe). Call it on the GLib
    thread once the pipeline is ``NULL``. False when libnice cannot be reached.
    """
    lib = _libnice()
    if lib is None:
        return False
    ice = read_ice_agent(webrtcbin)
    agent = read_object_property(ice, "agent")
    if agent is None:
        return False
    lib.nice_agent_close_async(_pointer(agent), None, None)
    keep: list[Any] = [ice, agent]
    timer = threading.Timer(TURN_RELEASE_GRACE, keep.clear)
    timer.daemon = True
    timer.name = "aiogst-turn-release"
    timer.start()
    return True


def ice_restart_available() -> bool:
    """libnice (for ``nice_agent_restart_stream``) can be reached."""
    return _libnice() is not None


def _agent_pointer(webrtcbin: Gst.Element) -> tuple[Any, int] | None:
    """GLib thread: libnice and the address of webrtcbin's NiceAgent, or None."""
    lib = _libnice()
    agent = read_object_property(read_ice_agent(webrtcbin), "agent") if lib else None
    if agent is None:
        return None
    return lib, _pointer(agent)


def restart_ice_stream(
    webrtcbin: Gst.Element, stream_id: int, ufrag: str, pwd: str, *, restart: bool = True
) -> bool:
    """GLib thread: ``nice_agent_restart_stream`` on the agent's stream ``stream_id``, then
    ``nice_agent_set_local_credentials`` with ``ufrag``/``pwd`` (only the latter when
    ``restart`` is False).

    The restart drops the stream's checks, remote candidates and incoming checks and gives
    it random local credentials, replaced here by the description's; libnice checks again
    once remote credentials and candidates come, and the selected pair keeps carrying data
    meanwhile. False when libnice cannot be reached or refuses.
    """
    found = _agent_pointer(webrtcbin)
    if found is None:
        return False
    lib, pointer = found
    if restart and not lib.nice_agent_restart_stream(pointer, stream_id):
        return False
    return bool(
        lib.nice_agent_set_local_credentials(pointer, stream_id, ufrag.encode(), pwd.encode())
    )


#: libnice's NiceRelayType for each TURN protocol.
_NICE_RELAY_TYPES = {"udp": 0, "tcp": 1, "tls": 2}


def allocate_relay(
    webrtcbin: Gst.Element,
    stream_id: int,
    host: str,
    port: int,
    username: str,
    credential: str,
    protocol: str,
) -> bool:
    """GLib thread: ``nice_agent_set_relay_info`` on a stream that has gathered already.

    libnice then allocates on that TURN server from each local host candidate's socket, as
    it does while gathering, announces what is new (a server-reflexive address; a relay
    on a server it has a relay candidate of already is dropped as redundant) through
    webrtcbin's ``on-ice-candidate``, then ``candidate-gathering-done``. False when libnice
    cannot be reached or refuses.
    """
    found = _agent_pointer(webrtcbin)
    if found is None:
        return False
    lib, pointer = found
    return bool(
        lib.nice_agent_set_relay_info(
            pointer,
            stream_id,
            1,  # webrtcbin's streams have one component (RTP and RTCP muxed)
            host.encode(),
            port,
            username.encode(),
            credential.encode(),
            _NICE_RELAY_TYPES[protocol],
        )
    )


#: libnice's pacing timer Ta for the first peer connections of a process. Its default,
#: 20 ms, makes every open wait three ticks (webrtcbin's agent nominates regularly):
#: 84 ms to open a channel; with 5 ms, 38 ms (docs/performance.md).
FAST_ICE_PACING_MS = 5
#: Beyond this many live peer connections keep libnice's 20 ms: ticks cost CPU at scale.
FAST_ICE_PACING_LIMIT = 16


def configure_ice_agent(
    webrtcbin: Gst.Element,
    local_addresses: list[str],
    *,
    ice_tcp: bool = False,
    pacing_ms: int | None = None,
) -> None:
    """Turn libnice's UPnP off, choose TCP candidates, add local addresses (``127.0.0.1``),
    and set the STUN pacing timer when ``pacing_ms`` is given."""
    ice = read_ice_agent(webrtcbin)
    if ice.find_property("ice-tcp") is not None:
        ice.set_property("ice-tcp", ice_tcp)
    agent = ice.get_property("agent")
    if agent is not None and agent.find_property("upnp") is not None:
        agent.set_property("upnp", False)
    if (
        pacing_ms is not None
        and agent is not None
        and agent.find_property("stun-pacing-timer") is not None
    ):
        agent.set_property("stun-pacing-timer", pacing_ms)
    for address in local_addresses:
        if not ice.emit("add-local-ip-address", address):
            raise ValueError(f"webrtcbin refused local address {address!r}")


# --- unique SCTP association ids (1.22) ---------------------------------------------------------


class SctpAssociationIds:
    """Hands out SCTP association ids unique within this process.

    webrtcbin picks them at random and the SCTP elements share associations process-wide by
    id, so two peer connections in one process can collide and stall.
    """

    _lock = threading.Lock()
    _in_use: set[int] = set()
    _counter = itertools.count(random.randrange(1, 65535))

    @classmethod
    def acquire(cls) -> int:
        """Reserve an id not used by any other live peer connection of this process."""
        with cls._lock:
            for _ in range(65535):
                candidate = next(cls._counter) % 65535 + 1
                if candidate not in cls._in_use:
                    cls._in_use.add(candidate)
                    return candidate
        raise RuntimeError("no free SCTP association id")

    @classmethod
    def live(cls) -> int:
        """How many ids are reserved: the live peer connections of this process."""
        with cls._lock:
            return len(cls._in_use)

    @classmethod
    def release(cls, association_id: int) -> None:
        """Give an id back."""
        with cls._lock:
            cls._in_use.discard(association_id)
