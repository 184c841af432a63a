"""Many runs at once: N scenarios in parallel (one kernel process each), cache hits (reruns are planned in rerun.py).

Every plan is recorded as ``queued`` before the first one starts, so an interrupted batch still
shows what it meant to do; Ctrl-C cancels the lot and leaves every record in a final state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import Interrupted
from .eventloops import closing_loop
from .execute import (Progress, ProgressFn, RunControl, RunOptions, check_kernels, execute_profiled,
                      finish_cancelled, finish_crashed, maybe_phase, plan_cache_key, queued_record, start_changes)
from .plan import RunPlan
from .records.store import FINAL, RunRecord, Store, now
from .results import ResultSpec, result_specs, specs_for

if TYPE_CHECKING:  # kernels (and subprocess) load only when something executes: cache hits stay fast
    from concurrent.futures import Future

    from .kernels import KernelRequest, KernelSource
    from .profiling import Profiler


def run_one(plan: RunPlan, store: Store, record: RunRecord, *, options: RunOptions, kernels: KernelSource | None,
            control: RunControl, progress: ProgressFn | None = None, profiler: Profiler | None = None) -> RunRecord:
    """Answer ``plan`` from the cache when allowed and possible, otherwise execute it.

    Never raises for a run that went wrong: whatever happens, ``record`` ends final (so the rest of
    a batch still runs). ``profiler`` receives where the run's time went (``livedocs run --profile``).
    """
    profile = profiler.start(record.id, plan.scenario) if profiler is not None else None
    began = time.perf_counter()
    pending: dict[str, Any] | None = None
    try:
        with maybe_phase(profile, "prepare"):
            pending = start_changes(plan, store)  # written with the answer or with `running`: one write fewer
        key = pending["cache_key"]
        if options.use_cache and key and not control.is_cancelled(record.id):
            hit = store.find_cached(key)
            if hit is not None:
                record = answer_from_cache(store, record, hit, results=plan.results, pending=pending)
                if progress is not None:
                    progress(Progress(record.id, record.scenario, record.status))
                return record
        return execute_profiled(plan, store, record, options=options, kernels=kernels, control=control,
                                progress=progress, profile=profile, pending=pending)
    except Exception as exc:  # noqa: BLE001 - an unreadable input, a store error: recorded, not raised
        return finish_crashed(store, record, exc, pending=pending)
    finally:
        if profile is not None:
            profile.close(time.perf_counter() - began)


def answer_from_cache(store: Store, record: RunRecord, hit: RunRecord, *,
                      results: Mapping[str, ResultSpec] | None = None,
                      pending: Mapping[str, Any] | None = None) -> RunRecord:
    """Record ``record`` as a cache hit of the earlier run ``hit`` (same files, same results); how its
    results are shown: ``hit``'s, under ``results`` (the config's ``results:`` now). ``pending``: the
    run's start changes not yet written (``prepare.start_changes``), written in the same update."""
    stamp = now()
    pending = dict(pending or {})
    environment = pending.pop("environment", record.environment)
    return store.update(record, **pending, status="succeeded", cache_of=hit.id, metrics=hit.metrics,
                        outputs=hit.outputs, environment={**environment, **result_specs(specs_for(hit), results)},
                        output_notebook=hit.output_notebook, report_html=hit.report_html, error=None,
                        started_at=stamp, finished_at=stamp, duration_s=0.0)


def run_batch(plans: Sequence[RunPlan], store: Store, *, options: RunOptions = RunOptions(), workers: int = 1,
              kernels: KernelSource | None = None, control: RunControl | None = None,
              progress: ProgressFn | None = None,
              on_record: Callable[[RunRecord], None] | None = None,
              profiler: Profiler | None = None) -> list[RunRecord]:
    """Run ``plans`` with up to ``workers`` at a time; returns the final records in plan order.

    Raises :class:`Interrupted` on Ctrl-C/SIGTERM after every record is final. Without ``kernels``,
    a batch of several plans gets its own warm pool (size ``workers``; the next kernels warm while
    runs execute; forked from a template on Linux, see ``forkserver.py``), closed before returning; one plan
    runs in a cold kernel.
    """
    from .records.snapshots import max_snapshot_mb

    max_snapshot_mb()  # a bad $LIVEDOCS_SNAPSHOT_MAX_MB is bad input: refused before anything runs
    to_execute = [p for p in plans if not (options.use_cache and _cached(p, store))]
    for notebook in {id(p.notebook): p.notebook for p in to_execute}.values():
        notebook.validate()  # a notebook nbformat rejects is bad input: refused before anything runs
    check_kernels(to_execute)  # a kernel not installed, a value its language cannot take: refused likewise
    control = control or RunControl()
    if to_execute:
        from .kernels import import_client_modules

        import_client_modules()  # before any thread: two threads importing them at once can fail a run (ImportError)
    if kernels is None and len(to_execute) > 1:
        from .forkserver import warm_kernels
        from .pool import PoolOptions

        size = max(1, min(workers, len(to_execute)))
        # deeper than `workers` only when runs are seen waiting for kernels (see pool.py), and no deeper
        # than the runs left: the pool never starts a kernel the batch will not use
        depth = PoolOptions(size=size, max_size=min(2 * size, len(to_execute)),
                            startup_timeout=options.startup_timeout)
        with warm_kernels(depth) as pool:
            for request, count in _kernel_demand(to_execute).items():
                pool.expect(request, count)
                pool.prewarm(request, min(count, size))  # the template and kernels start while runs are recorded
            return _run_all(plans, store, options, workers, pool, control, progress, on_record, profiler)
    if kernels is None and to_execute:  # all cache hits: no kernel source (a run that misses after all gets a fresh one)
        from .kernels import FreshKernels

        kernels = FreshKernels(options.startup_timeout)
    return _run_all(plans, store, options, workers if to_execute else 0, kernels, control, progress, on_record,
                    profiler)


def _kernel_demand(plans: Sequence[RunPlan]) -> dict[KernelRequest, int]:
    """How many pooled kernels of each kind ``plans`` will ask for (non-Python runs get fresh ones)."""
    from .execute import kernel_language
    from .inject import is_python
    from .kernels import KernelRequest

    demand: dict[KernelRequest, int] = {}
    for plan in plans:
        if is_python(kernel_language(plan)):
            request = KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports)
            demand[request] = demand.get(request, 0) + 1
    return demand


def _cached(plan: RunPlan, store: Store) -> bool:
    try:
        key = plan_cache_key(plan, store.home)
    except OSError:  # an unreadable input: run_one records the failure
        return False
    return bool(key and store.find_cached(key))


def _run_all(plans: Sequence[RunPlan], store: Store, options: RunOptions, workers: int, kernels: KernelSource | None,
             control: RunControl, progress: ProgressFn | None,
             on_record: Callable[[RunRecord], None] | None, profiler: Profiler | None = None) -> list[RunRecord]:
    records = store.add_all([queued_record(plan, store, options) for plan in plans])  # one commit for the batch
    for record in records:
        if on_record:
            on_record(record)
    if workers == 0:  # every plan is a cache hit: answer them here, no threads to start
        return [run_one(plan, store, record, options=options, kernels=kernels, control=control, progress=progress,
                        profiler=profiler) for plan, record in zip(plans, records)]
    results: dict[str, RunRecord] = {}
    from concurrent.futures import ThreadPoolExecutor  # ~10 ms: not on the cache-hit path
    from queue import Empty, SimpleQueue

    finished: SimpleQueue[Future[RunRecord]] = SimpleQueue()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="livedocs-run") as pool:
        futures: dict[Future[RunRecord], RunRecord] = {
            pool.submit(closing_loop(run_one), plan, store, record, options=options, kernels=kernels, control=control,
                        progress=progress, profiler=profiler): record
            for plan, record in zip(plans, records)
        }
        # each run says when it is done (``wait`` on the pending set re-armed every pending future at each
        # finish: quadratic in the batch size); the 0.2 s timeout keeps Ctrl-C prompt
        for future in futures:
            future.add_done_callback(finished.put)
        try:
            for _ in range(len(futures)):
                while True:
                    try:
                        future = finished.get(timeout=0.2)
                        break
                    except Empty:
                        continue
                results[futures[future].id] = future.result()
        except KeyboardInterrupt:
            control.cancel()
            for future in futures:
                future.cancel()  # those not started yet; a running or finished one says no
            _drain(futures, results, store)
            raise Interrupted("interrupted: running runs were cancelled and their kernels stopped.",
                              hint="Their partial output is kept; see `livedocs runs --status cancelled`.") from None
    return [results[r.id] for r in records]


def _drain(futures: dict[Future[RunRecord], RunRecord], results: dict[str, RunRecord], store: Store) -> None:
    """After a cancel: wait for running runs to stop, and mark never-started ones cancelled."""
    deadline = time.monotonic() + 30
    for future, record in futures.items():
        if future.cancelled():
            results[record.id] = finish_cancelled(store, store.get(record.id))
            continue
        try:
            results[record.id] = future.result(timeout=max(0.1, deadline - time.monotonic()))
        except BaseException:  # noqa: BLE001 - whatever happened, the record must end final
            current = store.get(record.id)
            results[record.id] = current if current.status in FINAL else finish_cancelled(store, current)
