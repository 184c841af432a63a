"""The HTML report's header lists the run's results with their labels and formatted values, as text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from livedocs_runner.records.store import RunRecord
from livedocs_runner.report import provenance_html, results_rows


class Results(HTMLParser):
    """The rows of the header's ``livedocs-results`` table, and every start tag of the header."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "table":
            self._inside = ("class", "livedocs-results") in attrs
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._inside = False
        elif self._inside and tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def header_rows(record: RunRecord) -> Results:
    parser = Results()
    parser.feed(str(provenance_html(record)))
    parser.close()
    return parser


def record(metrics: dict, results: dict | None = None) -> RunRecord:
    return RunRecord(id="0123456789ab", notebook="/srv/nb/model.ipynb", notebook_sha256="ab" * 32, status="succeeded",
                     scenario="baseline", metrics=metrics,
                     environment={"python": "3.11", **({"results": results} if results else {})})


def test_header_lists_labelled_formatted_results() -> None:
    run = record({"default_rate": 0.0531, "expected_loss": 3_290_000.0, "n": 12345, "note": "ok",
                  "by_region": {"type": "table", "columns": ["r"], "data": [["n"]]}},
                 {"default_rate": {"label": "Default rate", "format": "percent:1", "better": "lower"},
                  "expected_loss": {"label": "Expected loss", "format": "currency:EUR"}})
    assert header_rows(run).rows == [["Default rate", "5.3 %"], ["Expected loss", "€3.29 M"], ["n", "12,345"],
                                     ["note", "ok"]]


def test_no_results_no_section() -> None:
    html = str(provenance_html(record({})))
    assert "livedocs-results" not in html and "<h3>Results</h3>" not in html


@pytest.mark.parametrize("hostile", ["<script>parent.document.title='pwned'</script>", "</table></div><h1>owned</h1>",
                                     "<img src=x onerror=alert(1)>"])
def test_labels_units_and_values_stay_text(hostile: str) -> None:
    run = record({"rate": 0.5, hostile: hostile}, {"rate": {"label": hostile, "unit": hostile, "format": "percent:0"}})
    parsed = header_rows(run)
    assert parsed.rows == [[hostile, f"50 % {hostile}"], [hostile, hostile]]
    assert not {"script", "img", "h1"} & set(parsed.tags)


def test_long_values_are_cut() -> None:
    [(name, text)] = results_rows(record({"long": "x" * 1000}))
    assert name == "long" and len(text) == 200 and text.endswith("...")
