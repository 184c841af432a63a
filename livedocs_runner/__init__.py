"""livedocs-runner: run Jupyter notebooks as parameterized, recorded, reproducible jobs.

The public API is listed in ``__all__``. Inside a notebook only :func:`record` is needed, so the
rest is imported lazily: a kernel that runs ``from livedocs_runner import record`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .recording import record

__version__ = "0.2.0"

_LAZY = {
    "LivedocsError": "errors", "InputError": "errors", "NotebookError": "errors",
    "ConfigError": "errors", "ParameterError": "errors", "RunNotFound": "errors",
    "RunFailed": "errors", "Interrupted": "errors", "RunError": "errors",
    "ParamSpec": "params", "Schema": "schema",
    "Config": "scenarios", "Scenario": "scenarios", "load_config": "scenarios", "load_target": "scenarios",
    "load_notebook": "notebook",
    "RunPlan": "plan", "plan_runs": "plan",
    "RunRecord": "records.store", "Store": "records.store",
    "RunOptions": "execute", "RunControl": "execute", "Progress": "execute", "execute_run": "execute",
    "run_batch": "batch", "plan_rerun": "rerun",
    "render_report": "report", "compare": "compare",
    "build_form": "forms", "form_values_to_params": "forms",
    "JobQueue": "jobs", "WarmPool": "pool", "PoolOptions": "pool",
    "Role": "access", "Identity": "access", "AccessPolicy": "access", "AccessDenied": "access", "load_access": "access",
    "AuthSettings": "auth", "load_auth": "auth",
    "ResultSpec": "results", "format_value": "result_format", "format_delta": "result_format", "specs_for": "results",
}

__all__ = ["record", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'livedocs_runner' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .access import AccessDenied, AccessPolicy, Identity, Role, load_access
    from .auth import AuthSettings, load_auth
    from .batch import run_batch
    from .rerun import plan_rerun
    from .compare import compare
    from .errors import (ConfigError, InputError, Interrupted, LivedocsError, NotebookError,
                         ParameterError, RunError, RunFailed, RunNotFound)
    from .execute import Progress, RunControl, RunOptions, execute_run
    from .forms import build_form, form_values_to_params
    from .jobs import JobQueue
    from .notebook import load_notebook
    from .params import ParamSpec
    from .plan import RunPlan, plan_runs
    from .pool import PoolOptions, WarmPool
    from .report import render_report
    from .results import ResultSpec, specs_for
    from .result_format import format_delta, format_value
    from .scenarios import Config, Scenario, load_config, load_target
    from .schema import Schema
    from .records.store import RunRecord, Store
