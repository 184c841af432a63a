"""One run: inject parameters, execute with nbclient in a kernel of its own, record the outcome.

Whatever happens (a failing cell, a timeout, a dead kernel, cancellation) the record ends in a
final status with a structured error, and the executed notebook is kept with its outputs up to
that point. nbclient/jupyter errors are translated into the record's ``error`` field here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .inject import parameterize
from .kernels import FreshKernels, KernelRequest, KernelSource, KernelStartError, kill_kernel_now
from .outputs import collect_outputs
from .plan import RunPlan
from .provenance import current_user, environment, hash_inputs
from .records.store import RunRecord, Store, atomic_write, new_id, now

if TYPE_CHECKING:
    import nbformat

SAVE_EVERY_S = 1.0


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How runs are executed. Usage: ``RunOptions(timeout=600, trigger="app", user="ana")``."""

    timeout: float | None = None  # seconds for the whole run; the kernel is killed after it
    trigger: str = "cli"
    user: str | None = None
    report: bool = True
    use_cache: bool = True
    startup_timeout: float = 60.0


@dataclass(frozen=True)
class Progress:
    """A progress event: ``cell`` of ``cells`` code cells has started (0 before the first)."""

    run_id: str
    scenario: str
    status: str
    cell: int = 0
    cells: int = 0
    elapsed: float = 0.0


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


def cache_key(plan: RunPlan, inputs: list[dict[str, Any]], env: dict[str, Any]) -> str:
    """Identity of a run's inputs: notebook, parameters, input files and environment."""
    identity = {"notebook": plan.notebook.sha256, "parameters": plan.parameters,
                "inputs": sorted((i["parameter"], i["sha256"]) for i in inputs),
                "packages": env.get("packages_sha256"), "kernel": plan.kernel_name}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def plan_cache_key(plan: RunPlan) -> str:
    """The cache key ``plan`` would get if it started now, without recording or running anything.

    Lets the app offer an earlier identical result (``store.find_cached``) before submitting.
    """
    return cache_key(plan, hash_inputs(plan.parameters, list(plan.path_params)), environment(plan.kernel_name))


def new_record(plan: RunPlan, store: Store, options: RunOptions) -> RunRecord:
    """Add a queued record for ``plan`` (inputs are hashed when it starts)."""
    run_id = new_id()
    copy = store.keep_notebook(plan.notebook.raw, plan.notebook.sha256)
    return store.add(RunRecord(
        id=run_id, status="queued", notebook=str(plan.notebook.path.resolve()),
        notebook_sha256=plan.notebook.sha256, notebook_copy=str(copy),
        config=str(plan.config) if plan.config else None, title=plan.title, scenario=plan.scenario,
        parameters=dict(plan.parameters), trigger=options.trigger, user=options.user or current_user(),
        rerun_of=plan.rerun_of, environment={"hostname": platform.node(), "pid": os.getpid()},
    ))


def start_record(plan: RunPlan, store: Store, record: RunRecord) -> RunRecord:
    """Hash the inputs and capture the environment just before execution."""
    inputs = hash_inputs(plan.parameters, list(plan.path_params))
    env = environment(plan.kernel_name)
    return store.update(record, inputs=inputs, environment=env, cache_key=cache_key(plan, inputs, env))


def execute_run(plan: RunPlan, store: Store, *, options: RunOptions = RunOptions(),
                record: RunRecord | None = None, kernels: KernelSource | None = None,
                control: RunControl | None = None, progress: ProgressFn | None = None) -> RunRecord:
    """Execute ``plan`` in a fresh kernel and return its final record (never raises for a failed run)."""
    control = control or RunControl()
    record = record or new_record(plan, store, options)
    if record.cache_key is None:
        record = start_record(plan, store, record)
    if control.is_cancelled(record.id):
        return finish_cancelled(store, record)
    return _Execution(plan, store, options, record, kernels or FreshKernels(options.startup_timeout),
                      control, progress).run()


def finish_cancelled(store: Store, record: RunRecord) -> RunRecord:
    return store.update(record, status="cancelled", finished_at=now(),
                        error={"cell": None, "ename": "Cancelled", "evalue": "cancelled before it started"})


class _Execution:
    """The state of one executing run: its kernel, watchdog and partial-save clock."""

    def __init__(self, plan: RunPlan, store: Store, options: RunOptions, record: RunRecord,
                 kernels: KernelSource, control: RunControl, progress: ProgressFn | None) -> None:
        self.plan, self.store, self.options, self.record = plan, store, options, record
        self.kernels, self.control, self.progress = kernels, control, progress
        self.run_dir = Path(record.run_dir)
        self.output_path = self.run_dir / "output.ipynb"
        self.km: Any = None
        self.nb: nbformat.NotebookNode | None = None
        self.timed_out = False
        self.done = threading.Event()
        self.cell_index = -1
        self.code_cells: dict[int, int] = {}
        self.last_save = 0.0
        self.started = 0.0

    def run(self) -> RunRecord:
        # nbclient (and jupyter_client, zmq) load only when something executes: cache hits stay fast
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

        meta = {"run_id": self.record.id, "scenario": self.plan.scenario, "config": self.record.config}
        self.nb = nb = parameterize(self.plan.notebook.node, self.plan.parameters, metadata=meta)
        self.code_cells = {i: k + 1 for k, i in enumerate(i for i, c in enumerate(nb.cells) if c.cell_type == "code")}
        self.started = time.monotonic()
        self.record = self.store.update(self.record, status="running", started_at=now())
        self._report_progress("running")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.options.report:
            threading.Thread(target=_warm_report, name="livedocs-report-warm-up", daemon=True).start()
        watchdog = threading.Thread(target=self._watch, name=f"watchdog-{self.record.id}", daemon=True)
        watchdog.start()
        error: dict[str, Any] | None = None
        status = "succeeded"
        try:
            self.km = self.kernels.acquire(KernelRequest(self.plan.kernel_name, self.plan.cwd, self.plan.warm_imports))
            if self.control.is_cancelled(self.record.id) or self.timed_out:
                raise DeadKernelError("stopped before the first cell")
            client = NotebookClient(nb, km=self.km, timeout=None, kernel_name=self.plan.kernel_name,
                                    startup_timeout=int(self.options.startup_timeout), record_timing=True,
                                    resources={"metadata": {"path": str(self.plan.cwd)}},
                                    on_cell_start=self._on_cell_start, on_cell_executed=self._on_cell_executed)
            client.execute(cwd=str(self.plan.cwd))
            if client.kc is not None:
                client.kc.stop_channels()
        except CellExecutionError as exc:
            status, error = "failed", self._cell_error(exc.ename, exc.evalue, str(exc))
        except (DeadKernelError, CellTimeoutError, KernelStartError, RuntimeError, TimeoutError) as exc:
            status, error = self._interrupted(exc)
        finally:
            self.done.set()
            if self.km is not None:
                self.kernels.release(self.km)
        return self._finish(nb, status, error)

    # --- hooks and watchdog ---------------------------------------------------------------

    def _on_cell_start(self, cell: Any, cell_index: int) -> None:
        self.cell_index = cell_index
        if cell_index in self.code_cells:
            self._report_progress("running")

    def _on_cell_executed(self, cell: Any, cell_index: int, execute_reply: Any) -> None:
        if time.monotonic() - self.last_save >= SAVE_EVERY_S:
            self._save(self.nb)  # partial output survives even a killed runner process

    def _watch(self) -> None:
        deadline = self.started + self.options.timeout if self.options.timeout else None
        while not self.done.wait(0.1):
            if self.control.is_cancelled(self.record.id) or (deadline and time.monotonic() > deadline):
                self.timed_out = not self.control.is_cancelled(self.record.id)
                if self.km is not None:
                    kill_kernel_now(self.km)
                    if self.done.wait(2.0):
                        return

    def _report_progress(self, status: str) -> None:
        if self.progress is not None:
            cell = self.code_cells.get(self.cell_index, 0)
            self.progress(Progress(self.record.id, self.plan.scenario, status, cell, len(self.code_cells),
                                   time.monotonic() - self.started))

    # --- outcome --------------------------------------------------------------------------

    def _cell_error(self, ename: str, evalue: str, detail: str) -> dict[str, Any]:
        return {"cell": self.cell_index + 1 if self.cell_index >= 0 else None, "ename": ename,
                "evalue": evalue, "traceback": detail[-4000:]}

    def _interrupted(self, exc: BaseException) -> tuple[str, dict[str, Any]]:
        from nbclient.exceptions import CellTimeoutError, DeadKernelError

        if self.control.is_cancelled(self.record.id):
            return "cancelled", self._cell_error("Cancelled", "the run was cancelled; its kernel was stopped", "")
        if self.timed_out or isinstance(exc, CellTimeoutError):
            return "failed", self._cell_error("Timeout", f"the run exceeded its time limit of {self.options.timeout:g} s; "
                                              "the kernel was stopped", "")
        if isinstance(exc, KernelStartError):
            return "failed", {"cell": None, "ename": "KernelStartError", "evalue": str(exc), "traceback": ""}
        if isinstance(exc, DeadKernelError):
            return "failed", self._cell_error("DeadKernelError", "the kernel process died while running this cell "
                                              "(os._exit, a crash or running out of memory)", str(exc))
        return "failed", self._cell_error(type(exc).__name__, str(exc) or "the kernel died", "")

    def _save(self, nb: nbformat.NotebookNode) -> None:
        import nbformat

        atomic_write(self.output_path, nbformat.writes(nb))
        self.last_save = time.monotonic()

    def _finish(self, nb: nbformat.NotebookNode, status: str, error: dict[str, Any] | None) -> RunRecord:
        self._save(nb)
        metrics, files = collect_outputs(nb, self.run_dir / "outputs")
        finished = time.monotonic()
        language = nb.metadata.get("language_info", {})  # what the kernel itself reported
        environment = {**self.record.environment, "kernel_language": language.get("name"),
                       "kernel_language_version": language.get("version")}
        record = dataclasses.replace(self.record, status=status, error=error, metrics=metrics, environment=environment,
                                     outputs=[str(f) for f in files], output_notebook=str(self.output_path),
                                     finished_at=now(), duration_s=round(finished - self.started, 3))
        if self.options.report:
            from .report import write_report
            record = dataclasses.replace(record, report_html=str(write_report(record, nb, self.run_dir / "report.html")))
        self.record = self.store.update(record, **{k: getattr(record, k) for k in (
            "status", "error", "metrics", "environment", "outputs", "output_notebook", "finished_at", "duration_s",
            "report_html")})
        self._report_progress(status)
        return self.record


def _warm_report() -> None:
    from .report import warm_up

    warm_up()
