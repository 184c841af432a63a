"""Reruns of past runs: exactly as recorded, or one thing changed (parameters, today's inputs, today's notebook).

An exact rerun executes the recorded notebook copy with the recorded parameters on the recorded
*snapshots* of its inputs: each is restored read-only (hard-linked from ``blobs/`` where the
filesystem allows) at ``runs/<new id>/inputs/<parameter>/<original file name>``, and that path is the
parameter value the rerun records and the notebook receives, so the record says which file was really
read (the original's ``inputs`` entry, via ``rerun_of``, names the path it came from). The file name
is kept because notebooks often look at it (the extension, a quarter in the name).

Everything is checked before anything is restored or run: an unknown run, a missing notebook copy, a
snapshot that was never taken or is gone from the home, a ``--notebook current`` whose notebook is
gone or whose parameters no longer match, each raise :class:`InputError` naming the run and the fix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import InputError, LivedocsError
from .notebook import Notebook, load_notebook
from .params import ParamSpec, quote
from .plan import RunPlan
from .provenance import hash_tree, sha256_file
from .records.snapshots import Blobs, max_snapshot_mb
from .records.store import RunRecord, Store, new_id
from .results import RESULTS_KEY, specs_from_json
from .schema import Schema, Source, schema_for

VARIANTS = ("exact", "inputs-current", "notebook-current", "params")


@dataclasses.dataclass(frozen=True)
class Rerun:
    """A planned rerun of a past run, with warnings (inputs that changed since, for ``inputs="current"``)."""

    plan: RunPlan
    warnings: tuple[str, ...]
    original: RunRecord | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class RerunOptions:
    """What to change. Usage: ``RerunOptions(params={"data_file": "data/q3.csv"}, inputs="current")``."""

    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # NAME -> value (converted by the schema)
    inputs: str = "recorded"  # or "current": today's files at the recorded paths
    notebook: str = "recorded"  # or "current": today's notebook at the original path

    @property
    def variant(self) -> str:
        parts = [name for name, on in (("params", bool(self.params)), ("inputs-current", self.inputs == "current"),
                                       ("notebook-current", self.notebook == "current")) if on]
        return "+".join(parts) or "exact"


def plan_rerun(store: Store, run_id: str, options: RerunOptions = RerunOptions()) -> Rerun:
    """Check everything a rerun of ``run_id`` needs, restore its input snapshots, and plan it."""
    return plan_reruns(store, [run_id], options)[0]


def plan_reruns(store: Store, run_ids: list[str], options: RerunOptions = RerunOptions()) -> list[Rerun]:
    """Every rerun checked first (one bad run refuses them all, nothing restored), then planned."""
    max_snapshot_mb()  # a bad $LIVEDOCS_SNAPSHOT_MAX_MB refuses the reruns before any input is restored
    checked = [_check(store, store.get(run_id), options) for run_id in run_ids]
    return [_plan(store, c, options) for c in checked]


@dataclasses.dataclass(frozen=True)
class _Checked:
    original: RunRecord
    notebook: Notebook
    parameters: dict[str, Any]
    path_params: tuple[str, ...]
    restore: tuple[dict[str, Any], ...]  # inputs entries to restore from their snapshots
    warnings: tuple[str, ...]


def _check(store: Store, original: RunRecord, options: RerunOptions) -> _Checked:
    copy = Path(original.notebook_copy)
    if not original.notebook_copy or not copy.is_file():
        raise InputError(f"run {original.id}: its recorded notebook copy {original.notebook_copy or '(none)'} is missing "
                         "from the home, so it cannot be rerun exactly.",
                         hint=f"Rerun it with today's notebook: livedocs rerun {original.id} --notebook current.")
    try:
        stored = load_notebook(copy)
    except LivedocsError as exc:
        raise InputError(f"run {original.id}: its recorded notebook copy {copy} cannot be read ({exc.message}).",
                         hint=f"Rerun it with today's notebook: livedocs rerun {original.id} --notebook current.") from None
    notebook = Notebook(path=Path(original.notebook), raw=stored.raw, data=stored.data)
    old_schema = schema_for(notebook)
    if options.notebook == "current":
        notebook = _current_notebook(original, old_schema)
    elif not notebook.path.parent.is_dir():
        notebook = Notebook(path=copy, raw=stored.raw, data=stored.data)
    inputs = _inputs_of(store, original)
    path_params = tuple(i["parameter"] for i in inputs)
    parameters = dict(original.parameters)
    if options.params:
        schema = _schema_for_overrides(original, schema_for(notebook))
        source = Source(name=f"rerun of {original.id} (-p)", base=Path.cwd())
        for name, value in options.params.items():
            spec = schema.get(name, source)
            if name in path_params and spec.type != "path":
                spec = ParamSpec(name=name, type="path")
            parameters[name] = schema_with(schema, spec).convert(name, value, source)
    warnings: list[str] = []
    restore = []
    for item in inputs:
        name = item["parameter"]
        if name in options.params:
            continue  # a new value: the rerun reads (and snapshots) that file
        if options.inputs == "current":
            warning = _changed(original, item)
            if warning:
                warnings.append(warning)
            continue
        kind = item.get("type") or ("file" if item.get("sha256") else "missing")  # 0.1.0 records had no type
        if kind not in ("file", "folder"):
            continue  # nothing was read (a missing path): the rerun meets the same
        snapshot = item.get("snapshot")
        if not snapshot and item.get("sha256") and _changed(original, {**item, "type": kind}) is None:
            continue  # no snapshot, but today's input has exactly the recorded bytes: reading it is exact
        if not snapshot:
            why = item.get("why") or "taken before snapshots existed"
            raise InputError(f"run {original.id}: input {quote(name)} ({item['path']}) has no snapshot ({why}), so the "
                             "run cannot be reproduced exactly.",
                             hint=f"Rerun it on today's files: livedocs rerun {original.id} --inputs current.")
        missing = Blobs(store.home).missing(snapshot, item["type"])
        if missing:
            raise InputError(f"run {original.id}: the snapshot of input {quote(name)} ({item['path']}) is missing from "
                             f"{store.home / 'blobs'} ({len(missing)} blob(s), e.g. {missing[0][:12]}).",
                             hint="Restore the home's blobs/ folder from a backup, or rerun on today's files: "
                                  f"livedocs rerun {original.id} --inputs current.")
        restore.append(item)
    return _Checked(original, notebook, parameters, path_params, tuple(restore), tuple(warnings))


def _plan(store: Store, checked: _Checked, options: RerunOptions) -> Rerun:
    original = checked.original
    run_id = new_id()
    parameters = dict(checked.parameters)
    blobs = Blobs(store.home)
    for item in checked.restore:
        dest = store.run_dir(run_id) / "inputs" / item["parameter"] / Path(item["path"]).name
        blobs.restore(item["snapshot"], item["type"], dest)
        parameters[item["parameter"]] = str(dest)
    notebook = checked.notebook
    plan = RunPlan(notebook=notebook, parameters=parameters, scenario=original.scenario,
                   config=Path(original.config) if original.config else None, title=original.title,
                   path_params=checked.path_params, kernel_name=original.environment.get("kernel") or notebook.kernel_name,
                   warm_imports=notebook.top_level_imports(), rerun_of=original.id, run_id=run_id,
                   rerun_variant=options.variant, env_vars=tuple(original.environment.get("variables") or ()),
                   no_snapshot=tuple(i["parameter"] for i in original.inputs if i.get("why") == "snapshot: false in the config"),
                   cache=original.cache_key is not None or original.cache_of is not None,
                   results=specs_from_json(original.environment.get(RESULTS_KEY)))
    return Rerun(plan=plan, warnings=checked.warnings, original=original)


def _inputs_of(store: Store, original: RunRecord) -> list[dict[str, Any]]:
    """The original's inputs; a cache hit took no snapshots: its snapshots are those of the run it answered from."""
    inputs = [dict(i) for i in original.inputs]
    if original.cache_of and inputs and not any("snapshot" in i for i in inputs):
        try:
            source = {i["parameter"]: i for i in store.get(original.cache_of).inputs}
        except LivedocsError:
            return inputs
        for item in inputs:
            match = source.get(item["parameter"])
            if match and match.get("sha256") == item.get("sha256") and "snapshot" in match:
                item["snapshot"] = match["snapshot"]
                if "why" in match:
                    item["why"] = match["why"]
    return inputs


def _changed(original: RunRecord, item: Mapping[str, Any]) -> str | None:
    path = Path(item["path"])
    folder = item.get("type") == "folder"
    if not (path.is_dir() if folder else path.is_file()):
        if item.get("type") != "missing":
            return f"input {item['path']} (parameter '{item['parameter']}') no longer exists."
        return None
    if item.get("sha256") and (hash_tree(path).sha256 if folder else sha256_file(path)) != item["sha256"]:
        return (f"input {item['path']} (parameter '{item['parameter']}') has changed since run {original.id} "
                f"(SHA-256 differs); the rerun uses the current {'folder' if folder else 'file'}.")
    return None


def _current_notebook(original: RunRecord, old: Schema) -> Notebook:
    path = Path(original.notebook)
    if not path.is_file():
        raise InputError(f"run {original.id}: --notebook current, but its notebook {path} no longer exists.",
                         hint=f"Rerun it with the recorded copy: livedocs rerun {original.id}.")
    try:
        current = load_notebook(path)
    except LivedocsError as exc:
        raise InputError(f"run {original.id}: --notebook current, but {exc.message}", hint=exc.hint) from None
    new = {p.name: p for p in schema_for(current).params}
    old_types = {p.name: p.type for p in old.params}
    problems = []
    for name in original.parameters:
        if name not in new:
            problems.append(f"{quote(name)} disappeared")
        elif name in old_types and new[name].type != old_types[name]:
            problems.append(f"{quote(name)} changed type ({old_types[name]} -> {new[name].type})")
    if problems:
        raise InputError(f"run {original.id}: today's {path} no longer takes the recorded parameters: "
                         f"{'; '.join(problems)}.",
                         hint=f"Rerun it with the recorded copy (livedocs rerun {original.id}), or fix the notebook's "
                              "parameters cell.")
    return current


def _schema_for_overrides(original: RunRecord, inferred: Schema) -> Schema:
    """The run's config schema when its config still loads (it has the refinements), else the notebook's."""
    if original.config and Path(original.config).is_file():
        from .scenarios import load_config
        try:
            return load_config(original.config).schema
        except LivedocsError:
            pass
    return inferred


def schema_with(schema: Schema, spec: ParamSpec) -> Schema:
    return dataclasses.replace(schema, params=tuple(spec if p.name == spec.name else p for p in schema.params))
