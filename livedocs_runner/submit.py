"""Submitting runs to the durable queue: a plan becomes a ``queued`` record plus a JSON job, and a worker on
any machine sharing the store rebuilds the same plan from them.

The job says everything a plan holds except the notebook's bytes: those are the copy the store kept when the
run was submitted (``record.notebook_copy``), so a worker executes exactly what was submitted even if the file
changed since. Paths are absolute (as :func:`dask_executor.portable` makes them for a Dask worker).

    record = enqueue(plan, store, RunOptions(trigger="app", user="ana"))   # -> a queued RunRecord
    plan, options = plan_from_job(claimed.job, claimed.record)             # on the worker
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .errors import LivedocsError
from .execute import RunOptions, queued_record
from .plan import RunPlan
from .records.store import RunRecord, Store

JOB_VERSION = 1
_OPTIONS = ("timeout", "trigger", "user", "report", "use_cache", "startup_timeout", "auth")


class BadJob(LivedocsError):
    """A claimed job that cannot be run here (another version's, or its notebook copy is gone); the worker
    records it as the run's failure (``BadJob``)."""


def job_payload(plan: RunPlan, options: RunOptions) -> dict[str, Any]:
    """The JSON-able job for ``plan`` run with ``options`` (see :func:`plan_from_job`)."""
    from .results import specs_to_json

    job = {
        "version": JOB_VERSION,
        "plan": {
            "notebook": str(Path(plan.notebook.path).resolve()), "notebook_sha256": plan.notebook.sha256,
            "parameters": dict(plan.parameters), "scenario": plan.scenario,
            "config": str(Path(plan.config).resolve()) if plan.config else None, "title": plan.title,
            "path_params": list(plan.path_params), "kernel_name": plan.kernel_name,
            "warm_imports": list(plan.warm_imports), "rerun_of": plan.rerun_of, "labels": dict(plan.labels),
            "cache": plan.cache, "no_snapshot": list(plan.no_snapshot), "run_id": plan.run_id,
            "rerun_variant": plan.rerun_variant, "env_vars": list(plan.env_vars),
            "results": specs_to_json(plan.results),
        },
        "options": {name: getattr(options, name) for name in _OPTIONS},
    }
    json.dumps(job)  # TypeError now, in the submitter, for a value that could not travel
    return job


def enqueue(plan: RunPlan, store: Store, options: RunOptions) -> RunRecord:
    """Store ``plan`` as a ``queued`` run with its job (one transaction); any worker may then claim it."""
    job = job_payload(plan, options)
    record = queued_record(plan, store, options)
    # no pid: the submitter (``livedocs run --queue``) may be long gone when it runs, and that must not make
    # ``abandon_stale`` cancel it; the worker that runs it records its own host and pid when it starts
    record = dataclasses.replace(record, environment={"hostname": record.environment.get("hostname")})
    return store.enqueue(record, job)


def plan_from_job(job: dict[str, Any], record: RunRecord) -> tuple[RunPlan, RunOptions]:
    """The plan and options a claimed job describes; the notebook is the copy kept at submission.

    Raises :class:`BadJob` for a job this version cannot read or whose notebook copy is gone:
    the worker records that as the run's failure.
    """
    from .notebook import load_notebook
    from .results import specs_from_json

    if not isinstance(job, dict) or job.get("version") != JOB_VERSION:
        version = job.get("version") if isinstance(job, dict) else None
        raise BadJob(f"the queued job has version {version!r}; this livedocs-runner reads version {JOB_VERSION}.",
                     hint="Run workers of the same livedocs-runner version as the app and CLI that submit.")
    spec, given = job["plan"], job["options"]
    copy = Path(record.notebook_copy or "")
    if not record.notebook_copy or not copy.is_file():
        raise BadJob(f"the notebook copy kept at submission ({copy}) is missing here.",
                     hint="Workers must see the same home folder (a shared filesystem) as the app and CLI.")
    notebook = dataclasses.replace(load_notebook(copy), path=Path(spec["notebook"]))
    plan = RunPlan(
        notebook=notebook, parameters=spec["parameters"], scenario=spec["scenario"],
        config=Path(spec["config"]) if spec.get("config") else None, title=spec.get("title") or "",
        path_params=tuple(spec.get("path_params") or ()), kernel_name=spec["kernel_name"],
        warm_imports=tuple(spec.get("warm_imports") or ()), rerun_of=spec.get("rerun_of"),
        labels=spec.get("labels") or {}, cache=bool(spec.get("cache", True)),
        no_snapshot=tuple(spec.get("no_snapshot") or ()), run_id=spec.get("run_id"),
        rerun_variant=spec.get("rerun_variant"), env_vars=tuple(spec.get("env_vars") or ()),
        results=specs_from_json(spec.get("results")),
    )
    options = RunOptions(**{name: given[name] for name in _OPTIONS if name in given})
    return plan, options


def cancel(store: Store, run_id: str) -> RunRecord:
    """Cancel a run of the queue through the store: a queued one ends ``cancelled`` at once, a running one
    is stopped by its worker at its next heartbeat. RunNotFound (exit 2) for a run that has ended or that
    runs outside the queue (a plain ``livedocs run``: stop that one with Ctrl-C where it runs)."""
    from .errors import RunNotFound
    from .records.store import FINAL

    record = store.get(run_id)
    if record.status not in FINAL and store.queue_place(record.id) is None and store.progress(record.id) is None:
        record = store.get(record.id)  # it may have just ended
        if record.status not in FINAL:
            raise RunNotFound(f"run {record.id} is {record.status} outside the queue (started by `livedocs run` "
                              "without --queue), so no worker can stop it.",
                              hint="Stop it with Ctrl-C in the terminal that runs it.")
    if record.status in FINAL:
        raise RunNotFound(f"run {record.id} has already ended ({record.status}); there is nothing to cancel.",
                          hint=f"See it with `livedocs show {record.id}`.")
    return store.request_cancel(record.id)


__all__ = ["BadJob", "JOB_VERSION", "cancel", "enqueue", "job_payload", "plan_from_job"]
