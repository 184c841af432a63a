"""The store's durable-queue methods (see ``queue.py``), a base of ``Store``: each imports ``queue.py`` when called,
so the CLI's cache-hit path loads no queue code."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import queue
    from .record import RunRecord


class QueueMethods:
    """``enqueue``, ``claim``, ``heartbeat``, ``request_cancel``, ``progress``, ``queue_place``, ``recover_lost`` and
    ``release`` on the store they are mixed into (SQLite or PostgreSQL)."""

    def enqueue(self, record: RunRecord, job: dict[str, Any]) -> RunRecord:
        """Keep a ``queued`` record and its job payload (one transaction)."""
        from . import queue  # off the cache-hit path: only queue users load it

        return queue.enqueue(self, record, job)

    def claim(self, worker: str, *, notebooks: str | None = None) -> queue.QueuedJob | None:
        """Take the next queued run atomically, fair between users (``notebooks``: a glob over its file name)."""
        from . import queue

        return queue.claim(self, worker, notebooks=notebooks)

    def heartbeat(self, run_id: str, worker: str, *, cell: int | None = None, cells: int | None = None,
                  step: str | None = None) -> bool:
        """Refresh the heartbeat and live progress; True when the worker should stop (cancel requested)."""
        from . import queue

        return queue.heartbeat(self, run_id, worker, cell=cell, cells=cells, step=step)

    def request_cancel(self, run_id: str) -> RunRecord:
        """Queued: cancelled at once. Running: flagged for its worker's next heartbeat."""
        from . import queue

        return queue.request_cancel(self, run_id)

    def progress(self, run_id: str) -> queue.LiveProgress | None:
        from . import queue

        return queue.progress(self, run_id)

    def queue_place(self, run_id: str) -> int | None:
        """1-based place in the fair order; None when not queued."""
        from . import queue

        return queue.queue_place(self, run_id)

    def recover_lost(self, heartbeat_s: float) -> list[RunRecord]:
        """Runs whose worker went silent for 3 x ``heartbeat_s``: requeued once, or failed with WorkerLost."""
        from . import queue

        return queue.recover_lost(self, heartbeat_s)

    def release(self, run_id: str, worker: str) -> None:
        """Give back a claimed run not yet started (a worker shutting down cleanly)."""
        from . import queue

        queue.release(self, run_id, worker)
