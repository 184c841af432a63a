"""The app's job queue, on the store's durable queue: submissions are ``queued`` records any worker may run.

``submit`` stores a ``queued`` record and its job (so it has a shareable id at once, and survives an app
restart); a worker claims it in the store's fair order (between users) and runs it through
:func:`batch.run_one` like a CLI run, sharing the same store and cache. By default the queue runs an
in-process :class:`~livedocs_runner.worker.Worker` with ``workers`` slots; with ``worker=False`` (``livedocs app
--no-worker``) execution is left to ``livedocs worker`` processes. Every job reports live progress (cell k of n,
elapsed), its place in the queue while waiting, and can be cancelled at any point, wherever it runs.

    queue = JobQueue(open_store(".livedocs"), workers=2)
    job_id = queue.submit(plan, RunOptions(trigger="app", user="ana"))
    queue.status(job_id).place  # 1 while first in line
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .errors import RunNotFound
from .execute import RunOptions, plan_cache_key
from .kernels import FreshKernels, KernelSource
from .plan import RunPlan
from .records.store import FINAL, RunRecord, Store

POLL_S = 0.1  # how often a wait re-reads the store for a run executed by another process


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

    def _key(self) -> tuple:
        """What a page shows of it, elapsed time aside: a change wakes :meth:`JobQueue.wait_change`."""
        return self.status, self.cell, self.cells, self.step, self.place


def cached_result(plan: RunPlan, store: Store) -> RunRecord | None:
    """The newest succeeded run with exactly ``plan``'s inputs (notebook, parameters, files, kernel env);
    None for a plan whose config says ``cache: false``."""
    try:
        key = plan_cache_key(plan, store.home)
    except OSError:  # an input that cannot be read: no answer here; the run records why it failed
        return None
    return store.find_cached(key) if key else None


class JobQueue:
    """Submit, follow and cancel runs of the durable queue; thread-safe; one per app process.

    ``workers``: slots of the in-process worker (``worker=True``, the default); ``kernels``: where that
    worker's kernels come from (default: a fresh kernel per run). Without a worker, runs wait for
    ``livedocs worker`` processes sharing the store.
    """

    def __init__(self, store: Store, *, workers: int = 2, kernels: KernelSource | None = None, worker: bool = True,
                 heartbeat_s: float | None = None) -> None:
        from .worker import Worker

        self.store = store
        self._closed = False
        self._polled = threading.Condition()  # nobody notifies it: waits on other processes' runs poll the store
        self.worker: Worker | None = None
        if worker:
            self.worker = Worker(store, slots=workers, kernels=kernels or FreshKernels(), heartbeat_s=heartbeat_s)
            self.worker.start()

    @property
    def workers(self) -> int:
        """Runs this process executes at once (0 with ``--no-worker``: ``livedocs worker`` processes run them)."""
        return self.worker.slots if self.worker is not None else 0

    def submit(self, plan: RunPlan, options: RunOptions) -> str:
        """Record ``plan`` as queued with its job; returns the job id (= the run id)."""
        from .submit import enqueue

        if self._closed:
            raise RuntimeError("the job queue is shut down")
        record = enqueue(plan, self.store, options)
        if self.worker is not None:
            self.worker.wake()
        return record.id

    def status(self, job_id: str) -> JobStatus:
        """Where ``job_id`` stands (RunNotFound for an unknown id): its place while queued, live progress while
        running (here or on another worker), its record once final."""
        record = self.store.get(job_id)
        if record.status in FINAL:
            return JobStatus(record.id, record.status, record.scenario, elapsed=record.duration_s or 0.0,
                             record=record)
        if record.status == "queued":
            return JobStatus(record.id, "queued", record.scenario, place=self.store.queue_place(record.id))
        local = self.worker.progress_of(record.id) if self.worker is not None else None
        if local is not None:
            progress, at = local
            if progress is None:
                return JobStatus(record.id, "running", record.scenario, elapsed=_since(record.started_at))
            return JobStatus(record.id, "running", record.scenario, progress.cell, progress.cells,
                             progress.elapsed + (time.monotonic() - at), step=progress.step)
        live = self.store.progress(record.id)
        return JobStatus(record.id, "running", record.scenario, (live.cell or 0) if live else 0,
                         (live.cells or 0) if live else 0, _since(record.started_at),
                         step=(live.step or "") if live else "")

    def queued_here(self, job_id: str) -> bool:
        """Whether ``job_id`` is one of :meth:`jobs` (waiting or running in the queue), asked of that run alone."""
        try:
            status = self.status(job_id)
        except RunNotFound:
            return False
        return self._listed(status)

    def _listed(self, status: JobStatus) -> bool:
        if status.done or (status.status == "queued" and status.place is None):
            return False
        return status.status != "running" or self._in_queue(status.id)

    def jobs(self, limit: int = 500) -> list[JobStatus]:
        """The queue's runs that are waiting or running (any worker's), oldest first; runs of a plain
        ``livedocs run`` are not in the queue and not listed."""
        records = self.store.list(status="running", limit=limit) + self.store.list(status="queued", limit=limit)
        out = []
        for record in sorted(records, key=lambda r: r.created_at):
            try:
                status = self.status(record.id)
            except RunNotFound:
                continue
            if self._listed(status):
                out.append(status)
        return out

    def cancel(self, job_id: str) -> None:
        """Cancel a waiting job (it never starts) or stop a running one (its kernel is killed), wherever it runs;
        nothing for a run that has just ended. RunNotFound for an unknown run or one outside the queue."""
        from .submit import cancel

        if self.store.get(job_id).status in FINAL:  # e.g. it finished as the Cancel button was clicked
            return
        record = cancel(self.store, job_id)
        if self.worker is not None:
            self.worker.cancel(record.id)  # here: at once, not at the next heartbeat

    def wait_change(self, job_id: str, timeout: float, *, queued_timeout: float | None = None,
                    interrupted: Callable[[], bool] | None = None) -> bool:
        """Wait until ``job_id``'s status, progress or place changes (True) or ``timeout`` seconds pass
        (``queued_timeout`` instead while it waits in the queue, when given; False). Sees a change at once
        for a run of this process's worker, within 0.1 s for one run elsewhere; True at once for a run that
        has ended (nothing more will change); False at once for one the store does not know, and within
        0.1 s of ``interrupted()`` turning true (e.g. the person watching clicked something)."""
        try:
            status = self.status(job_id)
        except RunNotFound:
            return False
        if status.done:
            return True
        if queued_timeout is not None and status.status == "queued":
            timeout = queued_timeout
        deadline = time.monotonic() + timeout
        before = status._key()
        condition = self.worker.changed if self.worker is not None else self._polled
        while (left := deadline - time.monotonic()) > 0:
            if interrupted is not None and interrupted():
                return False
            with condition:
                condition.wait(min(POLL_S, left))
            if self.status(job_id)._key() != before:
                return True
        return False

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Block until ``job_id`` has ended (or ``timeout`` seconds passed); return its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not (status := self.status(job_id)).done:
            left = 3600.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                break
            self.wait_change(job_id, min(left, 3600.0))
        return status

    def shutdown(self, *, cancel: bool = True, timeout: float = 30.0) -> None:
        """Stop taking submissions and stop this process's worker: its running runs are cancelled (default) or
        given ``timeout`` s to finish. Queued runs stay queued: the next worker (or app start) runs them."""
        self._closed = True
        if self.worker is not None:
            self.worker.stop(grace=0.0 if cancel else timeout, timeout=timeout)

    def _in_queue(self, run_id: str) -> bool:
        return self.store.progress(run_id) is not None


def _since(stamp: str | None) -> float:
    """Seconds since a record's ISO timestamp (0 when unknown)."""
    try:
        started = datetime.fromisoformat(stamp or "")
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(started.tzinfo) - started).total_seconds())


__all__ = ["JobQueue", "JobStatus", "cached_result"]
