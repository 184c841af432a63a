"""Every asyncio loop a batch's threads make is closed by the batch, not left to the garbage collector.

A loop left to the collector can be finalised after its own self-pipe socket and then prints
"Exception ignored in: BaseEventLoop.__del__ ... Invalid file descriptor: -1" at the end of a CLI batch.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedocs_runner.batch import run_batch
from livedocs_runner.eventloops import close_thread_loop, closing_loop
from livedocs_runner.execute import RunOptions
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store
from tests.conftest import CONFIGS


def open_loops() -> set[int]:
    """Open loops anywhere in the process, reachable or only waiting for the collector."""
    return {id(o) for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed()}


@pytest.fixture
def no_collection() -> Iterator[None]:
    gc.collect()
    gc.disable()  # nothing is finalised behind the test's back: an unclosed loop stays visible
    try:
        yield
    finally:
        gc.enable()


def in_thread(task: object) -> None:
    thread = threading.Thread(target=task)
    thread.start()
    thread.join()


def test_closing_loop_closes_the_loop_its_thread_made(no_collection: None) -> None:
    before = open_loops()
    in_thread(lambda: asyncio.set_event_loop(asyncio.new_event_loop()))
    leaked = open_loops() - before
    assert len(leaked) == 1  # the control: a thread's loop outlives the thread unless someone closes it

    def work() -> int:
        asyncio.set_event_loop(asyncio.new_event_loop())
        return 1

    in_thread(closing_loop(work))
    assert open_loops() - before == leaked
    in_thread(close_thread_loop)  # a thread that never made a loop: nothing to do, no error


@pytest.mark.kernel
@pytest.mark.parametrize("workers", [1, 2])
def test_a_batch_leaves_no_open_event_loop(tmp_path: Path, no_collection: None, workers: int) -> None:
    plans = plan_runs(CONFIGS / "simple.yaml", scenarios=["one", "two"])
    before = open_loops()
    records = run_batch(plans, Store(tmp_path / "home"), options=RunOptions(use_cache=False, report=False),
                        workers=workers)
    assert [r.status for r in records] == ["succeeded", "succeeded"]
    assert open_loops() - before == set()
