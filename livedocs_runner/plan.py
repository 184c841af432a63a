"""From a target (config or notebook), scenario names and overrides to concrete runs.

A RunPlan is everything a run needs, fully validated: nothing executes until every plan of a
batch has been built, so one bad value refuses the whole batch (exit 2, nothing run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ParameterError
from .params import quote
from .notebook import Notebook
from .results import ResultSpec
from .scenarios import Config, load_target
from .schema import Source


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """One run to do: which notebook, which typed parameters, and where they came from."""

    notebook: Notebook
    parameters: Mapping[str, Any]
    scenario: str
    config: Path | None = None
    title: str = ""
    path_params: tuple[str, ...] = ()
    kernel_name: str = "python3"
    warm_imports: tuple[str, ...] = ()
    rerun_of: str | None = None
    labels: Mapping[str, Any] = field(default_factory=dict)
    cache: bool = True  # False (a config's ``cache: false``): never answered from, nor stored for, the cache
    no_snapshot: tuple[str, ...] = ()  # path parameters whose files are hashed but not kept (``snapshot: false``)
    run_id: str | None = None  # set by a rerun, whose restored inputs live in the new run's folder
    rerun_variant: str | None = None  # exact, inputs-current, notebook-current, params (joined by '+')
    env_vars: tuple[str, ...] = ()  # a config's ``env:``: variables recorded with the environment
    results: Mapping[str, ResultSpec] = field(default_factory=dict)  # a config's ``results:``: how to show them

    @property
    def cwd(self) -> Path:
        return self.notebook.path.resolve().parent


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; values stay strings for the schema."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"-p {quote(pair)} is not NAME=VALUE.", hint="Write e.g. -p threshold=0.4.")
        out[name.strip()] = value
    return out


def plan_runs(target: str | Path | Config, *, scenarios: list[str] | None = None,
              overrides: Mapping[str, Any] | None = None, override_source: Source | None = None) -> list[RunPlan]:
    """Validated plans for the chosen scenarios of ``target``, with ``overrides`` on top of each."""
    config = target if isinstance(target, Config) else load_target(target)
    overrides = dict(overrides or {})
    # -p values have no file of their own: name the target they were given for
    source = override_source or Source(name=f"{config.path or config.notebook.path} (-p)", base=Path.cwd())
    plans = []
    for scenario in config.select(scenarios):
        params = config.schema.resolve((scenario.values, scenario.source), (overrides, source))
        plans.append(plan_for(config, scenario.name, params))
    return plans


def plan_for(config: Config, scenario: str, params: Mapping[str, Any], *, rerun_of: str | None = None) -> RunPlan:
    """A plan for already-typed ``params`` (used by the app and by reruns)."""
    return RunPlan(
        notebook=config.notebook, parameters=dict(params), scenario=scenario,
        config=config.path.resolve() if config.path else None, title=config.title,
        path_params=tuple(p.name for p in config.schema.params if p.type == "path"),
        kernel_name=config.kernel or config.notebook.kernel_name,
        warm_imports=config.warm_imports or config.notebook.top_level_imports(), rerun_of=rerun_of,
        cache=config.cache, no_snapshot=tuple(p.name for p in config.schema.params if p.type == "path" and not p.snapshot),
        env_vars=config.env, results=config.results,
    )
