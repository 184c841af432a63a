"""Runs on a Dask cluster (a real two-worker LocalCluster): records and artifacts land in the same
store as local runs, the cache is shared, and a missing ``distributed`` or scheduler is a clear error; on the
PostgreSQL store the workers open it by its URL and write their records there (no SQLite file anywhere)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from livedocs_runner.dask_executor import run_on_dask
from livedocs_runner.execute import RunOptions
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store, open_store

from .conftest import CONFIGS, CliResult, run_records
from .pg_fixture import pg_server  # noqa: F401  (fixture)

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.dask, pytest.mark.kernel,
              pytest.mark.filterwarnings("ignore::UserWarning"),  # distributed's port/heartbeat chatter
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        yield local


def test_scenarios_run_on_workers_into_the_shared_store(cluster: object, tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    plans = plan_runs(CONFIGS / "simple.yaml")
    records = run_on_dask(plans, store, scheduler=cluster, options=RunOptions(report=False, use_cache=False))
    assert [r.scenario for r in records] == [p.scenario for p in plans]
    assert {r.status for r in records} == {"succeeded"}
    for record in records:
        stored = store.get(record.id)
        assert stored.status == "succeeded" and stored.metrics == record.metrics
        assert Path(stored.output_notebook).is_file()
        assert Path(stored.output_notebook).parent == store.run_dir(record.id)
    assert {r.metrics["total"] for r in records} == {3.5, 4.5, 5.5}
    hosts = {store.get(r.id).environment["pid"] for r in records}
    assert len(hosts) >= 1 and all(pid != __import__("os").getpid() for pid in hosts)  # executed on workers


def test_cli_executor_dask_and_shared_cache(cluster: object, run_cli: Callable[..., CliResult], home: Path) -> None:
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    local = run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json")
    assert local.code == 0, local.stderr
    result = run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "-s", "two", "--executor", "dask",
                     "--scheduler", address, "--json")
    assert result.code == 0, result.stderr
    one, two = result.json()
    assert one["cache_of"] == local.json()[0]["id"]  # answered from the run made locally
    assert two["status"] == "succeeded" and two["cache_of"] is None and Path(two["report_html"]).is_file()
    assert len(run_records(home)) == 3


def test_dask_needs_a_scheduler(run_cli: Callable[..., CliResult], home: Path) -> None:
    result = run_cli("run", CONFIGS / "simple.yaml", "--executor", "dask")
    assert result.code == 2
    assert "Error: --executor dask needs --scheduler ADDRESS." in result.stderr
    assert run_records(home) == []


def test_missing_distributed_says_how_to_install(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "distributed"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named distributed')\n", encoding="utf-8")
    result = run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--executor", "dask", "--scheduler",
                     "tcp://127.0.0.1:1", env={"PYTHONPATH": str(shadow.parent)})
    assert result.code == 2
    assert "needs dask.distributed" in result.stderr
    assert "pip install 'livedocs-runner[dask]'" in result.stderr


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
