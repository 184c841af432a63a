"""The app's job queue with real kernels: progress, queue places, cancel, cache, shared records."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from livedocs_runner.errors import RunNotFound
from livedocs_runner.execute import RunOptions, plan_cache_key
from livedocs_runner.jobs import JobQueue, cached_result
from livedocs_runner.kernels import FreshKernels
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store
from tests.conftest import until

pytestmark = pytest.mark.kernel

DATA = Path(__file__).resolve().parent / "data"
APP = RunOptions(trigger="app", user="ana", report=False)
WAIT = 180  # generous: a loaded CI machine starts kernels slowly


def simple_plan(a: int = 1):
    return plan_runs(DATA / "configs" / "simple.yaml", scenarios=["one"], overrides={"a": str(a)})[0]


def slow_plan():
    return plan_runs(DATA / "notebooks" / "slow.ipynb", overrides={"seconds": "600"})[0]




class CountingKernels(FreshKernels):
    """A KernelSource collaborator that counts what the queue asks of it."""

    def __init__(self) -> None:
        super().__init__()
        self.acquired = self.released = 0
        self.lock = threading.Lock()

    def acquire(self, request):
        with self.lock:
            self.acquired += 1
        return super().acquire(request)

    def release(self, km):
        with self.lock:
            self.released += 1
        super().release(km)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "home")


@pytest.fixture
def make_queue(store):
    queues = []

    def make(**kwargs):
        queue = JobQueue(store, **kwargs)
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.shutdown(cancel=True)


def test_submit_records_at_once_and_runs_like_the_cli(store, make_queue):
    kernels = CountingKernels()
    queue = make_queue(workers=1, kernels=kernels)
    job = queue.submit(simple_plan(), APP)
    assert store.get(job).status in ("queued", "running", "succeeded")  # the record exists immediately
    status = queue.wait(job, timeout=WAIT)
    assert status.done and status.status == "succeeded"
    record = store.get(job)
    assert record.metrics == {"total": 3.5}
    assert (record.trigger, record.user, record.scenario) == ("app", "ana", "one")
    assert status.record == record
    assert kernels.acquired == kernels.released == 1
    assert queue.jobs() == [] and not queue.queued_here(job)


def test_queue_places_progress_and_cancel(store, make_queue):
    queue = make_queue(workers=1)
    slow = queue.submit(slow_plan(), APP)
    second = queue.submit(simple_plan(2), APP)
    third = queue.submit(simple_plan(3), APP)
    running = until(lambda: (s := queue.status(slow)).cells and s.cell == s.cells and s, "the slow run to reach its sleep")
    # the analyst's code cells (parameters, sleep): the injected cell is not counted
    assert (running.status, running.cells, running.place) == ("running", 2, None)
    assert queue.status(second).place == 1 and queue.status(third).place == 2
    assert [j.id for j in queue.jobs()] == [slow, second, third]
    assert all(queue.queued_here(j) for j in (slow, second, third)) and not queue.queued_here("0" * 12)
    until(lambda: queue.status(slow).elapsed > running.elapsed, "elapsed time to grow")

    queue.cancel(third)  # waiting: never starts
    assert queue.status(third).status == "cancelled"
    assert store.get(third).started_at is None
    assert queue.status(second).place == 1

    queue.cancel(slow)  # running: its kernel is stopped
    assert queue.wait(slow, timeout=WAIT).status == "cancelled"
    assert store.get(slow).error["ename"] == "Cancelled"
    assert queue.wait(second, timeout=WAIT).status == "succeeded"
    assert store.get(third).status == "cancelled"


def test_workers_run_in_parallel(store, make_queue):
    queue = make_queue(workers=2)
    jobs = [queue.submit(slow_plan(), APP) for _ in range(3)]
    until(lambda: [queue.status(j).status for j in jobs] == ["running", "running", "queued"], "two running, one waiting")
    assert queue.status(jobs[2]).place == 1
    for job in jobs:
        queue.cancel(job)
    assert [queue.wait(j, timeout=WAIT).status for j in jobs] == ["cancelled"] * 3


def test_cached_result_for_identical_inputs(store, make_queue):
    queue = make_queue(workers=1)
    plan = simple_plan(4)
    assert cached_result(plan, store) is None
    first = queue.wait(queue.submit(plan, APP), timeout=WAIT).record
    assert first.cache_key == plan_cache_key(plan)
    assert cached_result(simple_plan(4), store).id == first.id
    assert cached_result(simple_plan(5), store) is None
    again = queue.wait(queue.submit(simple_plan(4), APP), timeout=WAIT).record
    assert again.cache_of == first.id  # shared cache, as in the CLI
    fresh = queue.wait(queue.submit(simple_plan(4), RunOptions(trigger="app", use_cache=False, report=False)),
                       timeout=WAIT).record
    assert fresh.cache_of is None and fresh.status == "succeeded"


def test_failed_run_keeps_the_error(store, make_queue):
    queue = make_queue(workers=1)
    plan = plan_runs(DATA / "notebooks" / "broken.ipynb")[0]
    status = queue.wait(queue.submit(plan, APP), timeout=WAIT)
    assert status.status == "failed"
    assert status.record.error["ename"] == "ZeroDivisionError" and status.record.error["cell"] == 4  # in the executed notebook (with its injected cell)


def test_status_of_runs_from_elsewhere_and_unknown_cancel(store, make_queue):
    queue = make_queue(workers=1)
    other = JobQueue(store, workers=1)
    try:
        job = other.submit(simple_plan(6), APP)
        other.wait(job, timeout=WAIT)
    finally:
        other.shutdown()
    assert queue.status(job).status == "succeeded" and queue.status(job).record is not None
    queue.cancel(job)  # ended already: nothing to do
    assert store.get(job).status == "succeeded"
    with pytest.raises(RunNotFound):
        queue.cancel("fff000fff000")
    with pytest.raises(RunNotFound):
        queue.status("fff000fff000")


def test_shutdown_cancels_running_runs_and_queued_ones_wait_for_the_next_start(store):
    queue = JobQueue(store, workers=1)
    running = queue.submit(slow_plan(), APP)
    waiting = queue.submit(simple_plan(7), APP)
    until(lambda: queue.status(running).status == "running", "the first run to start")
    queue.shutdown(cancel=True)
    assert store.get(running).status == "cancelled"  # final: never left running
    assert store.get(waiting).status == "queued"  # durable: the next app (or any worker) runs it
    with pytest.raises(RuntimeError):
        queue.submit(simple_plan(), APP)
    again = JobQueue(store, workers=1)  # the app started again
    try:
        assert again.wait(waiting, timeout=WAIT).status == "succeeded"
    finally:
        again.shutdown()


def test_a_queue_without_a_worker_follows_and_cancels_runs_of_another_process(store, make_queue):
    """``livedocs app --no-worker``: submissions wait for a worker elsewhere (here another queue's), whose
    progress, place and cancel reach this one through the store."""
    front = make_queue(worker=False)
    assert front.workers == 0
    slow = front.submit(slow_plan(), APP)
    second = front.submit(simple_plan(8), APP)
    assert front.status(slow).place == 1 and front.status(second).place == 2
    front.wait_change(slow, timeout=0.3)  # nothing runs it: returns after the timeout
    assert front.status(slow).status == "queued"
    back = make_queue(workers=1, heartbeat_s=1.0)  # the worker process
    running = until(lambda: (s := front.status(slow)).cells and s.cell == s.cells and s, "progress through the store")
    assert running.status == "running" and front.status(second).place == 1
    assert [j.id for j in front.jobs()] == [slow, second]
    front.cancel(slow)  # reaches the worker with its next heartbeat
    assert front.wait(slow, timeout=WAIT).status == "cancelled"
    assert front.wait(second, timeout=WAIT).status == "succeeded"
    assert back.status(second).record == store.get(second)


def test_wait_change_returns_when_the_run_moves_on(store, make_queue):
    queue = make_queue(workers=1)
    job = queue.submit(slow_plan(), APP)
    seen = [queue.status(job)._key()]
    while len(seen) < 3:  # queued or running, then each cell: every call returns on a change, not a timeout
        queue.wait_change(job, timeout=WAIT)
        seen.append(queue.status(job)._key())
        assert seen[-1] != seen[-2]
    queue.cancel(job)
    queue.wait_change(job, timeout=WAIT)
    assert queue.wait(job, timeout=WAIT).status == "cancelled"
