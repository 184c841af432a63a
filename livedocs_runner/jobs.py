"""A bounded job queue for the web app: N worker threads shared by every visitor.

Each submitted plan gets its ``queued`` run record at once (so it has a shareable id before it
starts), waits its turn in FIFO order, and runs through :func:`batch.run_one` like a CLI run,
sharing the same store and cache. Every job reports live progress (cell k of n, elapsed), its
place in the queue while waiting, and can be cancelled at any point.

    queue = JobQueue(Store(".livedocs"), workers=2)
    job_id = queue.submit(plan, RunOptions(trigger="app", user="ana"))
    queue.status(job_id).place  # 1 while first in line
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from .batch import run_one
from .errors import RunNotFound
from .execute import Progress, RunControl, RunOptions, finish_cancelled, finish_crashed, new_record, plan_cache_key
from .kernels import FreshKernels, KernelSource
from .plan import RunPlan
from .records.store import FINAL, RunRecord, Store


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job. ``place`` is 1-based while waiting, None otherwise."""

    id: str
    status: str
    scenario: str
    cell: int = 0
    cells: int = 0
    elapsed: float = 0.0
    place: int | None = None
    record: RunRecord | None = None  # the final record once the job has ended
    step: str = ""  # the running cell's name (see livedocs_runner.cells)

    @property
    def done(self) -> bool:
        return self.status in FINAL


@dataclass
class _Job:
    plan: RunPlan
    options: RunOptions
    record: RunRecord
    progress: Progress | None = None
    progress_at: float = 0.0
    final: RunRecord | None = None


def cached_result(plan: RunPlan, store: Store) -> RunRecord | None:
    """The newest succeeded run with exactly ``plan``'s inputs (notebook, parameters, files, kernel env);
    None for a plan whose config says ``cache: false``."""
    try:
        key = plan_cache_key(plan, store.home)
    except OSError:  # an input that cannot be read: no answer here; the run records why it failed
        return None
    return store.find_cached(key) if key else None


class JobQueue:
    """Runs submitted plans on ``workers`` threads; thread-safe; one per app process."""

    def __init__(self, store: Store, *, workers: int = 2, kernels: KernelSource | None = None,
                 keep_finished: int = 500) -> None:
        self.store = store
        self._keep_finished = max(1, keep_finished)  # a long-lived app server must not grow forever
        self.kernels: KernelSource = kernels or FreshKernels()
        self.control = RunControl()
        self._jobs: dict[str, _Job] = {}
        self._waiting: deque[str] = deque()
        self._lock = threading.Condition()
        self._changes = threading.Condition()  # notified when a job's progress or status changes: wait_change
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"livedocs-job-{n + 1}", daemon=True)
                         for n in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    @property
    def workers(self) -> int:
        return len(self._threads)

    def submit(self, plan: RunPlan, options: RunOptions) -> str:
        """Record ``plan`` as queued and line it up; returns the job id (= the run id)."""
        record = new_record(plan, self.store, options)
        with self._lock:
            if self._closed:
                finish_cancelled(self.store, record)
                raise RuntimeError("the job queue is shut down")
            self._jobs[record.id] = _Job(plan, options, record)
            self._waiting.append(record.id)
            self._lock.notify()
        return record.id

    def status(self, job_id: str) -> JobStatus:
        """Where ``job_id`` stands; for a run this queue does not know, its stored record."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                return self._snapshot(job_id, job)
        record = self.store.get(job_id)
        return JobStatus(record.id, record.status, record.scenario, elapsed=record.duration_s or 0.0,
                         record=record if record.status in FINAL else None)

    def jobs(self) -> list[JobStatus]:
        """Every job of this queue that is still waiting or running, oldest first."""
        with self._lock:
            return [self._snapshot(i, j) for i, j in self._jobs.items() if j.final is None]

    def cancel(self, job_id: str) -> None:
        """Cancel a waiting job (it never starts) or stop a running one (its kernel is killed)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise RunNotFound(f"run {job_id!r} is not queued or running in this app.")
            waiting = job_id in self._waiting
            if waiting:
                self._waiting.remove(job_id)
                job.final = finish_cancelled(self.store, self.store.get(job_id))
        if waiting:
            self._changed()
            return
        self.control.cancel(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until ``job_id`` has ended (or ``timeout`` seconds passed); return its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if job_id not in self._jobs:
                return self.status(job_id)
            while job_id in self._jobs and self._jobs[job_id].final is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._lock.wait(left)
        return self.status(job_id)

    def wait_change(self, job_id: str, timeout: float) -> None:
        """Block until ``job_id``'s progress or status changes, or ``timeout`` seconds passed (a page
        showing the job live wakes at once instead of polling on a fixed beat)."""
        deadline = time.monotonic() + timeout
        before = self._state(job_id)
        if before is None:  # not this queue's, or ended: nothing will change here
            return
        with self._changes:
            while self._state(job_id) == before:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changes.wait(left)

    def shutdown(self, *, cancel: bool = True, timeout: float = 30.0) -> None:
        """Stop taking jobs; cancel waiting and running ones (default); wait for the workers."""
        with self._lock:
            self._closed = True
            waiting = list(self._waiting) if cancel else []
            self._lock.notify_all()
        for job_id in waiting:
            self.cancel(job_id)
        if cancel:
            for job_id in [j.id for j in self.jobs()]:
                self.control.cancel(job_id)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # --- internals ------------------------------------------------------------------------

    def _snapshot(self, job_id: str, job: _Job) -> JobStatus:
        if job.final is not None:
            return JobStatus(job_id, job.final.status, job.final.scenario, elapsed=job.final.duration_s or 0.0,
                             record=job.final)
        if job_id in self._waiting:
            return JobStatus(job_id, "queued", job.record.scenario, place=self._waiting.index(job_id) + 1)
        progress = job.progress
        if progress is None:
            return JobStatus(job_id, "running", job.record.scenario)
        elapsed = progress.elapsed + (time.monotonic() - job.progress_at)
        return JobStatus(job_id, "running", job.record.scenario, progress.cell, progress.cells, elapsed,
                         step=progress.step)

    def _state(self, job_id: str) -> tuple[object, ...] | None:
        """What :meth:`wait_change` compares: None for a job that is unknown or has ended."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.final is not None:
                return None
            return (job_id in self._waiting, job.progress)

    def _changed(self) -> None:
        with self._changes:
            self._changes.notify_all()

    def _on_progress(self, event: Progress) -> None:
        with self._lock:
            job = self._jobs.get(event.run_id)
            if job is not None:
                job.progress, job.progress_at = event, time.monotonic()
        self._changed()

    def _next(self) -> str | None:
        with self._lock:
            while not self._waiting and not self._closed:
                self._lock.wait()
            return self._waiting.popleft() if self._waiting else None

    def _work(self) -> None:
        while (job_id := self._next()) is not None:
            job = self._jobs[job_id]
            try:
                final = run_one(job.plan, self.store, job.record, options=job.options, kernels=self.kernels,
                                control=self.control, progress=self._on_progress)
            except BaseException as exc:  # noqa: BLE001 - the record must end final, the worker must live
                final = finish_crashed(self.store, job.record, exc)
            with self._lock:
                job.final = final
                self._forget_old()
                self._lock.notify_all()
            self._changed()

    def _forget_old(self) -> None:
        """Drop all but the newest finished jobs; their records stay in the store (``status`` reads it)."""
        finished = [job_id for job_id, job in self._jobs.items() if job.final is not None]
        for job_id in finished[: max(0, len(finished) - self._keep_finished)]:
            del self._jobs[job_id]


__all__ = ["JobQueue", "JobStatus", "cached_result"]
