"""Dask on the PostgreSQL store: a real two-worker LocalCluster whose workers open the store by its URL and write
their records to the same PostgreSQL database (run files in the shared home folder; no SQLite file anywhere)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedocs_runner.dask_executor import run_on_dask
from livedocs_runner.execute import RunOptions
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import open_store
from tests.conftest import CONFIGS
from tests.pg_fixture import pg_server  # noqa: F401  (fixture)

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.dask, pytest.mark.kernel,
              pytest.mark.filterwarnings("ignore::UserWarning"),  # distributed's port/heartbeat chatter
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        yield local


def test_workers_record_into_the_postgresql_store(cluster: object, tmp_path: Path, pg_server) -> None:
    url = pg_server.new_database()
    store = open_store(tmp_path / "shared", url)
    plans = plan_runs(CONFIGS / "simple.yaml")
    records = run_on_dask(plans, store, scheduler=cluster, options=RunOptions(report=False, use_cache=False))
    assert {r.status for r in records} == {"succeeded"}
    assert {r.metrics["total"] for r in records} == {3.5, 4.5, 5.5}
    again = open_store(tmp_path / "shared", url)  # what any other process on the store reads
    for record in records:
        stored = again.get(record.id)
        assert stored.status == "succeeded" and stored.metrics == record.metrics
        assert Path(stored.output_notebook).is_file() and Path(stored.output_notebook).parent == store.run_dir(record.id)
        assert stored.environment["pid"] != os.getpid()  # executed on a worker
    assert len({again.get(r.id).environment["pid"] for r in records}) >= 1
    assert not (tmp_path / "shared" / "runs.db").exists()
