"""Reports written from several threads at once (the app's job workers): the shared nbconvert
exporter is used one conversion at a time, so every report holds its own notebook's outputs and
nothing else."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import nbformat

from livedocs_runner import report
from livedocs_runner.records.store import RunRecord


def notebook_printing(marker: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"print({marker!r})")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{marker}\n" * 200)]
    nb.cells.append(cell)
    return nb


def test_concurrent_reports_hold_only_their_own_outputs() -> None:
    markers = [f"marker-{n:02d}-output" for n in range(12)]

    def render(marker: str) -> str:
        record = RunRecord(id=marker, status="succeeded", notebook=f"/nb/{marker}.ipynb", notebook_sha256="0" * 64,
                           scenario=marker)
        return report.render_report(record, notebook_printing(marker))

    with ThreadPoolExecutor(max_workers=6) as pool:
        pages = list(pool.map(render, markers))
    for marker, page in zip(markers, pages):
        assert page.count(marker) >= 200
        assert not [other for other in markers if other != marker and other in page]
