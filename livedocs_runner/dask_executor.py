"""Runs on a Dask distributed cluster: one task per scenario, recorded in the same store.

Each plan is recorded ``queued`` here first (so the batch is visible even if the cluster never
answers), then sent to a worker, which opens the same store by its URL (``store.url``: PostgreSQL, or
None for SQLite in the home folder) and executes it with :func:`batch.run_one`. The home folder (run
files) must be shared by the client and the workers (one machine, or a network file system); with a
PostgreSQL store the records need no shared SQLite file (which WAL mode cannot share over NFS/SMB).

    records = run_on_dask(plans, open_store("/shared/livedocs", "postgresql://db/livedocs"), scheduler="tcp://10.0.0.5:8786")

``distributed`` is imported only here and only when called, so local runs never pay for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import InputError, Interrupted
from .execute import Progress, ProgressFn, RunControl, RunOptions, finish_cancelled, finish_crashed, new_record
from .plan import RunPlan
from .records.store import FINAL, RunRecord, Store, open_store

MISSING_DASK = ("--executor dask needs dask.distributed, which is not installed.")
MISSING_DASK_HINT = "Install it with: pip install 'livedocs-runner[dask]'"


def run_on_dask(plans: Sequence[RunPlan], store: Store, *, scheduler: str | Any, options: RunOptions = RunOptions(),
                progress: ProgressFn | None = None,
                on_record: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    """Run ``plans`` on the cluster at ``scheduler`` (an address or a ``distributed`` cluster object).

    Returns the final records in plan order; raises :class:`Interrupted` on Ctrl-C after the
    records of runs that never started are marked cancelled.
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError(MISSING_DASK, hint=MISSING_DASK_HINT) from None
    records = [new_record(plan, store, options) for plan in plans]
    for record in records:
        if on_record:
            on_record(record)
    results: dict[str, RunRecord] = {}
    try:
        client = Client(scheduler, set_as_default=False)
    except OSError as exc:
        for record in records:
            finish_cancelled(store, record)
        raise InputError(f"cannot reach the Dask scheduler {scheduler!r} ({exc}).",
                         hint="Check the address (e.g. tcp://HOST:8786) and that `dask scheduler` is running.") from None
    with client:
        futures = {client.submit(run_remote, portable(plan), str(store.home), record, options, store.url,
                                 key=f"livedocs-run-{record.id}", pure=False): record
                   for plan, record in zip(plans, records)}
        try:
            for future in as_completed(list(futures), loop=client.loop):
                record = futures[future]
                try:
                    final = future.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker, an unpicklable value: record it
                    final = finish_crashed(store, record, exc)
                results[record.id] = final
                if progress is not None:
                    progress(Progress(final.id, final.scenario, final.status, elapsed=final.duration_s or 0.0))
        except KeyboardInterrupt:
            client.cancel(list(futures))
            for record in records:
                if record.id not in results:
                    current = store.get(record.id)
                    results[record.id] = current if current.status in FINAL else finish_cancelled(store, current)
            raise Interrupted("interrupted: runs not yet started were cancelled; runs already on a worker finish there.",
                              hint="See `livedocs runs` for their state.") from None
    return [results[r.id] for r in records]


def run_remote(plan: RunPlan, home: str, record: RunRecord, options: RunOptions, db: str | None = None) -> RunRecord:
    """The task a worker runs: execute (or answer from the cache) against the shared store (``db``: its URL)."""
    from .batch import run_one
    from .kernels import FreshKernels

    return run_one(plan, open_store(home, db), record, options=options, kernels=FreshKernels(options.startup_timeout),
                   control=RunControl())


def portable(plan: RunPlan) -> RunPlan:
    """``plan`` with absolute paths, so a worker with another working folder finds the same files."""
    notebook = dataclasses.replace(plan.notebook, path=Path(plan.notebook.path).resolve())
    return dataclasses.replace(plan, notebook=notebook)


__all__ = ["run_on_dask", "run_remote"]
