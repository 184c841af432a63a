"""The durable queue under faults, with real processes: `livedocs worker`s and `livedocs app` killed, restarted and
racing on one store. Every run is counted twice: its record, and its executions (the test notebook appends its
``tag`` to a log file in its first cell), so a run lost or run twice shows."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from livedocs_runner.execute import RunOptions
from livedocs_runner.records.store import FINAL, Store, open_store
from livedocs_runner.submit import enqueue
from tests.conftest import CLI, CONFIGS, DATA, cli_env, until
from tests.store_backends import Backend, backend, pg_server  # noqa: F401 (fixtures: SQLite and PostgreSQL)
from tests.test_browser import free_port, processes_with_home
from tests.test_worker import appends, plan

pytestmark = pytest.mark.kernel

HEARTBEAT = "1"  # seconds: a dead worker's run is found lost after 3 x this (not less: a busy CI machine)
ANA = RunOptions(trigger="cli", user="ana", report=False)
BOB = RunOptions(trigger="cli", user="bob", report=False)


class Processes:
    """Processes started by a test, each in its own session; all of them, and every process (kernels
    included) that names the test's store, are killed at the end."""

    def __init__(self, home: Path, logs: Path, db: str | None = None) -> None:
        self.home, self.logs = home, logs
        self.env = {"LIVEDOCS_HEARTBEAT_S": HEARTBEAT, **({"LIVEDOCS_DB": db} if db else {})}
        self.started: list[subprocess.Popen] = []

    def start(self, *args: str | Path, name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "a")
        proc = subprocess.Popen([*CLI, *map(str, args)], cwd=DATA, env=cli_env(self.home, self.env),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.started.append(proc)
        return proc

    def worker(self, *args: str, name: str = "worker") -> subprocess.Popen:
        return self.start("worker", "--grace", "0", *args, name=name)

    def app(self, *args: str, name: str = "app") -> subprocess.Popen:
        return self.start("app", "--configs", CONFIGS, "--port", str(free_port()), *args, name=name)

    def kill9(self, proc: subprocess.Popen) -> None:
        """kill -9 the process and everything below it (its kernels live in sessions of their own)."""
        tree = _descendants(proc.pid)
        for pid in [proc.pid, *tree]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                self.kill9(proc)
        for pid in processes_with_home(self.home):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return []


@pytest.fixture
def setup(tmp_path, backend: Backend):
    """(store, notebook, executions log, processes) on the backend under test: the test process and every
    livedocs process it starts open the same store (SQLite in the home, or a PostgreSQL database)."""
    home = (tmp_path / "home").resolve()
    store = open_store(home, backend.url)
    processes = Processes(home, tmp_path, backend.url)
    yield store, appends(tmp_path / "nb"), tmp_path / "executions.txt", processes
    processes.close()


def executions(log: Path) -> Counter:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def statuses(store: Store, records) -> list[str]:
    return [store.get(r.id).status for r in records]


def test_app_restart_loses_no_run_and_runs_none_twice(setup):
    """10 queued and 2 running when the app dies (kill -9): after a restart the 10 run, the 2 that had started
    a cell end failed/WorkerLost (not run again), and a run claimed by a worker that died before its first
    cell is requeued and runs once."""
    store, notebook, log, processes = setup
    started = [enqueue(plan(notebook, log, f"long{n}", seconds=600), store, ANA) for n in range(2)]
    app = processes.app("--workers", "2")
    until(lambda: sorted(executions(log)) == ["long0", "long1"], "the two long runs' first cells")
    queued = [enqueue(plan(notebook, log, f"queued{n}"), store, ANA if n % 2 else BOB) for n in range(10)]
    assert statuses(store, started) == ["running"] * 2 and statuses(store, queued) == ["queued"] * 10
    processes.kill9(app)
    ghost = store.claim("gone-host:1:1")  # a worker that died right after claiming, before the first cell
    assert ghost is not None and ghost.record.id in {r.id for r in queued}

    processes.app("--workers", "2", name="app-again")  # nobody opens a page: the app's worker starts with it
    until(lambda: all(s in FINAL for s in statuses(store, started + queued)), "every run to end", timeout=240)
    for record in started:
        final = store.get(record.id)
        assert (final.status, final.error["ename"]) == ("failed", "WorkerLost")
    assert statuses(store, queued) == ["succeeded"] * 10
    assert executions(log) == Counter({r.parameters["tag"]: 1 for r in started + queued})  # each exactly once
    assert len(store.list(limit=None)) == 12  # no record made twice


def test_kill_9_worker_mid_run_fails_it_with_worker_lost_and_another_worker_goes_on(setup):
    store, notebook, log, processes = setup
    doomed = enqueue(plan(notebook, log, "doomed", seconds=600), store, ANA)
    first = processes.worker(name="first")
    until(lambda: executions(log) == Counter(["doomed"]), "the run's first cell")
    after = [enqueue(plan(notebook, log, f"after{n}"), store, ANA) for n in range(2)]
    processes.kill9(first)
    assert store.get(doomed.id).status == "running"  # until someone sees its heartbeat is old
    processes.worker(name="second")
    until(lambda: store.get(doomed.id).status in FINAL, "the lost run to be found")
    lost = store.get(doomed.id)
    assert (lost.status, lost.error["ename"]) == ("failed", "WorkerLost")
    until(lambda: statuses(store, after) == ["succeeded"] * 2, "the next queued runs on the other worker")
    assert executions(log) == Counter(["doomed", "after0", "after1"])
    until(lambda: f"! {doomed.id}" in processes.log("second"), "the worker that found it to say so")


def test_two_workers_racing_on_50_queued_runs_execute_each_once(setup):
    store, notebook, log, processes = setup
    runs = [enqueue(plan(notebook, log, f"r{n:02d}"), store, ANA if n % 3 else BOB) for n in range(50)]
    one, two = processes.worker("--workers", "2", name="one"), processes.worker("--workers", "2", name="two")
    until(lambda: all(s in FINAL for s in statuses(store, runs)), "all 50 runs", timeout=300)
    assert statuses(store, runs) == ["succeeded"] * 50
    assert executions(log) == Counter({f"r{n:02d}": 1 for n in range(50)})
    ran_on = Counter(store.get(r.id).environment["pid"] for r in runs)
    assert set(ran_on) == {one.pid, two.pid}  # both took part


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the fair order on both: tests/test_queue_store.py
def test_the_queue_is_fair_between_users_and_a_stopped_worker_leaves_queued_runs_queued(setup):
    """One user's sweep does not starve another's single run; SIGTERM stops a worker cleanly."""
    store, notebook, log, processes = setup
    sweep = [enqueue(plan(notebook, log, f"ana{n}", seconds=0.2 if n < 3 else 600), store, ANA) for n in range(8)]
    single = enqueue(plan(notebook, log, "bob"), store, BOB)
    assert store.queue_place(sweep[0].id) == 1 and store.queue_place(single.id) == 2  # not 9: ahead of ana's 2nd
    worker = processes.worker("--workers", "2")  # with ana's first run on one slot, bob's comes next on the other
    until(lambda: store.get(single.id).status == "succeeded", "bob's run")
    order = log.read_text().split()
    assert order.index("bob") <= 1  # at most one of ana's eight started before it
    until(lambda: "ana3" in executions(log), "a long run of the sweep to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    after = statuses(store, sweep)
    assert "running" not in after and "queued" in after  # every record final or still queued for the next worker
    assert Counter(order)["bob"] == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_restarted_under_a_running_worker(setup, pg_server):
    """The worker's heartbeats and claims fail while the server is down; it carries on once it is back: the run
    it was executing is recorded, and the next queued run is claimed."""
    store, notebook, log, processes = setup
    during = enqueue(plan(notebook, log, "during", seconds=4), store, ANA)
    processes.worker(name="worker")
    until(lambda: executions(log) == Counter(["during"]), "the run's first cell")
    pg_server.restart()
    after = enqueue(plan(notebook, log, "after"), store, ANA)
    until(lambda: statuses(store, [during, after]) == ["succeeded"] * 2, "both runs, after the restart")
    assert executions(log) == Counter(["during", "after"])
