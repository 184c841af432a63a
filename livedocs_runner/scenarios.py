"""Scenario configs (``configs/*.yaml``): load, validate against the notebook, expand sweeps.

A config names a notebook, refines its schema and lists named scenarios and sweeps::

    notebook: ../notebooks/credit_risk.ipynb
    parameters: {threshold: {type: float, min: 0, max: 1}}
    scenarios: {baseline: {}, stress: {threshold: 0.4}}
    sweeps: {threshold_sweep: {base: baseline, grid: {threshold: [0.3, 0.5]}}}
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, LivedocsError, did_you_mean, located
from .notebook import Notebook, check_module_name, is_kernel_name, load_notebook
from .params import check_name, quote
from .results import ResultSpec, SpecProblem, spec_from_config
from .schema import Schema, Source, schema_for
from .yamlfile import YamlDoc, load_yaml

if TYPE_CHECKING:
    from .access import AccessRule

TOP_KEYS = ("notebook", "title", "description", "parameters", "scenarios", "sweeps", "baseline",
            "warm_imports", "kernel", "cache", "env", "results", "access")
DEFAULT_SCENARIO = "default"
MAX_SCENARIOS = 1000  # scenarios per config, sweep points included: a grid multiplies quickly


@dataclass(frozen=True)
class Scenario:
    """A named set of raw parameter values, converted later by the schema."""

    name: str
    values: Mapping[str, Any]
    source: Source
    sweep: str | None = None
    description: str = ""  # ``description:`` in the scenario (or its sweep): shown in the app's scenario picker


@dataclass(frozen=True)
class Config:
    """A loaded, validated scenario config (or a bare notebook treated as one)."""

    path: Path | None
    notebook: Notebook
    schema: Schema
    title: str
    description: str = ""
    scenarios: tuple[Scenario, ...] = ()
    baseline: str | None = None
    warm_imports: tuple[str, ...] = ()
    kernel: str | None = None
    cache: bool = True  # ``cache: false``: every run executes (clock, network, random defaults)
    env: tuple[str, ...] = ()  # ``env:``: environment variables whose values each run records
    results: Mapping[str, ResultSpec] = field(default_factory=dict)  # ``results:``: how each result is shown
    access: tuple[AccessRule, ...] = ()  # ``access:``: roles on this config, added to the app's access file
    doc: YamlDoc | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return (self.path or self.notebook.path).stem

    def select(self, names: list[str] | None) -> list[Scenario]:
        """Scenarios by name; a sweep's name selects all its points; none given: all of them."""
        if not names:
            return list(self.scenarios)
        chosen: dict[str, Scenario] = {}  # names are unique within a config
        for name in names:
            matches = [s for s in self.scenarios if name in (s.name, s.sweep)]
            if not matches:
                known = sorted({s.sweep or s.name for s in self.scenarios})
                where = self.path or self.notebook.path
                raise ConfigError(f"no scenario {quote(name)} in {where}.",
                                  hint=did_you_mean(name, known) or f"Available: {', '.join(known)}.")
            chosen.update((m.name, m) for m in matches if m.name not in chosen)
        return list(chosen.values())


def load_target(target: str | Path) -> Config:
    """A config YAML or a notebook (whose only scenario is its defaults)."""
    path = Path(target)
    if path.suffix == ".ipynb":
        notebook = load_notebook(path)
        schema = schema_for(notebook, infer_paths=True)
        return Config(path=None, notebook=notebook, schema=schema, title=path.stem,
                      scenarios=(Scenario(DEFAULT_SCENARIO, {}, Source()),))
    if path.suffix not in (".yaml", ".yml"):
        if not path.exists():
            raise ConfigError(f"{path} does not exist.", hint="Give a config (.yaml) or a notebook (.ipynb).")
        raise ConfigError(f"{path} is neither a config (.yaml) nor a notebook (.ipynb).")
    return load_config(path)


def load_config(path: str | Path) -> Config:
    """Load and fully validate a config: keys, notebook, refinements, every scenario's values."""
    path = Path(path)
    doc = load_yaml(path)
    data = doc.data
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"{path}: expected a mapping with at least a 'notebook:' key, got {got}.",
                          hint="Start the file with e.g. `notebook: ../notebooks/model.ipynb`.")
    for key in data:
        if key not in TOP_KEYS:
            raise ConfigError(located(path, doc.line(key), f"unknown key {quote(key)}."),
                              hint=did_you_mean(str(key), TOP_KEYS) or f"Allowed keys: {', '.join(TOP_KEYS)}.")
    if not isinstance(data.get("notebook"), str):
        raise ConfigError(located(path, doc.line("notebook"), "'notebook:' must name the notebook to run."),
                          hint="Add e.g. `notebook: ../notebooks/model.ipynb` (relative to this file).")
    for key in ("title", "description", "baseline", "kernel"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(located(path, doc.line(key), f"'{key}:' must be text, got {quote(data[key])}."),
                              hint="Quote it in YAML.")
    notebook_path = Path(os.path.normpath(path.parent / data["notebook"]))
    try:
        notebook = load_notebook(notebook_path)
    except LivedocsError as exc:
        raise ConfigError(located(path, doc.line("notebook"), exc.message),
                          hint=f"'notebook:' is taken relative to the config's folder ({path.parent}).") from None
    refinements = _mapping(doc, "parameters")
    lines = {name: doc.line("parameters", name) for name in refinements}
    schema = schema_for(notebook, refinements, config=path, lines=lines)
    scenarios = _scenarios(doc, schema) + _sweeps(doc, schema)
    if not scenarios:
        scenarios = [Scenario(DEFAULT_SCENARIO, {}, Source(name=str(path), base=path.parent))]
    names = [s.name for s in scenarios]
    baseline = data.get("baseline") or ("baseline" if "baseline" in names else names[0])
    if baseline not in names:
        raise ConfigError(located(path, doc.line("baseline"), f"baseline {quote(baseline)} is not a scenario."),
                          hint=did_you_mean(str(baseline), names) or f"Scenarios: {', '.join(names)}.")
    kernel = data.get("kernel")
    if kernel is not None and not is_kernel_name(kernel):
        raise ConfigError(located(path, doc.line("kernel"), f"'kernel:' {quote(kernel)} is not a kernel name."),
                          hint="Use a name from `jupyter kernelspec list`, e.g. python3.")
    cache = data.get("cache", True)
    if not isinstance(cache, bool):
        raise ConfigError(located(path, doc.line("cache"), f"'cache:' must be true or false, got {quote(cache)}."),
                          hint="Write `cache: false` to execute every run of this config.")
    config = Config(path=path, notebook=notebook, schema=schema, title=data.get("title") or path.stem,
                    description=(data.get("description") or "").strip(), scenarios=tuple(scenarios),
                    baseline=baseline, warm_imports=_warm_imports(doc), kernel=kernel, cache=cache,
                    env=_env_names(doc), results=_results(doc), access=_access(doc, path.stem), doc=doc)
    for scenario in scenarios:
        schema.resolve((scenario.values, scenario.source))  # validate now, before anything runs
    return config


def _warm_imports(doc: YamlDoc) -> tuple[str, ...]:
    """``warm_imports:``: dotted module names only (each becomes ``import NAME`` in a kernel)."""
    warm = doc.data.get("warm_imports") or []
    if not isinstance(warm, list):
        raise ConfigError(located(doc.path, doc.line("warm_imports"), "'warm_imports' must be a list of module names."),
                          hint="Write e.g. `warm_imports: [pandas, numpy]`.")
    for index, name in enumerate(warm):
        try:
            check_module_name(name)
        except ValueError as exc:
            raise ConfigError(located(doc.path, doc.line("warm_imports", index), f"'warm_imports': {exc}."),
                              hint="List dotted module names only, e.g. `[pandas, sklearn.linear_model]`.") from None
    return tuple(warm)


def _results(doc: YamlDoc) -> dict[str, ResultSpec]:
    """``results:``: per result name, its ``label``, ``unit``, ``format`` and ``better`` (these win over
    the keywords the notebook passed to ``record()``)."""
    block = doc.data.get("results")
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise ConfigError(located(doc.path, doc.line("results"), f"'results:' must map result names to how they "
                                  f"are shown, got {quote(block)}."),
                          hint="Write e.g. `results: {default_rate: {label: Default rate, format: percent, better: lower}}`.")
    specs = {}
    for name, entry in block.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(located(doc.path, doc.line("results", name), f"result name {quote(name)} must be "
                                      "the non-empty name the notebook passes to record()."))
        try:
            specs[name] = spec_from_config(name, entry)
        except SpecProblem as exc:
            line = doc.line("results", name, exc.key) if exc.key else doc.line("results", name)
            raise ConfigError(located(doc.path, line, str(exc))) from None
    return specs


def _access(doc: YamlDoc, name: str) -> tuple[AccessRule, ...]:
    """``access:``: rules (users/groups and a role, no ``configs``) for this config only; checked here, with
    file and line, whether or not the app runs with sign-in (the CLI itself ignores them)."""
    if "access" not in doc.data:
        return ()
    from .access import config_rules

    return config_rules(doc.data["access"], name, doc)


def _env_names(doc: YamlDoc) -> tuple[str, ...]:
    """``env:``: names of environment variables the notebook depends on (recorded with each run)."""
    names = doc.data.get("env") or []
    if not isinstance(names, list):
        raise ConfigError(located(doc.path, doc.line("env"), f"'env:' must be a list of variable names, got {quote(names)}."),
                          hint="Write e.g. `env: [RISK_MODE, DATA_REGION]`.")
    for index, name in enumerate(names):
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(located(doc.path, doc.line("env", index), f"'env:' {quote(name)} is not an environment variable name."),
                              hint="Use letters, digits and underscores, e.g. RISK_MODE.")
    return tuple(dict.fromkeys(names))


def _mapping(doc: YamlDoc, key: str) -> dict[str, Any]:
    value = doc.data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(located(doc.path, doc.line(key), f"'{key}:' must be a mapping, got {quote(value)}."))
    return dict(value)


def _source(doc: YamlDoc, *keys: str, names: list[str]) -> Source:
    lines = {n: doc.line(*keys, n) for n in names}
    return Source(name=str(doc.path), base=doc.path.parent, lines=lines)


def _check_scenario_name(doc: YamlDoc, keys: tuple, what: str) -> str:
    name = keys[-1]
    if not isinstance(name, str) or not name.strip():  # the YAML loader already refuses keys that are not text
        raise ConfigError(located(doc.path, doc.line(*keys), f"{what} name {quote(name)} must be non-empty text."))
    return name


def _scenarios(doc: YamlDoc, schema: Schema) -> list[Scenario]:
    out = []
    for name, values in _mapping(doc, "scenarios").items():
        _check_scenario_name(doc, ("scenarios", name), "scenario")
        description = ""
        if isinstance(values, Mapping) and "description" in values and "description" not in schema.names:
            values = dict(values)
            description = _description(doc, ("scenarios", name, "description"), values.pop("description"))
        values = _values(doc, ("scenarios", name), values)
        out.append(Scenario(name, values, _source(doc, "scenarios", name, names=list(values)), description=description))
    return out


def _values(doc: YamlDoc, keys: tuple, values: Any) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(located(doc.path, doc.line(*keys), f"scenario {quote(keys[-1])} must map parameter names to values, got {quote(values)}."),
                          hint="Write e.g. `stress: {threshold: 0.4}` (or `{}` for the defaults).")
    for name in values:
        try:
            check_name(name)
        except LivedocsError as exc:
            raise ConfigError(located(doc.path, doc.line(*keys, name), exc.message)) from None
    return dict(values)


def _sweeps(doc: YamlDoc, schema: Schema) -> list[Scenario]:
    scenarios = {s.name: s for s in _scenarios(doc, schema)}
    out: list[Scenario] = []
    total = len(scenarios)
    for sweep, spec in _mapping(doc, "sweeps").items():
        keys = ("sweeps", sweep)
        _check_scenario_name(doc, keys, "sweep")
        if sweep in scenarios:
            raise ConfigError(located(doc.path, doc.line(*keys), f"sweep {quote(sweep)} has the name of a scenario."),
                              hint="Rename one of them: `-s NAME` must pick one thing.")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("grid"), Mapping) or not spec["grid"]:
            raise ConfigError(located(doc.path, doc.line(*keys), f"sweep {quote(sweep)} needs a 'grid:' mapping of parameter -> list of values."),
                              hint="Write e.g. `grid: {threshold: [0.3, 0.5, 0.7]}`.")
        for key in spec:
            if key not in ("base", "grid", "description"):
                raise ConfigError(located(doc.path, doc.line(*keys, key), f"sweep {quote(sweep)}: unknown key {quote(key)}."),
                                  hint="A sweep has 'grid:' and optionally 'base:' and 'description:'.")
        description = _description(doc, keys + ("description",), spec.get("description"))
        base_name = spec.get("base")
        base_values: Mapping[str, Any] = {}
        if base_name is not None:
            if not isinstance(base_name, str) or base_name not in scenarios:
                raise ConfigError(located(doc.path, doc.line(*keys, "base"), f"sweep {quote(sweep)}: base {quote(base_name)} is not a scenario."),
                                  hint=did_you_mean(str(base_name), scenarios) or f"Scenarios: {', '.join(scenarios) or 'none'}.")
            base_values = scenarios[base_name].values
        grid = _values(doc, keys + ("grid",), spec["grid"])
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(located(doc.path, doc.line(*keys, "grid", name), f"sweep {quote(sweep)}: '{name}' must be a non-empty list of values, got {quote(values)}."))
        names = list(grid)
        points = math.prod(len(grid[n]) for n in names)
        total += points
        if total > MAX_SCENARIOS:
            sizes = " x ".join(str(len(grid[n])) for n in names)
            raise ConfigError(located(doc.path, doc.line(*keys), f"sweep {quote(sweep)} has {points} points ({sizes}), "
                                      f"which makes {total} scenarios in this config; the limit is {MAX_SCENARIOS}."),
                              hint="Sweep fewer values, or split the grid into several configs.")
        for combo in itertools.product(*(grid[n] for n in names)):
            point = dict(zip(names, combo))
            label = ",".join(f"{n}={_label(v)}" for n, v in point.items())
            values = {**base_values, **point}
            lines = {**{n: doc.line("scenarios", base_name, n) for n in base_values}, **{n: doc.line(*keys, "grid", n) for n in names}}
            out.append(Scenario(f"{sweep}[{label}]", values, Source(name=str(doc.path), base=doc.path.parent, lines=lines),
                                sweep=sweep, description=description))
    taken = dict.fromkeys(scenarios)
    for scenario in out:
        if scenario.name in taken:
            raise ConfigError(located(doc.path, doc.line("sweeps", scenario.sweep), f"sweep {quote(scenario.sweep)} makes the "
                                      f"scenario {quote(scenario.name)} twice (or a scenario of that name exists)."),
                              hint="Keep each value once per grid list.")
        taken[scenario.name] = None
    return out


MAX_DESCRIPTION_CHARS = 500


def _description(doc: YamlDoc, keys: tuple, value: Any) -> str:
    """A scenario's or sweep's ``description:``: text of at most :data:`MAX_DESCRIPTION_CHARS` characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(located(doc.path, doc.line(*keys), f"'description:' must be text, got {quote(value)}."),
                          hint="Quote it in YAML.")
    text = " ".join(value.split())
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise ConfigError(located(doc.path, doc.line(*keys), f"'description:' is {len(text)} characters long; "
                                  f"the limit is {MAX_DESCRIPTION_CHARS}."),
                          hint="Keep it to a sentence or two: it is shown in the scenario picker.")
    return text


def _label(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)  # as labels have always been written: names stay stable across versions
    except (TypeError, ValueError):  # not JSON data: refused with its line when the point is resolved
        return quote(value)
