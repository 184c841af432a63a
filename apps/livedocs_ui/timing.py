"""A server-side timing log behind ``LIVEDOCS_DEBUG``: script reruns, fragment renders, store queries.

    LIVEDOCS_DEBUG=1 livedocs app      # one line per timed step on the server's stderr:
    livedocs-timing script notebook ms=41.7 at=1795510474.397     (the page's kind; when it ended)
    livedocs-timing store list ms=3.2 at=1795510474.390
    livedocs-timing mark tiles-3f2a9c1d0e4b ms=0.0 at=1795510474.512   (a moment: run 3f2a...'s tiles sent)

Off (the default) it costs one environment lookup per step. ``benchmarks/app_speed.py`` reads these lines.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

PREFIX = "livedocs-timing"


def enabled() -> bool:
    return os.environ.get("LIVEDOCS_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def emit(kind: str, what: str, ms: float, at: float | None = None) -> None:
    """One log line (``what`` is a page or method name from this package, or a run id, never user text);
    ``at``: when it happened (time.time(); default now)."""
    print(f"{PREFIX} {kind} {what} ms={ms:.1f} at={time.time() if at is None else at:.3f}", file=sys.stderr,
          flush=True)


def mark(what: str, at: float | None = None) -> None:
    """A moment (``livedocs-timing mark WHAT ms=0.0 at=...``) when ``LIVEDOCS_DEBUG`` is set, e.g. when a
    run's tiles were sent, for benchmarks/app_speed.py to split a browser's wait into server and browser."""
    if enabled():
        emit("mark", what, 0.0, at)


@contextlib.contextmanager
def timed(kind: str, what: str) -> Iterator[None]:
    """Time the block and log it when ``LIVEDOCS_DEBUG`` is set."""
    if not enabled():
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        emit(kind, what, (time.perf_counter() - start) * 1000)


class TimedStore:
    """The store with every public method call timed (used only when ``LIVEDOCS_DEBUG`` is set)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if name.startswith("_") or not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            with timed("store", name):
                return value(*args, **kwargs)

        return call


__all__ = ["PREFIX", "TimedStore", "emit", "enabled", "mark", "timed"]
