"""Side-by-side comparison of runs: which parameters differ, and their metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


def compare(records: Sequence[RunRecord]) -> Comparison:
    names: dict[str, None] = {}
    metric_names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record.parameters))
        metric_names.update(dict.fromkeys(k for k, v in record.metrics.items() if not is_table(v)))
    differing, same = {}, {}
    for name in names:
        values = [r.parameters.get(name, _MISSING) for r in records]
        if all(v == values[0] for v in values):
            same[name] = values[0]
        else:
            differing[name] = values
    metrics = {m: [r.metrics.get(m) for r in records] for m in metric_names}
    return Comparison(tuple(r.id for r in records), tuple(r.scenario for r in records), differing, same, metrics)
