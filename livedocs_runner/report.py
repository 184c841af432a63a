"""The HTML report of a run (nbconvert): a provenance header, then the outputs, code hidden.

The report is a self-contained, inert document: it loads nothing from the network (no require.js,
MathJax, Mermaid or widget scripts from a CDN; math stays as its LaTeX text) and carries a
Content-Security-Policy that forbids scripts and remote requests, so whatever HTML a notebook
displayed cannot run or phone home, even when the downloaded file is opened on its own.

The provenance header is not part of the notebook: it is rendered by its own autoescaping
template and placed into the page after conversion, so no field (scenario, title, user, error
text) can change its structure, whatever it contains.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from markupsafe import Markup
from nbconvert import HTMLExporter

from .cells import record_error
from .errors import RunError
from .outputs import is_table
from .plain import plain_text
from .records.store import RunRecord, atomic_write
from .results import specs_for
from .result_format import format_value

# No scripts at all, nothing fetched from anywhere; inline styles and embedded (data:) images only.
CONTENT_SECURITY_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
                           "form-action 'none'; base-uri 'none'")

_STATUS_COLOURS = {"succeeded": "#1a7f37", "failed": "#cf222e", "cancelled": "#9a6700"}

# nbconvert's lab template without any <script src=...> (require.js, MathJax, Mermaid, widgets);
# the CSP first thing in <head>; the header (already escaped HTML) first thing in <main>.
_PAGE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head -%}
<meta http-equiv="Content-Security-Policy" content="{{ resources.livedocs_csp }}">
{{ super() }}
{%- endblock html_head -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block body_header -%}
{{ super() }}
{{ resources.livedocs_header }}
{%- endblock body_header -%}
"""

# Every {{ field }} is escaped by the environment (autoescape): text stays text.
_HEADER_TEMPLATE = """\
<div class="livedocs-header" style="font-family:sans-serif;font-size:13px;padding:0 1em">
<h2>{{ heading }}</h2>
<table class="livedocs-provenance" style="margin-left:0">
{%- for name, value, style in rows %}
<tr><th style="text-align:left;padding-right:1em">{{ name }}</th><td>
{%- if style == "code" %}<code>{{ value }}</code>
{%- elif style %}<b style="color:{{ style }}">{{ value }}</b>
{%- else %}{{ value }}{% endif %}</td></tr>
{%- endfor %}
</table>
{%- if results %}
<h3>Results</h3>
<table class="livedocs-results" style="margin-left:0">
{%- for label, value in results %}
<tr><th style="text-align:left;padding-right:1em">{{ label }}</th><td>{{ value }}</td></tr>
{%- endfor %}
</table>
{%- endif %}
<h3>Parameters</h3>
<table class="livedocs-parameters" style="margin-left:0">
{%- for name, value in parameters %}
<tr><td><code>{{ name }}</code></td><td><code>{{ value }}</code></td></tr>
{%- else %}
<tr><td>none</td></tr>
{%- endfor %}
</table>
{%- if inputs %}
<h3>Input files</h3>
<table class="livedocs-inputs" style="margin-left:0"><tr><th>path</th><th>bytes</th><th>SHA-256</th></tr>
{%- for path, size, sha in inputs %}
<tr><td>{{ path }}</td><td>{{ size }}</td><td><code>{{ sha }}</code></td></tr>
{%- endfor %}
</table>
{%- endif %}
<hr>
</div>
"""

_header = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(_HEADER_TEMPLATE)

# Building an exporter loads and compiles templates (slow), so each flavour is built once per process
# and shared; nbconvert exporters are not thread-safe, so one conversion at a time (tens of ms each).
_exporters: dict[bool, HTMLExporter] = {}
_exporter_lock = threading.Lock()


def _convert(nb: nbformat.NotebookNode, resources: dict, *, with_code: bool) -> str:
    with _exporter_lock:
        exporter = _exporters.get(with_code)
        if exporter is None:
            exporter = HTMLExporter(template_name="lab", template_file="livedocs_report.html.j2",
                                    extra_loaders=[jinja2.DictLoader({"livedocs_report.html.j2": _PAGE_TEMPLATE})])
            exporter.exclude_input = not with_code
            exporter.exclude_input_prompt = not with_code
            exporter.exclude_output_prompt = True
            # validate the notebook once after all preprocessors, not after each of them (same page, ~1 ms less)
            exporter.optimistic_validation = True
            _exporters[with_code] = exporter
        body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def warm_up() -> None:
    """Load nbconvert and compile the report template (~0.6 s the first time in a process).

    A run calls this in a background thread while its kernel starts, so the report at the end of
    a single cold run costs tens of milliseconds instead of most of a second.
    """
    if False not in _exporters:
        _convert(nbformat.v4.new_notebook(), _resources(Markup(""), "warm-up"), with_code=False)


def error_text(error: RunError) -> str:
    """``in code cell 3 of 4 ("Score applications"): ZeroDivisionError: division by zero``: the one-line form of a
    run error (cells counted in the analyst's notebook, see :mod:`livedocs_runner.cells`)."""
    return error.describe()


def plain_error_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with its error outputs (traceback, name, value) as plain text, for the report.

    IPython colours tracebacks with ANSI escape codes; the executed notebook keeps them (Jupyter shows
    the colours), the report shows the traceback as plain text, like the app and the record. Only the
    cells with an error output are copied.
    """
    def has_error(cell: Any) -> bool:
        return any(o.get("output_type") == "error" for o in cell.get("outputs", []) or [])

    if not any(has_error(c) for c in nb.cells):
        return nb
    plain_nb = copy.copy(nb)
    plain_nb.cells = [copy.deepcopy(c) if has_error(c) else c for c in nb.cells]
    for cell in plain_nb.cells:
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "error":
                output["ename"] = plain_text(output.get("ename", ""))
                output["evalue"] = plain_text(output.get("evalue", ""))
                output["traceback"] = [plain_text(line) for line in output.get("traceback", []) or []]
    return plain_nb


def provenance_html(record: RunRecord) -> Markup:
    """The header: status, scenario, results (labelled and formatted), parameters, timing, notebook hash,
    inputs, environment.

    Built by an autoescaping template from plain text values, so it is always well-formed HTML
    in which every field is text.
    """
    env = record.environment or {}
    rows: list[tuple[str, str, str]] = [
        ("Run", record.id, ""), ("Status", record.status, _STATUS_COLOURS.get(record.status, "#57606a")),
        ("Scenario", record.scenario, ""), ("Notebook", record.notebook, ""),
        ("Notebook SHA-256", record.notebook_sha256, "code"), ("Config", record.config or "—", ""),
        ("Started", record.started_at or "—", ""), ("Finished", record.finished_at or "—", ""),
        ("Duration", f"{record.duration_s:.2f} s" if record.duration_s is not None else "—", ""),
        ("Trigger / user", f"{record.trigger} / {record.user}", ""),
        ("Python / kernel", f"{env.get('python', '?')} / {env.get('kernel', '?')}", ""),
        ("Packages SHA-256", str(env.get("packages_sha256", "—")), "code"),
    ]
    if record.rerun_of:
        rows.append(("Rerun of", record.rerun_of, ""))
    if record.cache_of:
        rows.append(("Cached result of", record.cache_of, ""))
    error = record_error(record)
    if error is not None:
        rows.append(("Error", error_text(error), ""))
    parameters = [(name, json.dumps(value, ensure_ascii=False)) for name, value in record.parameters.items()]
    inputs = [(str(i.get("path")), str(i.get("size")), str(i.get("sha256"))) for i in record.inputs]
    heading = f"{record.title or Path(record.notebook).stem} — {record.scenario}"
    return Markup(_header.render(heading=heading, rows=rows, results=results_rows(record), parameters=parameters,
                                 inputs=inputs))


def results_rows(record: RunRecord) -> list[tuple[str, str]]:
    """``(label, formatted value)`` of each recorded value but tables, as the run's specs say."""
    specs = specs_for(record)
    rows = []
    for name, value in record.metrics.items():
        if not is_table(value):
            spec = specs.get(name)
            text = format_value(value, spec)
            rows.append((spec.title(name) if spec else name, text if len(text) <= 200 else text[:197] + "..."))
    return rows


def _resources(header: Markup, name: str) -> dict:
    return {"metadata": {"name": name}, "livedocs_header": header, "livedocs_csp": CONTENT_SECURITY_POLICY}


def render_report(record: RunRecord, nb: nbformat.NotebookNode | None = None, *, with_code: bool = False) -> str:
    """The report's HTML for ``record`` (reads its executed notebook unless ``nb`` is given)."""
    if nb is None:
        nb = nbformat.read(record.output_notebook, as_version=4)
    nb = plain_error_outputs(nb)
    return _convert(nb, _resources(provenance_html(record), record.title or record.id), with_code=with_code)


def write_report(record: RunRecord, nb: nbformat.NotebookNode | None, path: Path, *, with_code: bool = False) -> Path:
    report_record = dataclasses.replace(record, report_html=str(path))
    atomic_write(path, render_report(report_record, nb, with_code=with_code))
    return path
