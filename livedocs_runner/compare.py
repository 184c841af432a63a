"""Comparing runs so that the comparison cannot mislead: what varies, whether a chart is honest, and
which run a result is compared with by default. UI-free: the app and the CLI both show what this decides.

- :func:`compare` splits the runs' parameters into those that vary and those that are the same.
- :func:`choose_view` draws a chart only when the runs differ in exactly one numeric parameter, with a
  distinct value per run (a sweep); anything else is a table, and ``why`` says why in a sentence.
- :func:`default_baseline` picks the run a result is compared with: the original for a rerun, else the
  latest *executed* run (never a cache hit) of the config's baseline scenario.
- :func:`change` is the difference and relative change between two values, when both are numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .outputs import is_table
from .records.store import RunRecord

_MISSING = "—"


@dataclass(frozen=True)
class Comparison:
    """``differing[name] = [value per run]``; ``metrics[name] = [value per run]`` (scalars only)."""

    runs: tuple[str, ...]
    scenarios: tuple[str, ...]
    differing: dict[str, list[Any]]
    same: dict[str, Any]
    metrics: dict[str, list[Any]]

    def to_json(self) -> dict[str, Any]:
        return {"runs": list(self.runs), "scenarios": list(self.scenarios), "parameters_differ": self.differing,
                "parameters_same": self.same, "metrics": self.metrics}

    @property
    def varying_metrics(self) -> list[str]:
        """Metrics whose value is not the same in every run, in their order."""
        return [m for m, values in self.metrics.items() if not _all_equal(values)]


def compare(records: Sequence[RunRecord]) -> Comparison:
    names: dict[str, None] = {}
    metric_names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.parameters))
        metric_names.update(dict.fromkeys(k for k, v in record.metrics.items() if not is_table(v)))
    differing, same = {}, {}
    for name in names:
        values = [r.parameters.get(name, _MISSING) for r in records]
        if _all_equal(values):
            same[name] = values[0]
        else:
            differing[name] = values
    metrics = {m: [r.metrics.get(m) for r in records] for m in metric_names}
    return Comparison(tuple(r.id for r in records), tuple(r.scenario for r in records), differing, same, metrics)


def is_number(value: Any) -> bool:
    """An int or float that is not a bool (``True`` is not a point on an axis)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # NaN is no point


def _all_equal(values: Sequence[Any]) -> bool:
    return all(_same(v, values[0]) for v in values)


def _same(a: Any, b: Any) -> bool:
    """Equal as values, but ``True`` is not ``1`` and ``1`` is not ``"1"``."""
    return type(a) is type(b) and a == b or is_number(a) and is_number(b) and a == b


# --- which view ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class View:
    """How to show a comparison. ``kind`` is ``chart`` only for a one-parameter numeric sweep; ``x`` is
    that parameter. ``metrics`` are the numeric results, those that vary first; ``metric`` the default
    one (one that varies when any does). ``why`` says in plain words why there is no chart."""

    kind: Literal["chart", "table"]
    x: str | None
    metrics: tuple[str, ...]
    metric: str | None
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": self.x, "metrics": list(self.metrics), "metric": self.metric, "why": self.why}


def numeric_metrics(comparison: Comparison) -> list[str]:
    """Metrics with a number in at least one run; those that vary come first (order kept otherwise)."""
    numbers = [m for m, values in comparison.metrics.items() if any(is_number(v) for v in values)]
    varying = set(comparison.varying_metrics)
    return [m for m in numbers if m in varying] + [m for m in numbers if m not in varying]


def choose_view(comparison: Comparison) -> View:
    """A chart when the runs differ in exactly one parameter, a number in every run, a different number
    in each; otherwise a table (with the reason)."""
    metrics = tuple(numeric_metrics(comparison))
    varying = set(comparison.varying_metrics)
    metric = next((m for m in metrics if m in varying), metrics[0] if metrics else None)

    def table(why: str) -> View:
        return View("table", None, metrics, metric, why)

    differing = list(comparison.differing)
    if len(comparison.runs) < 2:
        return table("there is only one run")
    if not differing:
        return table("the runs have the same inputs")
    if len(differing) > 1:
        shown = ", ".join(differing[:4]) + (", …" if len(differing) > 4 else "")
        return table(f"the runs differ in {len(differing)} inputs ({shown}), so a line would mix their effects")
    [x] = differing
    values = comparison.differing[x]
    if not all(is_number(v) for v in values):
        return table(f"{x!r} is not a number in every run")
    if len({float(v) for v in values}) < len(values):
        return table(f"some runs have the same {x!r}")
    if not metrics:
        return table("there is no numeric result to draw")
    return View("chart", x, metrics, metric)


# --- differences ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """``value - base`` and the change relative to ``base`` (``None`` when ``base`` is 0)."""

    difference: float
    relative: float | None


def change(value: Any, base: Any) -> Change | None:
    """The change from ``base`` to ``value``; ``None`` unless both are numbers."""
    if not (is_number(value) and is_number(base)):
        return None
    difference = value - base
    return Change(difference, difference / abs(base) if base else None)


# --- the default "compare with" -------------------------------------------------------------------

def default_baseline(record: RunRecord, candidates: Iterable[RunRecord], *, baseline: str | None,
                     baseline_params: Mapping[str, Any] | None = None) -> str | None:
    """The id of the run ``record`` is compared with by default.

    A rerun: its original. Otherwise the newest executed (not cached), succeeded run among ``candidates``
    (newest first) of the config's ``baseline`` scenario, other than ``record``: first one with exactly the
    baseline's values (``baseline_params``), else one recorded under the scenario's name. ``None``
    when there is none: never an arbitrary run.
    """
    if record.rerun_of:
        return record.rerun_of
    if not baseline:
        return None
    executed = [r for r in candidates if r.id != record.id and r.status == "succeeded" and not r.cache_of
                and r.notebook == record.notebook]
    if baseline_params is not None:
        wanted = dict(baseline_params)
        for run in executed:
            if run.parameters == wanted:
                return run.id
    return next((r.id for r in executed if r.scenario == baseline), None)


# --- which notebook ---------------------------------------------------------------------------

@dataclass(frozen=True)
class NotebookVersion:
    """The notebook a run executed (``ran``, a SHA-256) against the file as it is now (``current``,
    ``None`` when it cannot be read)."""

    ran: str
    current: str | None

    @property
    def matches(self) -> bool:
        return self.current == self.ran

    def describe(self) -> str:
        """``notebook 3f2a9c1 (the current file)``, or how it differs from the file now."""
        short = self.ran[:7] or "unknown"
        if self.current is None:
            return f"notebook {short} (the file is no longer there)"
        if self.matches:
            return f"notebook {short} (the current file)"
        return f"notebook {short} (the file has changed since: now {self.current[:7]})"


def notebook_version(record: RunRecord) -> NotebookVersion:
    """Which notebook ``record`` ran, and whether the notebook file still has those exact bytes."""
    try:
        current: str | None = hashlib.sha256(Path(record.notebook).read_bytes()).hexdigest()
    except (OSError, ValueError):
        current = None
    return NotebookVersion(record.notebook_sha256, current)


__all__ = ["Change", "Comparison", "NotebookVersion", "View", "change", "choose_view", "compare", "default_baseline",
           "is_number", "notebook_version", "numeric_metrics"]
