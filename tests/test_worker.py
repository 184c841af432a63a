"""The queue worker in this process, with real kernels and the real store: claim, run, heartbeat with live
progress, cancel through the store, clean stop; the job payload; `livedocs run --queue` and `livedocs cancel`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livedocs_runner.errors import InputError, RunNotFound
from livedocs_runner.execute import RunOptions
from livedocs_runner.kernels import FreshKernels
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import FINAL, Store
from livedocs_runner.submit import cancel, enqueue, job_payload, plan_from_job
from livedocs_runner.worker import Worker, heartbeat_seconds
from tests.conftest import CONFIGS, NOTEBOOKS, until, write_notebook

QUIET = RunOptions(trigger="app", user="ana", report=False)
WAIT = 180


def appends(folder: Path) -> Path:
    """A notebook that appends its ``tag`` to the file ``log`` in its first cell, then sleeps ``seconds``."""
    return write_notebook(folder / "appends.ipynb", [
        ('log = ""\ntag = ""\nseconds = 0.0', ["parameters"]),
        'with open(log, "a") as handle:\n    handle.write(tag + "\\n")',
        "import time\ntime.sleep(seconds)",
    ])


def plan(notebook: Path, log: Path, tag: str, seconds: float = 0.0):
    return plan_runs(notebook, overrides={"log": str(log), "tag": tag, "seconds": str(seconds)})[0]


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "home")


@pytest.fixture
def workers(store):
    started: list[Worker] = []

    def start(**kwargs) -> Worker:
        worker = Worker(store, kernels=kwargs.pop("kernels", FreshKernels()), heartbeat_s=kwargs.pop("heartbeat_s", 1.0),
                        poll_s=0.1, **kwargs)
        started.append(worker.start())
        return worker

    yield start
    for worker in started:
        worker.stop(grace=0.0)


# --- the job payload (no kernel) ----------------------------------------------------------------

def test_job_is_json_and_rebuilds_the_same_plan(store, tmp_path):
    original = plan_runs(CONFIGS / "simple.yaml", scenarios=["one"], overrides={"a": "7"})[0]
    options = RunOptions(timeout=12.5, trigger="app", user="ana", report=False, use_cache=False)
    record = enqueue(original, store, options)
    assert record.status == "queued" and store.get(record.id).status == "queued"
    assert "pid" not in record.environment  # the submitter may be gone when it runs: never "abandoned" for that
    job = json.loads(json.dumps(job_payload(original, options)))
    rebuilt, again = plan_from_job(job, record)
    assert again == options
    for field in ("parameters", "scenario", "config", "title", "path_params", "kernel_name", "warm_imports",
                  "rerun_of", "cache", "no_snapshot", "run_id", "rerun_variant", "env_vars", "results"):
        assert getattr(rebuilt, field) == getattr(original, field), field
    assert rebuilt.notebook.path == original.notebook.path.resolve()
    assert rebuilt.notebook.raw == original.notebook.raw  # the copy kept at submission
    assert rebuilt.cwd == original.cwd


def test_a_job_from_another_version_or_without_its_notebook_copy_is_refused(store, tmp_path):
    from livedocs_runner.submit import BadJob

    original = plan_runs(CONFIGS / "simple.yaml", scenarios=["one"])[0]
    record = enqueue(original, store, QUIET)
    job = job_payload(original, QUIET)
    with pytest.raises(BadJob, match="version 99"):
        plan_from_job({**job, "version": 99}, record)
    Path(record.notebook_copy).unlink()
    with pytest.raises(BadJob, match="notebook copy"):
        plan_from_job(job, record)


@pytest.mark.parametrize(("value", "expected"), [("", 5.0), ("0.5", 0.5), (" 2 ", 2.0)])
def test_heartbeat_setting(value, expected):
    assert heartbeat_seconds({"LIVEDOCS_HEARTBEAT_S": value}) == expected


@pytest.mark.parametrize("value", ["fast", "0", "-1", "nan", "1e9"])
def test_bad_heartbeat_setting_is_refused_with_the_fix(value):
    with pytest.raises(InputError, match=r"LIVEDOCS_HEARTBEAT_S=.* is not a number of seconds") as caught:
        heartbeat_seconds({"LIVEDOCS_HEARTBEAT_S": value})
    assert "LIVEDOCS_HEARTBEAT_S=5" in caught.value.hint


def test_cancel_of_a_queued_run_and_of_runs_that_cannot_be_cancelled(store):
    record = enqueue(plan_runs(CONFIGS / "simple.yaml", scenarios=["one"])[0], store, QUIET)
    assert cancel(store, record.id[:8]).status == "cancelled"
    assert store.get(record.id).started_at is None
    with pytest.raises(RunNotFound, match="already ended"):
        cancel(store, record.id)
    with pytest.raises(RunNotFound):
        cancel(store, "fff000fff000")


# --- a worker with real kernels -------------------------------------------------------------------

@pytest.mark.kernel
def test_worker_runs_queued_runs_with_live_progress_in_the_store(store, workers, tmp_path):
    notebook, log = appends(tmp_path / "nb"), tmp_path / "log.txt"
    slow = enqueue(plan(notebook, log, "slow", seconds=600), store, QUIET)
    quick = enqueue(plan(notebook, log, "quick"), store, QUIET)
    assert store.queue_place(slow.id) == 1 and store.queue_place(quick.id) == 2
    events: list[tuple[str, str]] = []
    worker = workers(slots=1, on_event=lambda kind, record: events.append((kind, record.id)))
    live = until(lambda: (p := store.progress(slow.id)) and p.cells and p.cell == p.cells and p, "progress in the store")
    assert (live.cell, live.cells, live.worker) == (3, 3, f"{worker.name}:1")  # the analyst's three code cells
    assert store.get(slow.id).status == "running" and store.queue_place(quick.id) == 1
    first_beat = live.heartbeat_at
    until(lambda: store.progress(slow.id).heartbeat_at != first_beat, "a later heartbeat")

    store.request_cancel(slow.id)  # as `livedocs cancel` from anywhere: it comes back with the heartbeat
    until(lambda: store.get(slow.id).status in FINAL, "the cancel to reach the worker")
    assert store.get(slow.id).status == "cancelled" and store.get(slow.id).error["ename"] == "Cancelled"
    until(lambda: store.get(quick.id).status == "succeeded", "the next queued run")
    assert log.read_text().split() == ["slow", "quick"]
    until(lambda: ("finished", quick.id) in events, "the finished event")
    assert events[:2] == [("started", slow.id), ("finished", slow.id)]


@pytest.mark.kernel
def test_only_runs_of_matching_notebooks_are_claimed(store, workers, tmp_path):
    notebook, log = appends(tmp_path / "nb"), tmp_path / "log.txt"
    other = enqueue(plan_runs(CONFIGS / "simple.yaml", scenarios=["one"])[0], store, QUIET)
    mine = enqueue(plan(notebook, log, "mine"), store, QUIET)
    workers(slots=1, notebooks="append*.ipynb")
    until(lambda: store.get(mine.id).status == "succeeded", "the matching run")
    assert store.get(other.id).status == "queued"


@pytest.mark.kernel
def test_a_bad_job_fails_its_run_and_the_worker_goes_on(store, workers, tmp_path):
    notebook, log = appends(tmp_path / "nb"), tmp_path / "log.txt"
    broken = enqueue(plan(notebook, log, "broken"), store, QUIET)
    Path(broken.notebook_copy).unlink()  # as if the worker did not share the home folder
    fine = enqueue(plan_runs(CONFIGS / "simple.yaml", scenarios=["one"])[0], store, QUIET)
    workers(slots=1)
    until(lambda: store.get(fine.id).status == "succeeded", "the run after the bad one")
    failed = store.get(broken.id)
    assert failed.status == "failed" and failed.error["ename"] == "BadJob"
    assert "notebook copy" in failed.error["evalue"]


@pytest.mark.kernel
def test_stop_cancels_running_runs_and_leaves_queued_ones_queued(store, workers, tmp_path):
    notebook, log = appends(tmp_path / "nb"), tmp_path / "log.txt"
    running = enqueue(plan(notebook, log, "running", seconds=600), store, QUIET)
    waiting = enqueue(plan(notebook, log, "waiting"), store, QUIET)
    worker = workers(slots=1)
    until(lambda: log.exists() and "running" in log.read_text(), "the first run's first cell")
    worker.stop(grace=0.0)
    assert store.get(running.id).status == "cancelled"  # final, never left running
    assert store.get(waiting.id).status == "queued" and store.queue_place(waiting.id) == 1
    again = workers(slots=1)  # the next worker (an app restart) runs it
    until(lambda: store.get(waiting.id).status == "succeeded", "the queued run on the next worker")
    assert log.read_text().split() == ["running", "waiting"]
    assert again.wait_idle(timeout=WAIT) and again.running_ids() == []  # its slot lets go right after recording it


# --- the CLI ----------------------------------------------------------------------------------------

def test_run_queue_prints_ids_and_places_and_cancel_cancels(run_cli, home):
    queued = run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "-s", "two", "--queue")
    assert queued.code == 0, queued.stderr
    lines = [line.split() for line in queued.stdout.splitlines()[1:]]
    assert [(words[1], words[2:]) for words in lines] == [("one", ["place", "1"]), ("two", ["place", "2"])]
    store = Store(home)
    first, second = (store.get(words[0]) for words in lines)
    assert (first.status, first.trigger, first.user) == ("queued", "cli", "tester")
    done = run_cli("cancel", first.id)
    assert done.code == 0 and f"Cancelled {first.id}" in done.stdout
    assert store.get(first.id).status == "cancelled" and store.queue_place(second.id) == 1
    again = run_cli("cancel", first.id)
    assert again.code == 2 and f"run {first.id} has already ended (cancelled)" in again.stderr
    assert run_cli("cancel", "abcdef").code == 2
    listed = run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--queue", "--json")
    assert listed.code == 0 and listed.json()[0]["place"] == 2 and listed.json()[0]["status"] == "queued"


def test_run_queue_refuses_bad_input_before_queueing(run_cli, home):
    bad = run_cli("run", CONFIGS / "simple.yaml", "-p", "a=notanumber", "--queue")
    assert bad.code == 2
    dask = run_cli("run", CONFIGS / "simple.yaml", "--queue", "--executor", "dask", "--scheduler", "tcp://x:1")
    assert dask.code == 2 and "--queue and --executor dask" in dask.stderr
    assert not (home / "runs.db").exists() or Store(home).list() == []


def test_worker_refuses_a_bad_heartbeat_setting(run_cli):
    done = run_cli("worker", env={"LIVEDOCS_HEARTBEAT_S": "soon"})
    assert done.code == 2 and "LIVEDOCS_HEARTBEAT_S='soon'" in done.stderr


def test_cancel_of_a_run_outside_the_queue_says_where_to_stop_it(run_cli, home, tmp_path):
    from livedocs_runner.execute import new_record

    record = new_record(plan_runs(NOTEBOOKS / "simple.ipynb")[0], Store(home), RunOptions())  # as `livedocs run`
    done = run_cli("cancel", record.id)
    assert done.code == 2 and "outside the queue" in done.stderr and "Ctrl-C" in done.stderr


def test_the_worker_is_core_code():
    """worker, submit and jobs load neither the CLI library nor the UI (STYLE.md's dependency direction)."""
    from tests.test_architecture import loaded_after, top_level

    modules = loaded_after("import livedocs_runner.worker, livedocs_runner.submit, livedocs_runner.jobs")
    assert {"streamlit", "click"} & top_level(modules) == set()
    assert not any(m.startswith("livedocs_runner.cli") for m in modules)


def test_app_command_without_a_worker_and_with_a_store_url(tmp_path):
    from livedocs_runner.cli.app import APP_SCRIPT, app_command

    _, env = app_command(APP_SCRIPT, configs=CONFIGS, home=tmp_path, port=9000, workers=2, worker=False,
                         db="postgresql://livedocs@db.example/livedocs")
    assert (env["LIVEDOCS_APP_WORKER"], env["LIVEDOCS_DB"]) == ("0", "postgresql://livedocs@db.example/livedocs")
    _, env = app_command(APP_SCRIPT, configs=CONFIGS, home=tmp_path, port=9000, workers=2)
    assert env["LIVEDOCS_APP_WORKER"] == "1"


def test_a_requeued_run_is_not_abandoned_for_its_dead_workers_pid(store):
    """A worker that died after starting a run's set-up (its pid recorded) but before the first cell: the run is
    requeued, and `livedocs runs` (store.abandon_stale) must not cancel it for that dead pid."""
    import platform

    record = enqueue(plan_runs(CONFIGS / "simple.yaml", scenarios=["one"])[0], store, QUIET)
    claimed = store.claim("gone-host:1:1")
    store.update(claimed.record, environment={"hostname": platform.node(), "pid": 2 ** 22 + 7})  # a dead pid
    worker = Worker(store, kernels=FreshKernels(), heartbeat_s=0.05, poll_s=3600)  # finds it lost, claims nothing
    until(lambda: worker._recover() or store.get(record.id).status == "queued", "its heartbeat to be old")
    store.abandon_stale()
    assert store.get(record.id).status == "queued"
