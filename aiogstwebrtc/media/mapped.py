"""A decoded buffer's memory seen by numpy without a copy, mapped for as long as it is seen.

PyGObject's ``Gst.Buffer.map`` hands Python a ``bytes`` copy of the memory (GStreamer's
own Python overrides, which give a ``memoryview``, are not part of PyGObject), and a
decoded 720p RGB frame is 2.7 MB. :func:`read_only_array` maps the buffer read-only
through GStreamer's C API instead and gives numpy the mapped memory itself: the array is
read-only, and the buffer stays referenced and mapped until the last array viewing it is
gone, whichever thread drops it (``gst_buffer_unmap`` is MT-safe on a buffer we hold a
reference to). Measured in docs/media.md ("Received frames").

The buffer's C pointer is what PyGObject's boxed wrapper hashes to; that is checked once
per process inside a wrapper of our own, and every pointer is checked to point at a
``GstBuffer`` (its mini-object type) before it is used. Should a PyGObject release change
either, :func:`read_only_array` falls back to one copy, as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

from ..gst import Gst

__all__ = ["read_only_array"]

log = logging.getLogger(__name__)

_MAP_READ = 1  # GST_MAP_READ


class _MapInfo(ctypes.Structure):
    """``GstMapInfo`` (gst/gstmemory.h), stable since GStreamer 1.0."""

    _fields_ = [
        ("memory", ctypes.c_void_p),
        ("flags", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
        ("maxsize", ctypes.c_size_t),
        ("user_data", ctypes.c_void_p * 4),
        ("_gst_reserved", ctypes.c_void_p * 4),
    ]


class _Library:
    """The libgstreamer functions used, bound once; ``usable`` is False where they cannot
    be (no library found, or PyGObject's wrappers do not hash to their pointers)."""

    def __init__(self) -> None:
        self.usable = False
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("gstreamer-1.0") or "libgstreamer-1.0.so.0")
        except OSError as exc:
            log.debug("zero-copy frames off: %s", exc)
            return
        self.map = lib.gst_buffer_map
        self.map.argtypes = [ctypes.c_void_p, ctypes.POINTER(_MapInfo), ctypes.c_int]
        self.map.restype = ctypes.c_int
        self.unmap = lib.gst_buffer_unmap
        self.unmap.argtypes = [ctypes.c_void_p, ctypes.POINTER(_MapInfo)]
        self.unmap.restype = None
        get_type = lib.gst_buffer_get_type
        get_type.restype = ctypes.c_size_t
        self.buffer_type = int(get_type())
        self.usable = _hash_is_the_pointer()
        if not self.usable:
            log.debug("zero-copy frames off: this PyGObject does not hash a boxed to its pointer")


def _hash_is_the_pointer() -> bool:
    """Once: does PyGObject hash a ``Gst.Buffer`` wrapper to its ``GstBuffer *``?

    Checked without reading memory at the hashed value: the wrapper's own struct (CPython's
    object header, then the boxed pointer) is read inside the Python object, and the two
    must agree. Only then is a hashed value ever dereferenced.
    """
    probe = Gst.Buffer.new_allocate(None, 16, None)
    if type(probe).__basicsize__ < object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p):
        return False
    inside = ctypes.c_void_p.from_address(id(probe) + object.__basicsize__).value
    return inside is not None and inside == hash(probe)


_library: _Library | None = None


def _lib() -> _Library:
    global _library
    if _library is None:
        _library = _Library()
    return _library


class _MappedBuffer:
    """One read-only mapping of a ``Gst.Buffer``, released when this object is freed.

    numpy keeps the object behind ``__array_interface__`` as the array's base, so every
    view of the array keeps the mapping (and the buffer) alive, and the last one going
    unmaps it.
    """

    __slots__ = ("__array_interface__", "_address", "_buffer", "_info")

    def __init__(self, buffer: Gst.Buffer, address: int, info: _MapInfo) -> None:
        self._buffer = buffer  # our reference: the buffer outlives the mapping
        self._address = address
        self._info = info
        self.__array_interface__ = {
            "version": 3,
            "shape": (int(info.size),),
            "typestr": "|u1",
            "data": (int(info.data or 0), True),  # read-only
        }

    def __del__(self) -> None:
        lib = _library
        if lib is not None:
            lib.unmap(self._address, ctypes.byref(self._info))


def _buffer_address(buffer: Gst.Buffer, lib: _Library) -> int | None:
    """The ``GstBuffer *`` behind PyGObject's wrapper, or None if it does not look like one."""
    address = hash(buffer)
    if address <= 0:
        return None
    if ctypes.c_size_t.from_address(address).value != lib.buffer_type:
        return None
    return address


def read_only_array(buffer: Gst.Buffer) -> Any:
    """A read-only ``uint8`` numpy array of ``buffer``'s whole memory, without a copy.

    Falls back to a (writable) copy where the mapping cannot be made this way. Raises
    :class:`ValueError` if the buffer cannot be mapped at all.
    """
    import numpy as np

    lib = _lib()
    address = _buffer_address(buffer, lib) if lib.usable else None
    if address is None:
        ok, info = buffer.map(Gst.MapFlags.READ)
        if not ok:
            raise ValueError("the buffer cannot be mapped for reading")
        try:
            return np.frombuffer(info.data, dtype=np.uint8).copy()
        finally:
            buffer.unmap(info)
    mapping = _MapInfo()
    if not lib.map(address, ctypes.byref(mapping), _MAP_READ):
        raise ValueError("the buffer cannot be mapped for reading")
    if not mapping.size:
        lib.unmap(address, ctypes.byref(mapping))
        return np.zeros(0, dtype=np.uint8)
    return np.asarray(_MappedBuffer(buffer, address, mapping))
