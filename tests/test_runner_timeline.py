"""A run's writes around its cells (livedocs_runner/execute.py): the record says ``running`` (with the run's start)
before any cell runs; a failing ``running`` write raises, with nothing run and any kernel released; the kernel's
release is over when ``execute_run`` returns; output.ipynb is saved right after the first cell (what a watcher of a
long run sees first, and what `rerun`'s Ctrl-C test waits for), then again after a cell a second later. Real
kernels, real SQLite."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner.errors import StoreError
from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.kernels import KernelRequest
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions, WarmPool
from livedocs_runner.records.store import RunRecord, Store
from tests.conftest import write_notebook

pytestmark = pytest.mark.kernel

OPTIONS = RunOptions(report=False, use_cache=False, timeout=60)


class Watched:
    """A kernel source noting, under a lock, what was acquired and when each release was over."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.lock = threading.Lock()
        self.acquired: list[Any] = []
        self.released: list[Any] = []

    def acquire(self, request: KernelRequest) -> Any:
        km = self.source.acquire(request)
        with self.lock:
            self.acquired.append(km)
        return km

    def release(self, km: Any) -> None:
        self.source.release(km)
        with self.lock:
            self.released.append(km)


@pytest.fixture(scope="module")
def pool() -> Any:
    with WarmPool(PoolOptions(size=1)) as source:
        yield source


def outputs_text(record: RunRecord) -> list[str]:
    nb = nbformat.read(record.output_notebook, as_version=4)
    return ["".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def test_cells_run_after_the_record_says_running_and_output_is_saved_while_they_run(pool: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    runs = repr(str(home / "runs"))
    notebook = write_notebook(tmp_path / "nb" / "timeline.ipynb", [
        f"import glob, sqlite3, time\ndb = sqlite3.connect({repr(str(home / 'runs.db'))})\n"
        "print([tuple(r) for r in db.execute('SELECT status, started_at IS NOT NULL, cache_key IS NOT NULL FROM runs')])",
        f"print('saved', bool(glob.glob({runs} + '/*/output.ipynb')))",  # not yet: a second after the first cell
        "time.sleep(1.5)",  # saved a second after the first cell started: during this cell
        f"print('later save', 'saved False' in open(glob.glob({runs} + '/*/output.ipynb')[0]).read())",
    ])
    source = Watched(pool)
    record = execute_run(plan_runs(notebook)[0], Store(home), options=OPTIONS, kernels=source)
    assert record.status == "succeeded", record.error
    assert outputs_text(record) == ["[('running', 1, 1)]\n", "saved False\n", "later save True\n"]
    assert source.released == source.acquired and len(source.acquired) == 1  # released before execute_run returned
    assert Store(home).get(record.id).status == "succeeded"


class RefusingRunning(Store):
    """The real store, whose ``running`` write fails (a full disk, a lost lock)."""

    def update(self, record: RunRecord, **changes: Any) -> RunRecord:
        if changes.get("status") == "running":
            raise StoreError("runs.db: database or disk is full.")
        return super().update(record, **changes)


def test_a_failed_running_write_raises_runs_nothing_and_releases_the_kernel(pool: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    notebook = write_notebook(tmp_path / "nb" / "marks.ipynb", [f"open({repr(str(marker))}, 'w').close()"])
    source = Watched(pool)
    with pytest.raises(StoreError, match="disk is full"):
        execute_run(plan_runs(notebook)[0], RefusingRunning(tmp_path / "home"), options=OPTIONS, kernels=source)
    assert not marker.exists()
    assert source.released == source.acquired
