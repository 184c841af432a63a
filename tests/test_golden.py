"""Golden notebook: execute ``simple.ipynb`` through the public API, normalise, compare.

Normalising drops what changes from run to run (ids, timings, execution metadata, run ids) and
keeps what a reader sees: cells, tags, sources, execution counts and outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner import RunOptions, Store, plan_runs, run_batch
from livedocs_runner.recording import RECORD_MIME
from tests.conftest import CONFIGS

pytestmark = pytest.mark.kernel


def normalise(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    cells = []
    for cell in nb.cells:
        item: dict[str, Any] = {"type": cell.cell_type, "tags": cell.metadata.get("tags", []), "source": cell.source}
        if cell.cell_type == "code":
            item["count"] = cell.execution_count
            item["outputs"] = [_output(o) for o in cell.outputs]
        cells.append(item)
    return cells


def _output(output: nbformat.NotebookNode) -> dict[str, Any]:
    if output.output_type == "stream":
        return {"stream": output.name, "text": output.text}
    if output.output_type == "error":
        return {"error": output.ename, "evalue": output.evalue}
    return {output.output_type: {k: v for k, v in output.data.items()}}


GOLDEN = [
    {"type": "code", "tags": ["parameters"], "count": 1, "outputs": [],
     "source": 'a = 1  # an int\nb = 2.5\nname = "world"\nflag = False'},
    {"type": "code", "tags": ["injected-parameters"], "count": 2, "outputs": [],
     "source": "# Parameters injected by livedocs-runner\na = 2\nb = 2.5\nname = 'earth'\nflag = True"},
    {"type": "code", "tags": [], "count": 3,
     "source": 'total = a + b\nprint(f"hello {name}: a={a} b={b} total={total} flag={flag}")',
     "outputs": [{"stream": "stdout", "text": "hello earth: a=2 b=2.5 total=4.5 flag=True\n"}]},
    {"type": "code", "tags": [], "count": 4, "source": "print(repr(name))",
     "outputs": [{"stream": "stdout", "text": "'earth'\n"}]},
    {"type": "code", "tags": [], "count": 5, "source": 'from livedocs_runner import record\n\nrecord("total", a + b)',
     "outputs": [{"display_data": {RECORD_MIME: {"name": "total", "kind": "value", "value": 4.5},
                                   "text/plain": "total: 4.5"}}]},
]


def test_golden_simple(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    plans = plan_runs(CONFIGS / "simple.yaml", scenarios=["two"])
    [record] = run_batch(plans, store, options=RunOptions(report=False, use_cache=False, trigger="test"))
    assert record.status == "succeeded", record.error
    nb = nbformat.read(record.output_notebook, as_version=4)
    nbformat.validate(nb)
    assert normalise(nb) == GOLDEN
    assert nb.metadata.livedocs == {"run_id": record.id, "scenario": "two", "config": str((CONFIGS / "simple.yaml").resolve())}
    assert nb.metadata.papermill["parameters"] == {"a": 2, "b": 2.5, "name": "earth", "flag": True}
    assert record.trigger == "test" and record.metrics == {"total": 4.5}
    assert store.get(record.id) == record
