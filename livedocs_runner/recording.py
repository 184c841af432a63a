"""``record(name, value)``: a notebook's way to hand a named result to the runner.

It displays the value like any other output, and attaches a machine-readable copy under the
``application/vnd.livedocs.record+json`` MIME type. Jupyter ignores that type, so outside the
runner the cell just shows the value; the runner reads it back into the run's ``metrics`` (and the keywords saying how to show it into
the record's result specs, see :mod:`livedocs_runner.results`).
Kept free of heavy imports: it runs inside every kernel.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from .results import ResultSpec, SpecProblem, make_spec

from .result_format import format_value

RECORD_MIME = "application/vnd.livedocs.record+json"
SCRAPBOOK_MIME = "application/scrapbook.scrap.json+json"
MAX_TABLE_ROWS = 1000


def record(name: str, value: Any, *, label: str | None = None, unit: str | None = None,
           format: str | None = None, better: str | None = None) -> None:  # noqa: A002 - the word users know
    """Display ``value`` and record it as the run's metric ``name``.

    ``value`` may be a number, a string, a bool, a list/dict of those, or a pandas DataFrame
    (at most 1000 rows; stored as ``{"columns": [...], "data": [[...], ...]}``).
    How it is shown (a config's ``results:`` block wins over these): ``label`` (``"Default rate"``),
    ``unit`` (``"loans"``), ``format`` (``plain``, ``integer``, ``decimals:N``, ``percent[:N]``,
    ``currency:EUR`` or ``€``) and ``better`` (``"higher"`` or ``"lower"``: colours the change
    against a baseline). A bad keyword raises ``ValueError`` naming it and the allowed values.
    """
    if not isinstance(name, str) or not name:
        raise ValueError("record() needs a non-empty string name, e.g. record('default_rate', 0.12)")
    try:
        spec = make_spec(label=label, unit=unit, format=format, better=better)
    except SpecProblem as exc:
        raise ValueError(f"record({name!r}, ...): {exc}") from None
    payload = {"name": name, **encode(value)}
    if spec:
        payload["spec"] = spec.to_json()
    bundle = {RECORD_MIME: payload}
    bundle.update(_representations(name, value, spec))
    ipython = sys.modules.get("IPython")  # never imported here: a kernel has it loaded already
    if ipython is None or ipython.get_ipython() is None:  # plain Python: nothing to display into
        print(f"{name} = {value!r}")
        return
    from IPython.display import display
    display(bundle, raw=True)


def encode(value: Any) -> dict[str, Any]:
    """``{"kind": "value"|"table", "value": ...}`` with JSON-safe content."""
    if _is_dataframe(value):
        if len(value) > MAX_TABLE_ROWS:
            raise ValueError(f"record() keeps tables of at most {MAX_TABLE_ROWS} rows; this one has {len(value)}. "
                             "Aggregate it first or record a summary.")
        frame = value.reset_index() if _has_named_index(value) else value
        data = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
        return {"kind": "table", "value": {"columns": [str(c) for c in data["columns"]], "data": data["data"]}}
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()  # numpy scalar
    return {"kind": "value", "value": _plain(value)}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and callable(value.item):
        return _plain(value.item())
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    raise TypeError(f"record() cannot store a {type(value).__name__}; use a number, string, list, dict or DataFrame.")


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_json")


def _has_named_index(frame: Any) -> bool:
    return any(name is not None for name in frame.index.names)


def _representations(name: str, value: Any, spec: ResultSpec) -> dict[str, Any]:
    if _is_dataframe(value):
        return {"text/html": value.to_html(max_rows=50), "text/plain": repr(value)}
    if spec.format or spec.unit:
        return {"text/plain": f"{spec.title(name)}: {format_value(value, spec)}"}
    if isinstance(value, float):
        return {"text/plain": f"{spec.title(name)}: {value:.6g}"}
    return {"text/plain": f"{spec.title(name)}: {value!r}"}
