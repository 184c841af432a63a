"""Close the asyncio loops jupyter's ``run_sync`` makes per thread, instead of leaving them to the collector.

jupyter_core's ``run_sync`` (used by jupyter_client and nbclient) gives every thread that calls it its own
event loop and never closes it. A loop left to the garbage collector sits in one reference cycle with its
self-pipe socket; when the socket happens to be finalised first, the loop's ``__del__`` prints
"Exception ignored in: BaseEventLoop.__del__ ... Invalid file descriptor: -1" on the user's terminal.
Every thread that runs kernels calls :func:`close_thread_loop` when its task ends (:func:`closing_loop`).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def close_thread_loop() -> None:
    """Close this thread's event loop if it is idle; the next ``run_sync`` in this thread makes a new one."""
    import asyncio  # here: ~14 ms, not on a cache hit's path

    policy = asyncio.get_event_loop_policy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: an implicit main-thread loop is deprecated
            loop = policy.get_event_loop()
    except RuntimeError:  # a worker thread that never made a loop
        return
    if loop.is_running():
        return
    if not loop.is_closed():
        loop.close()
    policy.set_event_loop(None)


def closing_loop(task: Callable[P, T]) -> Callable[P, T]:
    """``task``, closing the calling thread's event loop when it returns or raises (for thread entry points)."""

    @functools.wraps(task)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return task(*args, **kwargs)
        finally:
            close_thread_loop()

    return run
