"""One run: inject parameters, execute with nbclient in a kernel of its own, record the outcome.

Whatever happens (a failing cell, a timeout, a dead kernel, cancellation, a full disk or an
unwritable run folder while saving the results) the record ends in a final status with a
:class:`~livedocs_runner.errors.RunError`, and the executed notebook is kept with its outputs up to
that point when it can be written. nbclient/jupyter errors are translated into that error here.

``--timeout`` counts from the start of the first cell: kernel start-up has its own limit
(``startup_timeout``), so a slow machine or a cold cache does not eat into the notebook's time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import LivedocsError, RunError
from .outcomes import (finish_cancelled, finish_crashed, formatted_traceback, is_clean_exit,  # noqa: F401
                       with_problems, write_error)
from .outputs import OutputProblem, collect_outputs, read_specs
from .plan import RunPlan
from .prepare import (cache_key, check_kernel, check_kernels, interpreters_cache, kernel_language,  # noqa: F401
                      new_record, plan_cache_key, queued_record, snapshot_changes, start_changes)
from .records.store import RunRecord, Store, atomic_write, now
from .results import result_specs

# cells, inject, kernels (with subprocess) and logging load only when something executes: cache hits stay fast
if TYPE_CHECKING:
    import logging

    import nbformat

    from .cells import Numbering
    from .kernels import KernelSource
    from .profiling import Profiler, RunProfile


def _log() -> logging.Logger:
    import logging

    return logging.getLogger(__name__)


# output.ipynb is saved while the run executes once this long has passed since its first cell started, then again
# each time this long has passed since the last save (the running cell's outputs so far included), and always at
# the end: a killed runner leaves what ran until its last second, a run of under a second is saved once. (Saving
# after every cell, as before, wrote most runs' file twice: each save replaces the file before it, and on ext4
# without a journal every file created later scans past the inodes deleted in the last minutes, see _manager.py.)
SAVE_EVERY_S = 1.0


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How runs are executed. Usage: ``RunOptions(timeout=600, trigger="app", user="ana")``.

    ``auth`` says how ``user`` was established and is kept on the record: ``none`` (self-declared, or the
    OS user of a CLI run), ``oidc`` (a verified sign-in) or ``proxy`` (a trusted reverse proxy's header);
    with ``oidc``/``proxy`` the user must be given (the verified identity's name).
    """

    timeout: float | None = None  # seconds from the first cell; the kernel is killed after it
    trigger: str = "cli"
    user: str | None = None
    report: bool = True
    use_cache: bool = True
    startup_timeout: float = 60.0
    auth: str = "none"

    def __post_init__(self) -> None:
        if self.auth not in ("none", "oidc", "proxy"):
            raise ValueError(f"RunOptions.auth must be none, oidc or proxy, not {self.auth!r}")
        if self.auth != "none" and not (self.user or "").strip():
            raise ValueError(f"RunOptions.auth={self.auth!r} needs the verified user's name in RunOptions.user")


@dataclass(frozen=True)
class Progress:
    """A progress event: code cell ``cell`` of ``cells``, named ``step``, has started (0 before the first).

    Cells are counted in the analyst's notebook: the injected-parameters cell is not one of them
    (see :mod:`livedocs_runner.cells`).
    """

    run_id: str
    scenario: str
    status: str
    cell: int = 0
    cells: int = 0
    elapsed: float = 0.0
    step: str = ""


ProgressFn = Callable[[Progress], None]


class RunControl:
    """Cancellation shared by every run of a batch (Ctrl-C, SIGTERM, the app's Cancel button)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._cancelled_ids: set[str] = set()
        self._lock = threading.Lock()

    def cancel(self, run_id: str | None = None) -> None:
        """Cancel one run by id, or every run when ``run_id`` is None."""
        if run_id is None:
            self._event.set()
        else:
            with self._lock:
                self._cancelled_ids.add(run_id)

    def is_cancelled(self, run_id: str) -> bool:
        with self._lock:
            return self._event.is_set() or run_id in self._cancelled_ids

    def wait(self, seconds: float) -> None:
        self._event.wait(seconds)


def execute_run(plan: RunPlan, store: Store, *, options: RunOptions = RunOptions(),
                record: RunRecord | None = None, kernels: KernelSource | None = None,
                control: RunControl | None = None, progress: ProgressFn | None = None,
                profiler: Profiler | None = None) -> RunRecord:
    """Execute ``plan`` in a fresh kernel and return its final record (never raises for a failed run).

    ``profiler`` (see :mod:`livedocs_runner.profiling`) receives where the run's time went.
    """
    record = record or new_record(plan, store, options)
    profile = profiler.start(record.id, plan.scenario) if profiler is not None else None
    started = time.perf_counter()
    try:
        return execute_profiled(plan, store, record, options=options, kernels=kernels, control=control,
                                progress=progress, profile=profile)
    finally:
        if profile is not None:
            profile.close(time.perf_counter() - started)


def maybe_phase(profile: RunProfile | None, name: str) -> Any:
    """``profile.phase(name)`` when profiling, else a no-op context (profiling.py loads only when used)."""
    if profile is None:
        return contextlib.nullcontext()
    return profile.phase(name)


def execute_profiled(plan: RunPlan, store: Store, record: RunRecord, *, options: RunOptions,
                     kernels: KernelSource | None, control: RunControl | None, progress: ProgressFn | None,
                     profile: RunProfile | None, pending: dict[str, Any] | None = None) -> RunRecord:
    """:func:`execute_run` for a recorded plan, adding its phase times to ``profile`` (when given).

    ``pending``: :func:`~livedocs_runner.prepare.start_changes` already made for ``record`` and not yet
    written (``run_one`` makes them to look up the cache); they are written with ``running``.
    """
    control = control or RunControl()
    try:
        check_kernel(plan)
    except LivedocsError as exc:  # the batch checked it already; a queued app run ends failed, never stuck
        error = RunError(ename=type(exc).__name__, evalue=str(exc))
        return store.update(record, status="failed", finished_at=now(), error=error.to_json())
    pending = dict(pending or {})
    if not pending and "kernel" not in record.environment:  # not started yet
        try:
            with maybe_phase(profile, "prepare"):
                pending = start_changes(plan, store)
        except Exception as exc:  # noqa: BLE001 - an unreadable input file: the record must still end final
            return finish_crashed(store, record, exc)
    try:
        with maybe_phase(profile, "prepare"):
            pending.update(snapshot_changes(plan, store, pending.get("inputs", record.inputs)))
    except Exception as exc:  # noqa: BLE001 - e.g. a bad $LIVEDOCS_SNAPSHOT_MAX_MB set after the batch was checked
        return finish_crashed(store, record, exc, pending=pending)
    if control.is_cancelled(record.id):
        return finish_cancelled(store, record, pending=pending)
    if kernels is None:
        from .kernels import FreshKernels

        kernels = FreshKernels(options.startup_timeout)
    return _Execution(plan, store, options, record, kernels, control, progress, profile, pending).run()


class _Execution:
    """The state of one executing run: its kernel, watchdog and partial-save clock."""

    def __init__(self, plan: RunPlan, store: Store, options: RunOptions, record: RunRecord,
                 kernels: KernelSource, control: RunControl, progress: ProgressFn | None,
                 profile: RunProfile | None = None, pending: dict[str, Any] | None = None) -> None:
        self.plan, self.store, self.options, self.record = plan, store, options, record
        self.pending = pending or {}  # start changes not yet written: written with ``running``
        self.kernels, self.control, self.progress, self.profile = kernels, control, progress, profile
        self.run_dir = Path(record.run_dir)
        self.output_path = self.run_dir / "output.ipynb"
        self.km: Any = None
        self.nb: nbformat.NotebookNode | None = None
        self.timed_out = False
        self.done = threading.Event()
        self.cell_index = -1
        from .cells import Numbering

        self.numbering: Numbering = Numbering([])
        self._save_timer: Any = None  # the next save while the run executes (an asyncio timer on nbclient's loop)
        self.started = 0.0
        self.first_cell_at: float | None = None

    def run(self) -> RunRecord:
        # nbclient (and jupyter_client, zmq) load only when something executes: cache hits stay fast
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        from ._nbclient import AHEAD, RunClient
        from .cells import Numbering
        from .inject import is_python, parameterize
        from .kernels import FreshKernels, KernelRequest, KernelStartError, chains_requests, leave_kernel_at_exit

        meta = {"run_id": self.record.id, "scenario": self.plan.scenario, "config": self.record.config}
        language = kernel_language(self.plan)
        self.nb = nb = parameterize(self.plan.notebook.node, self.plan.parameters, metadata=meta,
                                    language=language, kernel_name=self.plan.kernel_name)
        warm_imports = self.plan.warm_imports
        if not is_python(language):  # warm pools and the fork server are Python-only: a fresh kernel, no imports
            self.kernels, warm_imports = FreshKernels(self.options.startup_timeout), ()
        self.numbering = Numbering(nb.cells)
        self.started = time.monotonic()
        with maybe_phase(self.profile, "store"):
            self.record = self.store.update(self.record, **self.pending, status="running", started_at=now())
        self._report_progress("running")
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a read-only or full home: nothing can be kept, so nothing is run
            return self._finish(nb, "failed", write_error(exc, "the run folder"))
        watchdog = threading.Thread(target=self._watch, name=f"watchdog-{self.record.id}", daemon=True)
        watchdog.start()
        error: RunError | None = None
        status = "succeeded"
        client: Any = None
        try:
            if self.options.report:
                threading.Thread(target=_warm_report, name="livedocs-report-warm-up", daemon=True).start()
            cwd = self.plan.cwd  # resolves the notebook's path: once
            request = KernelRequest(self.plan.kernel_name, cwd, warm_imports)
            with maybe_phase(self.profile, "acquire"):
                self.km = self.kernels.acquire(request)
            if self.profile is not None:
                self.profile.kernel_start = getattr(self.km, "livedocs_start_s", None)
            if self.control.is_cancelled(self.record.id):
                raise DeadKernelError("stopped before the first cell")
            with maybe_phase(self.profile, "execute"):
                client = RunClient(nb, km=self.km, timeout=None, kernel_name=self.plan.kernel_name,
                                   startup_timeout=int(self.options.startup_timeout), record_timing=True,
                                   resources={"metadata": {"path": str(cwd)}},
                                   on_cell_start=self._on_cell_start,
                                   on_notebook_start=lambda **_: leave_kernel_at_exit(client),
                                   ahead=AHEAD if chains_requests(self.km) else 0)
                client.execute(cwd=str(cwd))
        except CellExecutionError as exc:
            if not is_clean_exit(exc.ename, exc.evalue):  # sys.exit(0): the cells after it are skipped
                status, error = "failed", self._cell_error(exc.ename, exc.evalue, str(exc))
        except (DeadKernelError, CellTimeoutError, KernelStartError, RuntimeError, TimeoutError) as exc:
            status, error = self._interrupted(exc)
        except LivedocsError as exc:  # e.g. a warm import that is not a module name: refused, not run
            status, error = "failed", RunError(ename=type(exc).__name__, evalue=str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. an output nbformat rejects: the record must end final
            status, error = "failed", self._cell_error(type(exc).__name__, str(exc),
                                                       formatted_traceback(exc))
        finally:
            self.done.set()
            if self._save_timer is not None:  # (nbclient's loop is not running now: cancelled from its thread)
                self._save_timer.cancel()
            if client is not None and client.kc is not None:
                with contextlib.suppress(Exception):
                    client.kc.stop_channels()  # nbclient leaves them open when it does not own the kernel
            if self.km is not None:
                with maybe_phase(self.profile, "release"):
                    self.kernels.release(self.km)
        return self._finish(nb, status, error)

    # --- hooks and watchdog ---------------------------------------------------------------

    def _on_cell_start(self, cell: Any, cell_index: int) -> None:
        if self.first_cell_at is None:
            import asyncio

            self.first_cell_at = time.monotonic()  # the --timeout and the save clocks start here
            self._save_timer = asyncio.get_running_loop().call_later(SAVE_EVERY_S, self._save_while_running)
        self.cell_index = cell_index
        if self.numbering.is_analyst_code(cell_index):  # the injected cell is not counted
            self._report_progress("running")

    def _save_while_running(self) -> None:
        """Save the notebook as it stands (every output received, the running cell's so far) and plan the next save.
        On nbclient's event loop, between two messages: the notebook is never saved halfway through an update."""
        import asyncio

        if self.done.is_set():
            return
        try:
            self._save(self.nb)  # partial output survives even a killed runner process
        except Exception as exc:  # noqa: BLE001 - a full disk must not stop the notebook; _finish reports it
            _log().debug("run %s: cannot save partial output: %s", self.record.id, exc)
        self._save_timer = asyncio.get_running_loop().call_later(SAVE_EVERY_S, self._save_while_running)

    def _watch(self) -> None:
        while not self.done.wait(0.1):
            started = self.first_cell_at
            deadline = started + self.options.timeout if self.options.timeout and started is not None else None
            if self.control.is_cancelled(self.record.id) or (deadline and time.monotonic() > deadline):
                self.timed_out = not self.control.is_cancelled(self.record.id)
                if self.km is not None:
                    from .kernels import kill_kernel_now

                    kill_kernel_now(self.km)
                    if self.done.wait(2.0):
                        return

    def _report_progress(self, status: str) -> None:
        if self.progress is not None:
            numbering = self.numbering
            cell = numbering.code_cells_started(self.cell_index)
            step = numbering.step(self.cell_index) if numbering.is_analyst_code(self.cell_index) else ""
            self.progress(Progress(self.record.id, self.plan.scenario, status, cell, numbering.code_cells,
                                   time.monotonic() - self.started, step))

    # --- outcome --------------------------------------------------------------------------

    def _cell_error(self, ename: str, evalue: str, detail: str) -> RunError:
        """The error of the cell that was running: ``cell`` in output.ipynb, and the analyst's numbering."""
        from .cells import locate

        return locate(RunError(ename=ename, evalue=evalue, cell=self.cell_index + 1 if self.cell_index >= 0 else None,
                               traceback=detail), self.numbering)

    def _located(self, error: RunError) -> RunError:
        from .cells import locate

        return locate(error, self.numbering)

    def _interrupted(self, exc: BaseException) -> tuple[str, RunError]:
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        from .kernels import KernelStartError

        if self.control.is_cancelled(self.record.id):
            return "cancelled", self._cell_error("Cancelled", "the run was cancelled; its kernel was stopped", "")
        if self.timed_out or isinstance(exc, CellTimeoutError):
            return "failed", self._cell_error("Timeout", f"the run exceeded its time limit of {self.options.timeout:g} s "
                                              "(counted from its first cell); the kernel was stopped", "")
        if isinstance(exc, KernelStartError):
            return "failed", RunError(ename="KernelStartError", evalue=str(exc))
        if isinstance(exc, DeadKernelError):
            return "failed", self._cell_error("DeadKernelError", "the kernel process died while running this cell "
                                              "(os._exit, a crash or running out of memory)", str(exc))
        return "failed", self._cell_error(type(exc).__name__, str(exc) or "the kernel died", "")

    def _save(self, nb: nbformat.NotebookNode) -> None:
        """Write output.ipynb: the bytes ``nbformat.writes`` gives, without its validation, which only logs and
        costs ~1 ms a save. The notebook is ours and valid by construction: the batch validated the analyst's
        notebook, nbformat validated the injected cell and every output nbclient added, and the report's
        exporter validates it once more."""
        import nbformat

        text = nbformat.v4.writes(nb) if nb.get("nbformat") == 4 else nbformat.writes(nb)
        atomic_write(self.output_path, text)

    def _finish(self, nb: nbformat.NotebookNode, status: str, error: RunError | None) -> RunRecord:
        """Save the notebook, collect outputs, write the report and record the outcome.

        Each step may fail (a full disk, a read-only run folder, a bad image in an output): the
        first such failure fails a run that had succeeded, later steps still run, and the record
        always reaches its final status.
        """
        with maybe_phase(self.profile, "outputs"):
            metrics, files, problems = self._write_outputs(nb)
        finished = time.monotonic()
        language = nb.metadata.get("language_info", {})  # what the kernel itself reported
        environment = {**self.record.environment, "kernel_language": language.get("name"),
                       "kernel_language_version": language.get("version")}
        with contextlib.suppress(Exception):  # how to show the results: record()'s keywords under the config's
            environment.update(result_specs(read_specs(nb), self.plan.results))
        status, error = with_problems(status, error, problems)
        record = dataclasses.replace(
            self.record, status=status, error=error.to_json() if error else None, metrics=metrics,
            environment=environment, outputs=[str(f) for f in files],
            output_notebook=str(self.output_path) if self.output_path.is_file() else None,
            finished_at=now(), duration_s=round(finished - self.started, 3))
        if self.options.report and self.run_dir.is_dir():
            try:
                from .report import write_report
                with maybe_phase(self.profile, "report"):
                    path = write_report(record, nb, self.run_dir / "report.html")
                record = dataclasses.replace(record, report_html=str(path))
            except Exception as exc:  # noqa: BLE001
                problem = write_error(exc, "the report") if isinstance(exc, OSError) else RunError(
                    ename="ReportError", evalue=f"the HTML report could not be built ({type(exc).__name__}: {exc})",
                    traceback=formatted_traceback(exc))
                status, error = with_problems(status, error, [problem])
                record = dataclasses.replace(record, status=status, error=error.to_json() if error else None)
        with maybe_phase(self.profile, "store"):
            self.record = self._record_final(record)
        self._report_progress(status)
        return self.record

    def _write_outputs(self, nb: nbformat.NotebookNode) -> tuple[dict[str, Any], list[Path], list[RunError]]:
        """Save output.ipynb and collect figures and metrics: (metrics, files, problems met doing so)."""
        problems: list[RunError] = []
        try:
            self._save(nb)
        except Exception as exc:  # noqa: BLE001
            problems.append(write_error(exc, "the output notebook"))
        metrics: dict[str, Any] = {}
        files: list[Path] = []
        try:
            metrics, files = collect_outputs(nb, self.run_dir / "outputs")
        except OutputProblem as exc:
            problems.append(self._located(RunError(ename="OutputError", evalue=str(exc), cell=exc.cell)))
        except Exception as exc:  # noqa: BLE001
            problems.append(write_error(exc, "the run's outputs (figures, metrics.json)"))
        if problems and not metrics:
            with contextlib.suppress(Exception):
                from .outputs import read_metrics

                metrics = read_metrics(nb)
        return metrics, files, problems

    def _record_final(self, record: RunRecord) -> RunRecord:
        fields = ("status", "error", "metrics", "environment", "outputs", "output_notebook", "finished_at",
                  "duration_s", "report_html")
        try:
            return self.store.update(record, **{k: getattr(record, k) for k in fields})
        except Exception as exc:  # noqa: BLE001 - e.g. the metrics would not fit: keep at least the outcome
            _log().warning("run %s: recording its results failed (%s); recording the outcome only", record.id, exc)
            status, error = with_problems(record.status, RunError.from_json(record.error),
                                           [write_error(exc, "the run's record")])
            outcome = {"status": status, "error": error.to_json() if error else None,
                       "output_notebook": record.output_notebook, "finished_at": record.finished_at,
                       "duration_s": record.duration_s}
        try:
            return self.store.update(self.record, **outcome)
        except Exception as exc:  # noqa: BLE001 - the store itself cannot be written: say so, keep the batch going
            _log().error("run %s: its outcome could not be recorded either (%s); the store shows it as running "
                      "until `livedocs runs` finds its process gone", record.id, exc)
            return dataclasses.replace(record, **outcome)


def _warm_report() -> None:
    from .report import warm_up

    warm_up()
