"""Where the runner's CPU goes per run (issue 12): a batch of the speed benchmark's notebook run in this process,
the runner's steps timed with their thread's CPU clock. Prints a table; never asserts.

    python benchmarks/runner_cpu.py [N] [--report]     # N scenarios (default 120), 2 workers, no report unless asked

Each step's CPU is counted on the thread that runs it (``time.thread_time``), so the rows of different threads add
up to the process's CPU (the first row) minus what no step covers: the batch's main thread, zmq's I/O thread, the
garbage collector (its own row, counted on whichever thread it interrupts) and thread starts. Steps nest (``run
thread`` holds ``execute``, which holds ``nbclient cells`` ...): read the indented rows as parts of the row above.
The wrappers add a few microseconds a call.
"""

from __future__ import annotations

import functools
import gc
import inspect
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from speed import bench_notebook, sweep

CPU: Counter[str] = Counter()
CALLS: Counter[str] = Counter()
_depth = threading.local()


def timed(owner: Any, name: str, label: str) -> None:
    """Count the thread CPU of ``owner.name`` (outermost call only) under ``label``."""
    original = getattr(owner, name)
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return await original(*args, **kwargs)
            finally:
                CPU[label] += time.thread_time() - start
                CALLS[label] += 1
        setattr(owner, name, run_async)
        return

    @functools.wraps(original)
    def run(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, label, 0)
        setattr(_depth, label, depth + 1)
        start = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            setattr(_depth, label, depth)
            if depth == 0:
                CPU[label] += time.thread_time() - start
                CALLS[label] += 1
    setattr(owner, name, run)


def count_gc() -> Callable[[str, dict[str, Any]], None]:
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        else:
            CPU["garbage collector"] += time.thread_time() - started[0]
            CALLS["garbage collector"] += 1
    gc.callbacks.append(callback)
    return callback


ROWS = [  # (label, indent, owner path, attribute)
    ("run thread (run_one)", 0, "livedocs_runner.batch", "run_one"),
    ("prepare (hashes, environment)", 1, "livedocs_runner.batch", "start_changes"),
    ("execute (_Execution.run)", 1, "livedocs_runner.execute:_Execution", "run"),
    ("parameterize", 2, "livedocs_runner.inject", "parameterize"),
    ("record running (store.update)", 2, None, None),
    ("acquire", 2, "livedocs_runner.pool:WarmPool", "acquire"),
    ("nbclient: connect + kernel_info", 2, "nbclient.client:NotebookClient", "async_start_new_kernel_client"),
    ("nbclient: cells (every message)", 2, "nbclient.client:NotebookClient", "async_execute_cell"),
    ("release (kill the process tree)", 2, "livedocs_runner.pool:WarmPool", "release"),
    ("finish (outputs, record)", 2, "livedocs_runner.execute:_Execution", "_finish"),
    ("save output.ipynb", 3, "livedocs_runner.execute:_Execution", "_save"),
    ("figures, metrics.json", 3, "livedocs_runner.execute", "collect_outputs"),
    ("HTML report", 3, "livedocs_runner.report", "write_report"),
    ("record final (store.update)", 3, "livedocs_runner.execute:_Execution", "_record_final"),
    ("pool thread: start the next kernel", 0, "livedocs_runner.pool:WarmPool", "_warm"),
    ("stopper thread: clean up a used kernel", 0, "livedocs_runner.pool", "stop_kernel"),
    ("garbage collector", 0, None, None),
]


def instrument() -> None:
    import importlib

    for label, _, where, attribute in ROWS:
        if where is None:
            continue
        module, _, cls = where.partition(":")
        owner = importlib.import_module(module)
        timed(getattr(owner, cls) if cls else owner, attribute, label)
    from livedocs_runner.records.store import Store

    update = Store.update

    def counted_update(self: Store, record: Any, **changes: Any) -> Any:
        start = time.thread_time()
        try:
            return update(self, record, **changes)
        finally:
            if changes.get("status") == "running":
                CPU["record running (store.update)"] += time.thread_time() - start
                CALLS["record running (store.update)"] += 1
    Store.update = counted_update  # type: ignore[method-assign]
    count_gc()


def main(argv: list[str]) -> None:
    n = int(next((a for a in argv if a.isdigit()), "120"))
    report = "--report" in argv
    instrument()
    from livedocs_runner._gc import collect_less_often
    from livedocs_runner.batch import run_batch
    from livedocs_runner.execute import RunOptions
    from livedocs_runner.plan import plan_runs
    from livedocs_runner.records.store import Store

    collect_less_often()  # as the CLI's process collects (livedocs_runner/cli)
    with tempfile.TemporaryDirectory(prefix="livedocs-runner-cpu-") as tmp:
        folder = Path(tmp)
        plans = plan_runs(sweep(folder, bench_notebook(folder), n))
        load = os.getloadavg()[0]
        before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        records = run_batch(plans, Store(folder / "home"), options=RunOptions(report=report, use_cache=False),
                            workers=2)
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - wall
    failed = [r for r in records if r.status != "succeeded"]
    if failed:
        raise SystemExit(f"{len(failed)} run(s) did not succeed: {failed[0].error}")
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    print(f"{n}-scenario batch of the speed benchmark's notebook, 2 workers, report {'on' if report else 'off'}, "
          f"in this process; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("| runner CPU per run (thread CPU clock)         | ms     | calls |")
    print("|-----------------------------------------------|--------|-------|")
    print(f"| {'process (user + system)':<45} | {(user + system) / n * 1000:6.2f} |       |")
    print(f"| {'  of which system (syscalls, fsync, /proc)':<45} | {system / n * 1000:6.2f} |       |")
    for label, indent, _, _ in ROWS:
        if CALLS[label]:
            print(f"| {'  ' * indent + label:<45} | {CPU[label] / n * 1000:6.2f} | {CALLS[label]:5d} |")
    print(f"wall per run {wall / n * 1000:.0f} ms")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main(sys.argv[1:])
