"""The HTML report is inert: nothing from a CDN, a CSP that forbids scripts, a header no field can break."""

from __future__ import annotations

import threading
from html.parser import HTMLParser

import nbformat
import pytest

from livedocs_runner.errors import RunError
from livedocs_runner.records.store import RunRecord
from livedocs_runner.report import CONTENT_SECURITY_POLICY, provenance_html, render_report

HOSTILE = [
    "line one\n\n[click](javascript:alert(1)) after a blank line",
    "![](http://evil.example/x.png)",
    "</table></div><h1>owned</h1>",
    "<script>parent.document.title='pwned'</script>",
    "<img src=x onerror=\"parent.document.title='pwned'\">",
    "\n\n<a href='javascript:alert(1)'>x</a>\n\n    indented code\n\n---",
    '" onmouseover="alert(1)',
]


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of the document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    parser.close()
    return parser


def record(value: str, **extra) -> RunRecord:
    fields = dict(id="0123456789ab", notebook="/srv/nb/model.ipynb", notebook_sha256="ab" * 32, status="failed",
                  scenario=value, title=value, user=value, config=value, parameters={"note": value},
                  error=RunError(ename="ValueError", evalue=value, cell=3, traceback=value).to_json(),
                  inputs=[{"parameter": "data", "path": value, "size": 1, "sha256": "cd" * 32}])
    fields.update(extra)
    return RunRecord(**fields)


def notebook_with(*outputs: dict, markdown: str = "") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    if markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown))
    cell = nbformat.v4.new_code_cell("display(x)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=data) for data in outputs]
    nb.cells.append(cell)
    return nb


@pytest.mark.parametrize("value", HOSTILE)
def test_no_field_can_change_the_header_structure(value):
    header = parse(str(provenance_html(record(value))))
    names = [tag for tag, _ in header.tags]
    assert not {"a", "img", "script", "h1", "iframe", "pre"} & set(names), names
    assert all(not any(k.startswith("on") for k in attrs) for _, attrs in header.tags)
    # the same elements whatever the values: one header div, three tables (details, parameters, inputs)
    assert names.count("table") == 3 and names.count("div") == 1
    text = "".join(header.text)
    assert text.count(value) >= 5  # heading, scenario, user, config, input path: verbatim text
    assert f"in cell 3: ValueError: {value}" in text  # the error, as RunError renders it (no notebook to number it by)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_fields_in_the_full_report(value):
    page = parse(render_report(record(value), notebook_with({"text/plain": "42"})))
    assert not [attrs for tag, attrs in page.tags if tag in ("a", "img", "script", "iframe")]
    assert value in "".join(page.text)


def test_header_without_error_or_inputs():
    header = parse(str(provenance_html(record("base", error=None, inputs=[], status="succeeded"))))
    assert "Error" not in "".join(header.text)
    assert [tag for tag, _ in header.tags].count("table") == 2


def test_report_loads_nothing_and_runs_nothing():
    """Math, widget state and a Mermaid diagram would each pull a script from a CDN in nbconvert's template."""
    nb = notebook_with({"text/html": "<b>html output</b>", "text/plain": "x"},
                       {"text/markdown": "<img src=x onerror=\"parent.document.title='pwned'\">", "text/plain": "m"},
                       markdown="Euler: $e^{i\\pi} + 1 = 0$\n\n```mermaid\ngraph TD; A-->B\n```")
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                             "version_minor": 0}}
    html = render_report(record("base", error=None), nb)
    page = parse(html)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert not [s for s in scripts if s.get("src")], scripts
    assert "cdnjs" not in html and "unpkg" not in html and "require.js" not in html.lower()
    assert "<script src=\"http" not in html
    assert "$e^{i\\pi} + 1 = 0$" in html  # math stays readable as text
    assert "<b>html output</b>" in html  # the notebook's own HTML output is kept ...
    csp = [attrs for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert [c["content"] for c in csp] == [CONTENT_SECURITY_POLICY]  # ... in a page where no script may run
    assert "script-src" not in CONTENT_SECURITY_POLICY and "default-src 'none'" in CONTENT_SECURITY_POLICY
    first_tag = page.tags[page.tags.index(("head", {})) + 1]
    assert first_tag[0] == "meta" and first_tag[1].get("http-equiv") == "Content-Security-Policy"


def test_report_title_is_escaped():
    html = render_report(record("x", title="</title><script>alert(1)</script>", error=None), notebook_with())
    assert not [t for t, _ in parse(html).tags if t == "script"]


def test_reports_render_in_parallel_threads():
    """The shared exporter is used by one thread at a time: concurrent reports do not mix their headers."""
    results: dict[int, str] = {}

    def work(n: int) -> None:
        results[n] = render_report(record(f"scenario-{n}", error=None), notebook_with({"text/plain": f"out-{n}"}))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, html in results.items():
        assert f"scenario-{n}" in html and f"out-{n}" in html
        assert not any(f"scenario-{m}" in html for m in results if m != n)
