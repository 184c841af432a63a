"""The HTML report of a run (nbconvert): a provenance header, then the outputs, code hidden."""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import threading
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from .records.store import RunRecord, atomic_write

_STATUS_COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "cancelled": "#9a6700"}


_THREAD = threading.local()  # an HTMLExporter keeps per-call state: never share one between threads
_SPARE: dict[bool, list[HTMLExporter]] = {False: [], True: []}  # warmed up, not yet owned by a thread
_SPARE_LOCK = threading.Lock()


def _exporter(with_code: bool) -> HTMLExporter:
    """This thread's exporter of that flavour: building one loads templates (slow), so each thread
    keeps its own, starting from one :func:`warm_up` built if there is one."""
    mine: dict[bool, HTMLExporter] = _THREAD.__dict__.setdefault("exporters", {})
    if with_code not in mine:
        with _SPARE_LOCK:
            spare = _SPARE[with_code].pop() if _SPARE[with_code] else None
        mine[with_code] = spare or _new_exporter(with_code)
    return mine[with_code]


def _new_exporter(with_code: bool) -> HTMLExporter:
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = not with_code
    exporter.exclude_input_prompt = not with_code
    exporter.exclude_output_prompt = True
    return exporter


@functools.lru_cache(maxsize=1)
def warm_up() -> None:
    """Load nbconvert and compile the report template (~0.6 s the first time in a process).

    A run calls this in a background thread while its kernel starts, so the report at the end of
    a single cold run costs tens of milliseconds instead of most of a second. The exporter it
    builds is handed to the first thread that writes a report.
    """
    exporter = _new_exporter(False)
    exporter.from_notebook_node(nbformat.v4.new_notebook())
    with _SPARE_LOCK:
        _SPARE[False].append(exporter)


def provenance_html(record: RunRecord) -> str:
    """The header: status, scenario, parameters, timing, notebook hash, inputs, environment."""
    colour = _STATUS_COLOURS.get(record.status, "#57606a")
    rows = [
        ("Run", record.id), ("Status", f'<b style="color:{colour}">{html.escape(record.status)}</b>'),
        ("Scenario", html.escape(record.scenario)), ("Notebook", html.escape(record.notebook)),
        ("Notebook SHA-256", f"<code>{record.notebook_sha256}</code>"),
        ("Config", html.escape(record.config or "—")),
        ("Started", html.escape(record.started_at or "—")), ("Finished", html.escape(record.finished_at or "—")),
        ("Duration", f"{record.duration_s:.2f} s" if record.duration_s is not None else "—"),
        ("Trigger / user", html.escape(f"{record.trigger} / {record.user}")),
        ("Python / kernel", html.escape(f"{record.environment.get('python', '?')} / {record.environment.get('kernel', '?')}")),
        ("Packages SHA-256", f"<code>{record.environment.get('packages_sha256', '—')}</code>"),
    ]
    if record.rerun_of:
        rows.append(("Rerun of", record.rerun_of))
    if record.cache_of:
        rows.append(("Cached result of", record.cache_of))
    if record.error:
        err = record.error
        where = f"cell {err['cell']}: " if err.get("cell") else ""
        rows.append(("Error", html.escape(f"{where}{err.get('ename')}: {err.get('evalue')}")))
    params = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(json.dumps(v, ensure_ascii=False))}</code></td></tr>"
                     for k, v in record.parameters.items())
    inputs = "".join(f"<tr><td>{html.escape(i['path'])}</td><td>{i.get('size')}</td><td><code>{i.get('sha256')}</code></td></tr>"
                     for i in record.inputs)
    table = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{k}</th><td>{v}</td></tr>" for k, v in rows)
    parts = [f"<h2>{html.escape(record.title or Path(record.notebook).stem)} — {html.escape(record.scenario)}</h2>",
             f"<table class='livedocs-provenance' style='margin-left:0'>{table}</table>",
             f"<h3>Parameters</h3><table style='margin-left:0'>{params or '<tr><td>none</td></tr>'}</table>"]
    if inputs:
        parts.append(f"<h3>Input files</h3><table style='margin-left:0'><tr><th>path</th><th>bytes</th><th>SHA-256</th></tr>{inputs}</table>")
    return "<div class='livedocs-header' style='font-family:sans-serif;font-size:13px'>" + "".join(parts) + "<hr></div>"


def render_report(record: RunRecord, nb: nbformat.NotebookNode | None = None, *, with_code: bool = False) -> str:
    """The report's HTML for ``record`` (reads its executed notebook unless ``nb`` is given)."""
    if nb is None:
        nb = nbformat.read(record.output_notebook, as_version=4)
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # a copy we can prepend to
    header = nbformat.v4.new_markdown_cell(provenance_html(record))
    if nb.get("nbformat_minor", 0) < 5:
        header.pop("id", None)
    nb.cells.insert(0, header)
    body, _ = _exporter(with_code).from_notebook_node(nb, resources={"metadata": {"name": record.title or record.id}})
    return body


def write_report(record: RunRecord, nb: nbformat.NotebookNode | None, path: Path, *, with_code: bool = False) -> Path:
    report_record = dataclasses.replace(record, report_html=str(path))
    atomic_write(path, render_report(report_record, nb, with_code=with_code))
    return path

