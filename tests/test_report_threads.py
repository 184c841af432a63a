"""Reports written from several threads at once (the app's job workers): each thread has its own
nbconvert exporter, and every report holds its own notebook's outputs and nothing else."""

from __future__ import annotations

import threading
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


def test_each_thread_has_its_own_exporter() -> None:
    barrier = threading.Barrier(3)  # three distinct threads ask at the same time

    def ask(_: int) -> tuple[object, object]:
        barrier.wait(timeout=30)
        return report._exporter(False), report._exporter(False)

    with ThreadPoolExecutor(max_workers=3) as pool:
        exporters = list(pool.map(ask, range(3)))
    assert all(first is second for first, second in exporters)  # kept within a thread
    assert len({id(first) for first, _ in exporters}) == 3  # never shared between threads


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
