"""A queue worker: claims queued runs from the store, runs them on warm kernels, heartbeats while they run.

Any number of workers, in any number of processes on any machine that shares the store (and the home
folder's files), drain one durable queue. Each of a worker's ``slots`` threads claims the next run in the
store's fair order (``store.claim``), rebuilds its plan from the job (:mod:`.submit`) and executes it with
:func:`batch.run_one`, as the CLI and the app do. A heartbeat thread refreshes every running run's heartbeat
(with its live progress) every ``LIVEDOCS_HEARTBEAT_S`` seconds and soon after each progress event; a cancel
requested through the store (``livedocs cancel``, the app) comes back with the heartbeat and stops the run
as the app's Cancel button does. It also calls ``store.recover_lost`` every heartbeat, so runs of a worker
that died (no heartbeat for 3 x ``LIVEDOCS_HEARTBEAT_S``) are requeued or failed with ``WorkerLost``.

Stopping (SIGTERM, Ctrl-C, the app shutting down) stops claiming at once; running runs get ``grace`` seconds
to finish, then are cancelled (their kernels stopped, partial output kept). Every record ends final.

    worker = Worker(open_store(home), slots=2)
    worker.start()
    ...
    worker.stop(grace=30)
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .eventloops import close_thread_loop
from .execute import Progress, RunControl, finish_crashed
from .kernels import KernelSource, import_client_modules
from .records.queue import DEFAULT_HEARTBEAT_S, HEARTBEAT_ENV, heartbeat_s
from .records.store import FINAL, RunRecord, Store

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often an idle worker asks the store for work (a submission in this process wakes it at once)
PROGRESS_EVERY_S = 0.1  # live progress reaches the store at most this often per worker

EventFn = Callable[[str, RunRecord], None]  # ("started" | "finished" | "recovered", record)


def heartbeat_seconds(environ: dict[str, str] | None = None) -> float:
    """``$LIVEDOCS_HEARTBEAT_S`` (default 5): seconds between heartbeats; InputError (exit 2) for a bad value."""
    return heartbeat_s(environ)


def worker_name() -> str:
    """``host:pid``; each slot of the worker is ``host:pid:n``."""
    return f"{platform.node()}:{os.getpid()}"


@dataclass
class _Running:
    record: RunRecord
    slot: str
    progress: Progress | None = None
    progress_at: float = 0.0
    beat_at: float = 0.0
    dirty: bool = False
    started_cell: bool = False  # the store knows a cell has started (from then on it is never requeued)


class Worker:
    """Claims and runs queued runs on ``slots`` threads until stopped. Thread-safe.

    ``kernels``: where kernels come from (default: a warm pool of ``slots`` kernels, closed by :meth:`stop`).
    ``notebooks``: a glob over notebook file names; only runs of matching notebooks are claimed.
    ``on_event``: told ``("started" | "finished" | "recovered", record)`` from the worker's threads.
    """

    def __init__(self, store: Store, *, slots: int = 1, kernels: KernelSource | None = None,
                 notebooks: str | None = None, heartbeat_s: float | None = None, poll_s: float = POLL_S,
                 on_event: EventFn | None = None) -> None:
        self.store = store
        self.slots = max(1, slots)
        self.notebooks = notebooks
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else heartbeat_seconds()
        self.poll_s = poll_s
        self.name = worker_name()
        self.control = RunControl()
        self.changed = threading.Condition()  # notified on every claim, progress event and finished run
        self._kernels = kernels
        self._own_kernels = kernels is None
        self._on_event = on_event
        self._running: dict[str, _Running] = {}
        self._claiming = True
        self._wakeups = 0
        self._beat = threading.Event()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._beater: threading.Thread | None = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> Worker:
        """Recover runs of dead workers, then start claiming; returns self."""
        if self._threads:
            return self
        import_client_modules()  # here, once: slot threads importing them at the same moment can fail
        if self._kernels is None:
            from .forkserver import warm_kernels
            from .pool import PoolOptions

            self._kernels = warm_kernels(PoolOptions(size=self.slots))
        self._recover()
        self._beater = threading.Thread(target=self._beat_loop, name="livedocs-heartbeat", daemon=True)
        self._beater.start()
        self._threads = [threading.Thread(target=self._slot_loop, args=(f"{self.name}:{n + 1}",),
                                          name=f"livedocs-worker-{n + 1}", daemon=True) for n in range(self.slots)]
        for thread in self._threads:
            thread.start()
        return self

    def wake(self) -> None:
        """Claim now (a run was just submitted in this process) instead of at the next poll."""
        with self.changed:
            self._wakeups += 1
            self.changed.notify_all()

    def stop_claiming(self) -> None:
        """Take no more runs; the running ones go on."""
        with self.changed:
            self._claiming = False
            self.changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no run is running here (or ``timeout`` s); True when idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.changed:
            while self._running:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self.changed.wait(left if left is not None else 1.0)
        return True

    def stop(self, *, grace: float = 0.0, timeout: float = 60.0) -> None:
        """Stop claiming; give running runs ``grace`` s to finish, cancel the rest, wait for the threads (up
        to ``timeout`` s more), then stop heartbeating and close the worker's own kernels."""
        self.stop_claiming()
        if grace > 0:
            self.wait_idle(grace)
        with self.changed:
            for run_id in self._running:
                self.control.cancel(run_id)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._stopped.set()
        self._beat.set()
        if self._beater is not None:
            self._beater.join(max(0.0, deadline - time.monotonic()))
        if self._own_kernels and self._kernels is not None and hasattr(self._kernels, "close"):
            self._kernels.close()

    # --- what is running here -------------------------------------------------------------

    def running_ids(self) -> list[str]:
        with self.changed:
            return list(self._running)

    def progress_of(self, run_id: str) -> tuple[Progress | None, float] | None:
        """The latest progress event of a run running here and when it came (monotonic); None if not here."""
        with self.changed:
            running = self._running.get(run_id)
            return None if running is None else (running.progress, running.progress_at)

    def cancel(self, run_id: str) -> bool:
        """Stop ``run_id`` at once if it runs here (the store's cancel flag reaches other workers); True if it did."""
        with self.changed:
            here = run_id in self._running
        if here:
            self.control.cancel(run_id)
        return here

    # --- threads --------------------------------------------------------------------------

    def _slot_loop(self, slot: str) -> None:
        failures = 0
        while True:
            with self.changed:
                if not self._claiming:
                    return
                seen = self._wakeups
            try:
                claimed = self.store.claim(slot, notebooks=self.notebooks)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the database restarting, a locked file: try again later
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("worker %s: cannot claim from the store (%s); retrying", slot, exc)
                claimed = None
            if claimed is None:  # sleep until the next poll, a submission here (wake) or stop; not on progress events
                deadline = time.monotonic() + self.poll_s
                with self.changed:
                    while self._claiming and self._wakeups == seen and (left := deadline - time.monotonic()) > 0:
                        self.changed.wait(left)
                continue
            with self.changed:
                stopping = not self._claiming
                if not stopping:  # registered under the lock: stop() either sees it (and cancels it) or we see stop
                    self._running[claimed.record.id] = _Running(claimed.record, slot, beat_at=time.monotonic())
                    self.changed.notify_all()
            if stopping:  # stopped between the claim and now: give it back, unstarted
                self._give_back(claimed.record.id, slot)
                return
            try:
                self._execute(claimed, slot)
            finally:
                close_thread_loop()  # the kernel's event loop, closed here rather than by the collector

    def _give_back(self, run_id: str, slot: str) -> None:
        try:
            self.store.release(run_id, slot)
        except Exception as exc:  # noqa: BLE001 - recover_lost requeues it once its heartbeat is old
            log.warning("worker %s: could not give back run %s (%s); it is requeued when found lost", slot, run_id, exc)

    def _execute(self, claimed, slot: str) -> None:  # noqa: ANN001 - a records.queue.QueuedJob
        from .batch import run_one
        from .submit import plan_from_job

        record = claimed.record
        self._emit("started", record)
        final = record
        try:
            plan, options = plan_from_job(claimed.job, record)
            final = run_one(plan, self.store, record, options=options, kernels=self._kernels,
                            control=self.control, progress=self._on_progress)
        except BaseException as exc:  # noqa: BLE001 - a job this version cannot read, a store error: recorded
            try:
                final = finish_crashed(self.store, record, exc)
            except Exception as again:  # noqa: BLE001 - the store is down: recover_lost fails it later
                log.error("worker %s: run %s could not be recorded as failed (%s)", slot, record.id, again)
        finally:
            with self.changed:
                self._running.pop(record.id, None)
                self.changed.notify_all()
        if final.status in FINAL:
            self._emit("finished", final)

    def _on_progress(self, event: Progress) -> None:
        with self.changed:
            running = self._running.get(event.run_id)
            if running is None:
                return
            running.progress, running.progress_at, running.dirty = event, time.monotonic(), True
            first = event.cell >= 1 and not running.started_cell
            running.started_cell = running.started_cell or first
            self.changed.notify_all()
        if first:  # before the first cell executes (nbclient calls this first): a lost run that ran a cell is
            self._heartbeat(event.run_id, running.slot, event)  # failed WorkerLost, never requeued to run twice
        self._beat.set()

    def _beat_loop(self) -> None:
        next_recover = time.monotonic() + self.heartbeat_s
        while not self._stopped.is_set():
            now = time.monotonic()
            with self.changed:
                due = [(run_id, r.slot, r.progress) for run_id, r in self._running.items()
                       if r.dirty or now - r.beat_at >= self.heartbeat_s]
                for run_id, _, _ in due:
                    self._running[run_id].dirty, self._running[run_id].beat_at = False, now
            for run_id, slot, progress in due:
                self._heartbeat(run_id, slot, progress)
            if now >= next_recover:
                self._recover()
                next_recover = now + self.heartbeat_s
            with self.changed:
                beats = [r.beat_at + self.heartbeat_s for r in self._running.values()]
            wake_at = min([next_recover, *beats])
            self._beat.wait(max(0.0, wake_at - time.monotonic()))
            self._beat.clear()
            self._stopped.wait(PROGRESS_EVERY_S)  # coalesce a burst of progress events into one write

    def _heartbeat(self, run_id: str, slot: str, progress: Progress | None) -> None:
        try:
            if progress is not None:  # cell stays None until a cell has started: the run may still be requeued
                cancel = self.store.heartbeat(run_id, slot, cell=progress.cell or None, cells=progress.cells or None,
                                              step=progress.step or None)
            else:
                cancel = self.store.heartbeat(run_id, slot)
        except Exception as exc:  # noqa: BLE001 - the database restarting: the next heartbeat tries again
            log.warning("worker %s: heartbeat for run %s failed (%s)", slot, run_id, exc)
            return
        if cancel:
            self.control.cancel(run_id)

    def _recover(self) -> None:
        try:
            recovered = self.store.recover_lost(self.heartbeat_s)
        except Exception as exc:  # noqa: BLE001 - tried again on the next heartbeat
            log.warning("worker %s: looking for lost runs failed (%s)", self.name, exc)
            return
        for record in recovered:
            self._emit("recovered", record)
        if recovered:
            self.wake()  # requeued runs can be claimed at once

    def _emit(self, kind: str, record: RunRecord) -> None:
        if self._on_event is not None:
            try:
                self._on_event(kind, record)
            except Exception as exc:  # noqa: BLE001 - a printing problem must not stop the worker
                log.warning("worker %s: event handler failed (%s)", self.name, exc)


__all__ = ["DEFAULT_HEARTBEAT_S", "HEARTBEAT_ENV", "Worker", "heartbeat_seconds", "worker_name"]
