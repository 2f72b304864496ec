"""A small event emitter: handlers run on the asyncio thread, coroutines become tasks."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["EventEmitter"]

log = logging.getLogger(__name__)
Handler = TypeVar("Handler", bound=Callable[..., Any])


class EventEmitter:
    """``obj.on("event", handler)`` or ``@obj.on("event")``; ``obj.off(...)`` removes it.

    An exception in a handler is logged and never breaks the emitter or other handlers.
    """

    _event_names: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def on(self, event: str, handler: Handler | None = None) -> Any:
        """Register ``handler`` for ``event``; without a handler, return a decorator."""
        if self._event_names and event not in self._event_names:
            raise ValueError(
                f"unknown event {event!r}; known: {', '.join(sorted(self._event_names))}"
            )

        def register(fn: Handler) -> Handler:
            self._handlers.setdefault(event, []).append(fn)
            self._handler_added(event)
            return fn

        return register(handler) if handler is not None else register

    def off(self, event: str, handler: Callable[..., Any]) -> None:
        """Remove ``handler`` from ``event`` (no error if it was not registered)."""
        handlers = self._handlers.get(event, [])
        if handler in handlers:
            handlers.remove(handler)

    def has_handlers(self, event: str) -> bool:
        """True when at least one handler listens to ``event``."""
        return bool(self._handlers.get(event))

    def remove_all_listeners(self) -> None:
        """Forget every handler."""
        self._handlers.clear()

    def _handler_added(self, event: str) -> None:
        """Hook for subclasses (e.g. to flush buffered messages to a new handler)."""

    def emit(self, event: str, *args: Any) -> None:
        """Call every handler of ``event`` now (on the calling asyncio thread)."""
        for handler in list(self._handlers.get(event, [])):
            try:
                result = handler(*args)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._task_done)
            except Exception:
                log.exception("error in %r handler %r", event, handler)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("error in an async event handler", exc_info=task.exception())
