"""Did run B reproduce run A? A verdict, and every difference explained (``livedocs diff``).

``diff_runs(store, a, b, tolerances)`` returns a :class:`RunDiff`: the verdict (``REPRODUCED``,
``REPRODUCED, ENVIRONMENT CHANGED`` or ``DIFFERENT``) and one section per thing that differs:
notebook (cell-level, by nbdime), parameters, inputs, environment, metrics (tables cell by cell),
figures (by hash), status and error. Figures are shown but do not decide the verdict (pixels can move
while every metric stays within tolerance).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..outputs import is_table
from .environments import diff_environments, load_environment, read_json
from .snapshots import Blobs
from .store import RunRecord, Store

REPRODUCED = "REPRODUCED"
ENVIRONMENT_CHANGED = "REPRODUCED, ENVIRONMENT CHANGED"
DIFFERENT = "DIFFERENT"
CSV_MAX_BYTES = 256 << 20  # CSV inputs bigger than this are compared by hash only
MAX_CELLS_LISTED = 50


@dataclass(frozen=True, kw_only=True)
class Tolerances:
    """How close two numbers must be to count as equal: ``|a - b| <= atol + rtol * |b|``.

    Applies when either side is a float; ints, bools, strings (and tables of them) compare exactly.
    NaN equals NaN. Usage: ``Tolerances(rtol=1e-6)``.
    """

    rtol: float = 1e-9
    atol: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise InputError(f"--{name} {value!r} is not a tolerance.",
                                 hint=f"Give a finite number of 0 or more, e.g. --{name} 1e-6.")

    def equal(self, a: Any, b: Any) -> bool:
        """``a`` and ``b`` are the same value within tolerance (lists and mappings element by element)."""
        if isinstance(a, bool) or isinstance(b, bool):
            return type(a) is type(b) and a == b
        if isinstance(a, int | float) and isinstance(b, int | float):
            if isinstance(a, int) and isinstance(b, int):
                return a == b
            if math.isnan(a) or math.isnan(b):
                return math.isnan(a) and math.isnan(b)
            if math.isinf(a) or math.isinf(b):
                return a == b
            return abs(a - b) <= self.atol + self.rtol * abs(b)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(self.equal(x, y) for x, y in zip(a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(self.equal(a[k], b[k]) for k in a)
        return type(a) is type(b) and a == b


@dataclass(frozen=True)
class RunDiff:
    """The verdict on two runs and the sections that differ (absent sections were the same)."""

    verdict: str
    runs: tuple[str, str]
    sections: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    specs: dict[str, Any] = field(default_factory=dict, compare=False)  # how each result is shown (label, format)

    @property
    def reproduced(self) -> bool:
        return self.verdict != DIFFERENT

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "runs": list(self.runs), "differences": self.sections, "notes": self.notes}


def diff_runs(store: Store, a: str | RunRecord, b: str | RunRecord, tolerances: Tolerances = Tolerances()) -> RunDiff:
    """Compare run ``b`` with run ``a`` (ids, prefixes or records)."""
    first = a if isinstance(a, RunRecord) else store.get(a)
    second = b if isinstance(b, RunRecord) else store.get(b)
    sections: dict[str, Any] = {}
    notes: list[str] = []
    if first.notebook_sha256 != second.notebook_sha256:
        sections["notebook"] = notebook_section(first, second)
    same_bytes = _same_content_inputs(first, second)
    parameters = {name: change for name, change in _parameter_changes(first.parameters, second.parameters).items()
                  if name not in same_bytes}
    for name in same_bytes:
        if first.parameters.get(name) != second.parameters.get(name):
            notes.append(f"input '{name}' was read from another path with the same bytes "
                         f"(SHA-256 {same_bytes[name][:12]}): {second.parameters.get(name)}")
    if parameters:
        sections["parameters"] = parameters
    inputs = _input_changes(store.home, first, second)
    if inputs:
        sections["inputs"] = inputs
    env_same, environment = _environment_section(store.home, first, second, notes)
    if environment:
        sections["environment"] = environment
    metrics = _metric_changes(first.metrics, second.metrics, tolerances)
    if metrics:
        sections["metrics"] = metrics
    figures = _figure_changes(first, second)
    if figures:
        sections["figures"] = figures
    status = _status_change(first, second)
    if status:
        sections["status"] = status
    decides = {"notebook", "parameters", "inputs", "metrics", "status"}
    if decides & sections.keys():
        verdict = DIFFERENT
    else:
        verdict = REPRODUCED if env_same else ENVIRONMENT_CHANGED
    return RunDiff(verdict, (first.id, second.id), sections, notes, specs=_specs(first, second))


def _specs(first: RunRecord, second: RunRecord) -> dict[str, Any]:
    """The result specs the runs stored (the first run's win for a name): labels for the verdict's lines."""
    from ..results import specs_for

    return {**specs_for(second), **specs_for(first)}


# --- notebook ---------------------------------------------------------------------------------

def notebook_section(first: RunRecord, second: RunRecord) -> dict[str, Any]:
    return {"old": first.notebook_sha256, "new": second.notebook_sha256,
            "cells": diff_notebook_files(Path(first.notebook_copy), Path(second.notebook_copy), first.id, second.id)}


def diff_notebook_files(old: Path, new: Path, old_what: str = "", new_what: str = "") -> list[dict[str, Any]]:
    """Which cells were added, removed or modified between two notebook files (sources only, via nbdime)."""
    return diff_notebook_sources(_read_notebook(old, old_what), _read_notebook(new, new_what))


def diff_notebook_sources(old: Any, new: Any) -> list[dict[str, Any]]:
    """Cell changes of two notebook nodes: ``{"change", "old_cell", "new_cell", "cell_type", "lines"}``.

    Cell numbers are 1-based positions in each notebook; ``lines`` is a unified diff of the source.
    nbdime aligns the cells; outputs, execution counts and metadata are left out.
    """
    from nbdime.diffing.notebooks import diff_notebooks  # lazy: only `diff` pays for it

    a, b = _sources_only(old), _sources_only(new)
    out: list[dict[str, Any]] = []
    cells = next((d for d in diff_notebooks(a, b) if d["key"] == "cells"), None)
    if cells is None:
        return out
    shift = 0  # new index = old index + shift, for cells before the current change
    for change in cells["diff"]:
        index = change["key"]
        if change["op"] == "addrange":
            for k, cell in enumerate(change["valuelist"]):
                out.append({"change": "added", "old_cell": None, "new_cell": index + shift + k + 1,
                            "cell_type": cell["cell_type"], "lines": _lines("", cell["source"])})
            shift += len(change["valuelist"])
        elif change["op"] == "removerange":
            for k in range(change["length"]):
                cell = a["cells"][index + k]
                out.append({"change": "removed", "old_cell": index + k + 1, "new_cell": None,
                            "cell_type": cell["cell_type"], "lines": _lines(cell["source"], "")})
            shift -= change["length"]
        elif change["op"] == "patch":
            old_cell, new_cell = a["cells"][index], b["cells"][index + shift]
            out.append({"change": "modified", "old_cell": index + 1, "new_cell": index + shift + 1,
                        "cell_type": new_cell["cell_type"], "lines": _lines(old_cell["source"], new_cell["source"])})
    return out


def _sources_only(nb: Any) -> dict[str, Any]:
    cells = [{"cell_type": str(c.get("cell_type", "code")), "source": _text(c.get("source", "")),
              "metadata": {}, **({"outputs": [], "execution_count": None} if c.get("cell_type") == "code" else {})}
             for c in nb.get("cells", [])]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _lines(old: str, new: str) -> list[str]:
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), n=1, lineterm=""))[2:]


def _read_notebook(path: Path, what: str) -> dict[str, Any]:
    return read_json(path, missing=f"the notebook {path}{' of run ' + what if what else ''} is missing.",
                     hint="Restore it (the home keeps run copies under notebooks/), then retry.",
                     unreadable=f"cannot read the notebook {path}", valid=lambda data: isinstance(data.get("cells"), list),
                     damaged=f"{path} is not a notebook (no list of cells).")


# --- parameters and inputs ----------------------------------------------------------------------

_ABSENT = {"absent": True}
_BLOB_ID = re.compile(r"[0-9a-f]{64}")


def _same_content_inputs(first: RunRecord, second: RunRecord) -> dict[str, str]:
    """Path parameters both runs read with identical bytes (e.g. an exact rerun reads a restored snapshot
    at another path): their SHA-256, by parameter. The inputs, not the path strings, decide for them."""
    a = {i.get("parameter"): i.get("sha256") for i in first.inputs}
    b = {i.get("parameter"): i.get("sha256") for i in second.inputs}
    return {name: sha for name, sha in a.items() if sha and b.get(name) == sha}


def _parameter_changes(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {name: {"old": a.get(name, _ABSENT), "new": b.get(name, _ABSENT)}
            for name in dict.fromkeys([*a, *b]) if name not in a or name not in b or a[name] != b[name]
            or type(a[name]) is not type(b[name])}


def _input_changes(home: Path, first: RunRecord, second: RunRecord) -> list[dict[str, Any]]:
    a = {i.get("parameter"): i for i in first.inputs}
    b = {i.get("parameter"): i for i in second.inputs}
    out = []
    for name in dict.fromkeys([*a, *b]):
        old, new = a.get(name), b.get(name)
        if old is not None and new is not None and old.get("sha256") == new.get("sha256") and \
                old.get("type") == new.get("type") and (old.get("sha256") is not None or
                                                        (old.get("type") == "missing" and old.get("path") == new.get("path"))):
            continue
        item: dict[str, Any] = {"parameter": name,
                                "old": _input_facts(home, old), "new": _input_facts(home, new)}
        if old and new and old.get("sha256") is None and new.get("sha256") is None:
            item["note"] = "contents unknown (not hashed): cannot be compared"
        out.append(item)
    return out


def _input_facts(home: Path, item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    facts = {k: item.get(k) for k in ("path", "type", "size", "sha256")}
    if item.get("type") == "file" and str(item.get("path", "")).lower().endswith((".csv", ".tsv")):
        facts.update(csv_shape(home, item))
    return facts


def csv_shape(home: Path, item: dict[str, Any]) -> dict[str, Any]:
    """``rows`` and ``columns`` of a recorded CSV input, read from its snapshot or from the file if unchanged."""
    source = _readable_copy(home, item)
    if isinstance(source, str):
        return {"csv": source}
    if (item.get("size") or 0) > CSV_MAX_BYTES:
        return {"csv": f"over {CSV_MAX_BYTES >> 20} MB: compared by hash only"}
    try:
        with open(source, newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle, delimiter="\t" if str(item.get("path")).lower().endswith(".tsv") else ",")
            header = next(reader, [])
            rows = sum(1 for _ in reader)
    except (OSError, csv.Error) as exc:
        return {"csv": f"cannot be read ({exc})"}
    return {"rows": rows, "columns": header}


def _readable_copy(home: Path, item: dict[str, Any]) -> Path | str:
    """The snapshot of the input, else the file if its hash still matches, else why neither can be read."""
    snapshot = item.get("snapshot")
    if isinstance(snapshot, dict):
        snapshot = snapshot.get("path") or (f"blobs/{snapshot['sha256']}" if snapshot.get("sha256") else None)
    if isinstance(snapshot, str) and snapshot:
        path = Blobs(home).path(snapshot) if _BLOB_ID.fullmatch(snapshot) else \
            Path(snapshot) if Path(snapshot).is_absolute() else home / snapshot
        if path.is_file():
            return path
    path = Path(str(item.get("path", "")))
    try:
        if item.get("sha256") and path.is_file() and _sha256(path) == item["sha256"]:
            return path
    except OSError:
        pass
    return "no snapshot, and the file has changed or is gone since the run: cannot be compared"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# --- environment --------------------------------------------------------------------------------

def _environment_section(home: Path, first: RunRecord, second: RunRecord, notes: list[str]) -> tuple[bool, dict]:
    ea, eb = first.environment, second.environment
    ida, idb = ea.get("environment_id"), eb.get("environment_id")
    if ida and ida == idb:
        return True, {}
    if isinstance(ida, str) and isinstance(idb, str):
        try:
            diff = diff_environments(load_environment(home, ida), load_environment(home, idb))
        except InputError as exc:
            notes.append(exc.message)
        else:
            return diff.same, ({} if diff.same else diff.to_json())
    old = {k: ea.get(k) for k in ("packages_sha256", "python", "executable")}
    new = {k: eb.get(k) for k in ("packages_sha256", "python", "executable")}
    if old == new:
        return True, {}
    notes.append("one of the runs has no stored environment: only the package hashes are compared")
    return False, {"other": {k: {"old": old[k], "new": new[k]} for k in old if old[k] != new[k]},
                   "added": {}, "removed": {}, "changed": {}, "variables": {}}


# --- results ------------------------------------------------------------------------------------

def _metric_changes(a: dict[str, Any], b: dict[str, Any], tol: Tolerances) -> list[dict[str, Any]]:
    out = []
    for name in dict.fromkeys([*a, *b]):
        if name not in b:
            out.append({"metric": name, "change": "removed", "old": a[name]})
        elif name not in a:
            out.append({"metric": name, "change": "added", "new": b[name]})
        elif is_table(a[name]) and is_table(b[name]):
            table = _table_changes(a[name], b[name], tol)
            if table:
                out.append({"metric": name, "change": "table", **table})
        elif not tol.equal(a[name], b[name]):
            item = {"metric": name, "change": "changed", "old": a[name], "new": b[name]}
            if _number(a[name]) and _number(b[name]):
                item["abs_change"] = b[name] - a[name]
                item["rel_change"] = (b[name] - a[name]) / abs(a[name]) if a[name] else None
            out.append(item)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _table_changes(a: dict[str, Any], b: dict[str, Any], tol: Tolerances) -> dict[str, Any]:
    cols_a, cols_b = [str(c) for c in a["columns"]], [str(c) for c in b["columns"]]
    rows_a, rows_b = a["data"], b["data"]
    out: dict[str, Any] = {}
    if cols_a != cols_b:
        out["columns_added"] = [c for c in cols_b if c not in cols_a]
        out["columns_removed"] = [c for c in cols_a if c not in cols_b]
    if len(rows_a) != len(rows_b):
        out["rows"] = {"old": len(rows_a), "new": len(rows_b)}
    cells = []
    count = 0
    for row in range(min(len(rows_a), len(rows_b))):
        for column in (c for c in cols_a if c in cols_b):
            old, new = _cell(rows_a[row], cols_a.index(column)), _cell(rows_b[row], cols_b.index(column))
            if not tol.equal(old, new):
                count += 1
                if len(cells) < MAX_CELLS_LISTED:
                    cells.append({"row": row, "row_label": _row_label(rows_a[row], cols_a), "column": column,
                                  "old": old, "new": new})
    if count:
        out["cells_changed"] = count
        out["cells"] = cells
    return out


def _cell(row: Any, index: int) -> Any:
    return row[index] if isinstance(row, list) and index < len(row) else None


def _row_label(row: Any, columns: list[str]) -> str | None:
    """``grade=B`` when the first column holds text (a natural row name), else None."""
    first = _cell(row, 0)
    return f"{columns[0]}={first}" if columns and isinstance(first, str) else None


def _figure_changes(first: RunRecord, second: RunRecord) -> list[dict[str, Any]]:
    fa, fb = _figures(first), _figures(second)
    out = []
    for index in range(max(len(fa), len(fb))):
        old = fa[index] if index < len(fa) else None
        new = fb[index] if index < len(fb) else None
        if old is None or new is None or old[1] != new[1]:
            out.append({"figure": index + 1, "old": old[1] if old else None, "new": new[1] if new else None,
                        "file": (new or old)[0]})
    return out


def _figures(record: RunRecord) -> list[tuple[str, str | None]]:
    out = []
    for name in record.outputs:
        path = Path(name)
        if path.name == "metrics.json":
            continue
        try:
            out.append((path.name, _sha256(path)))
        except OSError:
            out.append((path.name, None))
    return out


def _status_change(first: RunRecord, second: RunRecord) -> dict[str, Any]:
    def error(record: RunRecord) -> str | None:
        err = record.error or {}
        return f"{err.get('ename')}: {err.get('evalue')}" if err else None

    if first.status == second.status and error(first) == error(second):
        return {}
    return {"old": first.status, "new": second.status, "old_error": error(first), "new_error": error(second)}


def readable(value: Any) -> str:
    """A value from a record as one short line of text (tables summarised)."""
    if is_table(value):
        return f"(table, {len(value['data'])} rows)"
    if isinstance(value, float):
        return repr(value)
    try:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


__all__ = ["DIFFERENT", "ENVIRONMENT_CHANGED", "REPRODUCED", "RunDiff", "Tolerances", "diff_notebook_files",
           "diff_runs", "readable"]
