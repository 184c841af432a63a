"""How many times a run's record is written, and that the fewer writes still keep everything: what starting a
run records (input hashes and snapshots, environment, cache key) goes out with the next write (``running``, a
cache answer, or the failure/cancellation that ends it before a kernel), never lost, never a write of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner.batch import run_batch
from livedocs_runner.execute import RunControl, RunOptions, execute_run, new_record
from livedocs_runner.kernels import FreshKernels
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.snapshots import MAX_MB_ENV
from livedocs_runner.records.store import RunRecord, Store

from .conftest import make_path_project, write_notebook


class CountingStore(Store):
    """The real store, noting the fields of every record update it makes."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.updates: list[dict[str, Any]] = []

    def update(self, record: RunRecord, **changes: Any) -> RunRecord:
        self.updates.append(changes)
        return super().update(record, **changes)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_path_project(tmp_path / "project")


def assert_started(record: RunRecord) -> None:
    """What starting a run records: the input's hash (and its snapshot), the environment, the cache key."""
    [data] = record.inputs
    assert data["parameter"] == "data_file" and len(data["sha256"]) == 64
    assert record.environment["kernel"] == "python3" and len(record.environment["environment_id"]) == 64
    assert record.cache_key and len(record.cache_key) == 64


@pytest.mark.kernel
def test_an_executed_run_is_written_twice_after_it_is_queued(project: Path, tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "home")
    [plan] = plan_runs(project)
    record = execute_run(plan, store, options=RunOptions(report=False))
    assert record.status == "succeeded", record.error
    running, final = store.updates  # the start (inputs, environment, cache key, snapshot) rides on `running`
    assert running["status"] == "running" and {"inputs", "environment", "cache_key", "started_at"} <= set(running)
    assert final["status"] == "succeeded"
    stored = Store(tmp_path / "home").get(record.id)
    assert_started(stored)
    assert stored.inputs[0]["snapshot"]  # the input's bytes are kept in the home
    assert stored.metrics == {"rows": 3}
    saved = Path(stored.output_notebook).read_text(encoding="utf-8")  # saved unvalidated, as nbformat writes it
    assert saved == nbformat.writes(nbformat.reads(saved, as_version=4))
    nbformat.validate(nbformat.reads(saved, as_version=4))  # and valid: raises otherwise
    timings = [c.metadata["execution"] for c in nbformat.reads(saved, as_version=4).cells if c.cell_type == "code"]
    # the kernel's message dates (parsed by livedocs_runner._wire) as nbclient records them
    assert timings and all(t["shell.execute_reply"].endswith("Z") and t["iopub.status.busy"] <= t["shell.execute_reply"]
                           for t in timings)


@pytest.mark.kernel
def test_a_cache_hit_is_answered_in_one_write_that_keeps_its_start(project: Path, tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "home")
    [first] = run_batch(plan_runs(project), store)
    assert first.status == "succeeded", first.error
    store.updates.clear()
    [hit] = run_batch(plan_runs(project), store)
    [answer] = store.updates
    assert answer["status"] == "succeeded" and answer["cache_of"] == first.id
    stored = Store(tmp_path / "home").get(hit.id)
    assert_started(stored)
    assert stored.cache_key == first.cache_key and stored.cache_of == first.id


def test_a_run_cancelled_before_its_kernel_keeps_its_start(project: Path, tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "home")
    [plan] = plan_runs(project)
    options = RunOptions(report=False)
    queued = new_record(plan, store, options)
    control = RunControl()
    control.cancel(queued.id)
    record = execute_run(plan, store, options=options, record=queued, control=control)
    assert record.status == "cancelled"
    [cancelled] = store.updates
    assert cancelled["status"] == "cancelled"
    assert_started(Store(tmp_path / "home").get(record.id))


def test_a_run_whose_snapshot_fails_keeps_its_start(project: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store = CountingStore(tmp_path / "home")
    [plan] = plan_runs(project)
    monkeypatch.setenv(MAX_MB_ENV, "lots")  # set after any batch check: the snapshot itself refuses it
    record = execute_run(plan, store, options=RunOptions(report=False))
    assert record.status == "failed" and "is not a number of megabytes" in (record.error or {}).get("evalue", "")
    stored = Store(tmp_path / "home").get(record.id)
    assert_started(stored)
    assert "snapshot" not in stored.inputs[0]


class CountingInserts(CountingStore):
    """The real store, noting how queued records were added: one call each, or all in one transaction."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.adds: list[int] = []

    def add(self, record: RunRecord) -> RunRecord:
        self.adds.append(1)
        return super().add(record)

    def add_all(self, records: list[RunRecord]) -> list[RunRecord]:
        self.adds.append(len(records))
        return super().add_all(records)


def test_a_batch_queues_all_its_runs_in_one_write(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nb.ipynb", [("x = 1", ["parameters"]), "y = x"])
    config = tmp_path / "sweep.yaml"
    config.write_text("notebook: nb.ipynb\nsweeps:\n  s:\n    grid:\n      x: [1, 2, 3]\n", encoding="utf-8")
    store = CountingInserts(tmp_path / "home")
    control = RunControl()
    control.cancel()  # nothing executes: the batch only queues, starts and cancels its runs
    queued: list[str] = []
    records = run_batch(plan_runs(config), store, options=RunOptions(report=False), control=control,
                        kernels=FreshKernels(), on_record=lambda r: queued.append(r.status))
    assert store.adds == [3] and queued == ["queued"] * 3
    assert [r.status for r in records] == ["cancelled"] * 3
    assert [Store(tmp_path / "home").get(r.id).parameters["x"] for r in records] == [1, 2, 3]
    assert all(u["status"] == "cancelled" and "inputs" in u for u in store.updates)
