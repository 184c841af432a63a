"""Before a run executes: its record, its cache identity, and the check that its kernel can run it.

Moved from ``execute.py`` (which re-exports every name): what is decided and recorded about a run
before any kernel is involved.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .plan import RunPlan
from .provenance import capture_environment, current_user, environment, find_kernelspec, hash_inputs
from .records.environments import store_environment, variables
from .records.store import RunRecord, Store, new_id

if TYPE_CHECKING:
    from .execute import RunOptions


def cache_key(plan: RunPlan, inputs: list[dict[str, Any]], env: dict[str, Any]) -> str | None:
    """Identity of a run's inputs: notebook, parameters, input files and folders, and the kernel's
    interpreter, Python and packages. None when the run must not be answered from (or answer) the
    cache: the config says ``cache: false``, or an input's contents are unknown (a folder too big)."""
    if not plan.cache or any(i.get("cacheable") is False for i in inputs):
        return None
    identity = {"notebook": plan.notebook.sha256, "parameters": plan.parameters,
                "inputs": sorted((i["parameter"], i.get("type"), i["sha256"]) for i in inputs),
                "packages": env.get("packages_sha256"), "executable": env.get("executable"),
                "python": env.get("python"), "kernel": plan.kernel_name}
    if env.get("variables"):  # a config's ``env:`` (secrets as set/unset only); absent: keys as before
        identity["variables"] = env["variables"]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def plan_cache_key(plan: RunPlan, home: str | Path | None = None) -> str | None:
    """The cache key ``plan`` would get if it started now, without recording or running anything.

    Lets the app offer an earlier identical result (``store.find_cached``) before submitting. None
    for a plan that is never cached. ``home`` keeps the kernel's package listing between calls.
    """
    if not plan.cache:
        return None
    env = environment(plan.kernel_name, interpreters_cache(home))
    if plan.env_vars:
        env["variables"] = variables(plan.env_vars)
    return cache_key(plan, hash_inputs(plan.parameters, list(plan.path_params)), env)


def interpreters_cache(home: str | Path | None) -> Path | None:
    """Where kernel interpreters' package listings are kept (see ``provenance.interpreter_info``)."""
    return Path(home, "cache", "interpreters") if home is not None else None


def new_record(plan: RunPlan, store: Store, options: RunOptions) -> RunRecord:
    """Add a queued record for ``plan`` (inputs are hashed when it starts)."""
    return store.add(queued_record(plan, store, options))


def queued_record(plan: RunPlan, store: Store, options: RunOptions) -> RunRecord:
    """The queued record for ``plan``, not yet stored (the durable queue stores it with its job); keeps the
    notebook's bytes in the home."""
    run_id = plan.run_id or new_id()
    copy = store.keep_notebook(plan.notebook.raw, plan.notebook.sha256)
    return RunRecord(
        id=run_id, status="queued", notebook=str(plan.notebook.path.resolve()),
        notebook_sha256=plan.notebook.sha256, notebook_copy=str(copy),
        config=str(plan.config) if plan.config else None, title=plan.title, scenario=plan.scenario,
        parameters=dict(plan.parameters),
        trigger=f"{options.trigger}:{plan.rerun_variant}" if plan.rerun_variant else options.trigger, user=options.user or current_user(),
        auth=options.auth, rerun_of=plan.rerun_of, environment={"hostname": platform.node(), "pid": os.getpid()},
    )


def start_changes(plan: RunPlan, store: Store) -> dict[str, Any]:
    """What starting ``plan`` records (``inputs``, ``environment``, ``cache_key``), not yet written: the
    caller writes it with the run's next change (``running``, or the cache answer), one transaction fewer.

    Hashes the inputs and captures the environment just before execution; the environment is kept
    once in the home (``environments/``) and the record names it (``environment_id``)."""
    inputs = hash_inputs(plan.parameters, list(plan.path_params))
    kernel = capture_environment(plan.kernel_name, interpreters_cache(store.home))
    env = dict(kernel.summary)
    declared = variables(plan.env_vars)
    if declared:
        env["variables"] = declared
    env["environment_id"] = store_environment(store.home, kernel, declared)
    return {"inputs": inputs, "environment": env, "cache_key": cache_key(plan, inputs, env)}


def snapshot_changes(plan: RunPlan, store: Store, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"inputs": ...}`` with the bytes of every input of ``inputs`` kept in the home (``blobs/``), or ``{}``
    when there is nothing to keep; not yet written (see :func:`start_changes`)."""
    from .records.snapshots import snapshot_inputs

    if not inputs or all("snapshot" in i for i in inputs):
        return {}
    return {"inputs": snapshot_inputs(inputs, store.home, skip=plan.no_snapshot)}


def kernel_language(plan: RunPlan) -> str:
    """The language of the kernel ``plan`` runs in: its kernelspec's, else the notebook's metadata's."""
    spec = find_kernelspec(plan.kernel_name)
    return spec.language if spec is not None and spec.language else plan.notebook.language


def check_kernel(plan: RunPlan) -> str:
    """Refuse ``plan`` before anything runs when its kernel is not installed or its parameters cannot be
    written in the kernel's language (ConfigError / ParameterError, exit 2); its language otherwise."""
    if find_kernelspec(plan.kernel_name) is None:
        where = f"{plan.config} (kernel:)" if plan.config and plan.kernel_name != plan.notebook.kernel_name \
            else f"{plan.notebook.path} (metadata.kernelspec.name)"
        raise ConfigError(
            f"kernel {plan.kernel_name!r}, named by {where}, is not installed; nothing was run.",
            hint="See the installed kernels with `jupyter kernelspec list` (for R: `apt-get install r-cran-irkernel` "
                 "and `R -e 'IRkernel::installspec(user = FALSE)'`).")
    language = kernel_language(plan)
    if plan.parameters:  # ParameterError for a value it cannot write; no parameters: nothing is injected
        from .inject_r import check_parameters  # no papermill (and so no click) to check a plan

        check_parameters(plan.parameters, language, plan.kernel_name)
    return language


def check_kernels(plans: list[RunPlan]) -> None:
    """:func:`check_kernel` for every plan of a batch, before any of them is recorded or run."""
    for plan in plans:
        check_kernel(plan)


__all__ = ["cache_key", "check_kernel", "check_kernels", "interpreters_cache", "kernel_language", "new_record",
           "plan_cache_key", "snapshot_changes", "start_changes"]
