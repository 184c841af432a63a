"""record()'s keywords and a config's ``results:`` block, through real kernels and the real CLI: they reach the
run's record (and stay with a cache hit and a rerun), the CLI's summary line and the report's header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livedocs_runner.records.store import Store
from tests.conftest import write_notebook

pytestmark = pytest.mark.kernel

NOTEBOOK = [
    ("rate = 0.0531", ["parameters"]),
    "from livedocs_runner import record\n"
    "record('default_rate', rate, label='DR', format='percent:2', better='lower')\n"
    "record('expected_loss', 3290000.5, label='Expected loss', format='€', better='lower')\n"
    "record('n', 12345, unit='loans')\n"
    "record('plain', 0.126)\n",
]
CONFIG = """notebook: nb.ipynb
results:
  default_rate: {label: Default rate}          # wins over the notebook's label; its format and better stay
  plain: {format: 'percent:0', label: 'A <b>share</b>'}
scenarios:
  baseline: {}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    write_notebook(root / "nb.ipynb", NOTEBOOK)
    (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
    write_notebook(root / "bad.ipynb", ["from livedocs_runner import record\nrecord('x', 1, format='percnt')"])
    return root


@pytest.fixture(scope="module")
def first(project: Path, module_cli) -> dict:
    done = module_cli("run", project / "config.yaml", "--json")
    assert done.code == 0, done.stderr
    [record] = done.json()
    return {"record": record, "stderr": done.stderr}


EXPECTED = {"default_rate": {"label": "Default rate", "format": "percent:2", "better": "lower"},
            "expected_loss": {"label": "Expected loss", "format": "currency:EUR", "better": "lower"},
            "n": {"unit": "loans"},
            "plain": {"label": "A <b>share</b>", "format": "percent:0"}}


def test_keywords_and_the_config_block_reach_the_record(first: dict) -> None:
    record = first["record"]
    assert record["metrics"] == {"default_rate": 0.0531, "expected_loss": 3290000.5, "n": 12345, "plain": 0.126}
    assert record["environment"]["results"] == EXPECTED


def test_cli_summary_line_is_labelled_and_formatted(first: dict) -> None:
    line = next(ln for ln in first["stderr"].splitlines() if ln.startswith("✓ "))
    assert line.endswith("Default rate: 5.31 %  Expected loss: €3.29 M  n: 12,345 loans  A <b>share</b>: 13 %")


def test_report_header_shows_labels_and_formatted_values(first: dict) -> None:
    html = Path(first["record"]["report_html"]).read_text(encoding="utf-8")
    section = html[html.index('class="livedocs-results"'):]
    section = section[: section.index("</table>")]
    for label, value in [("Default rate", "5.31 %"), ("Expected loss", "€3.29 M"), ("n", "12,345 loans"),
                         ("A &lt;b&gt;share&lt;/b&gt;", "13 %")]:
        assert f">{label}</th><td>{value}</td>" in section


def test_a_cache_hit_and_a_rerun_keep_the_formatting(first: dict, project: Path, module_cli, module_home: Path) -> None:
    done = module_cli("run", project / "config.yaml", "--json")
    assert done.code == 0, done.stderr
    [hit] = done.json()
    assert hit["cache_of"] == first["record"]["id"]
    assert hit["environment"]["results"] == EXPECTED
    assert "Default rate: 5.31 %" in done.stderr
    again = module_cli("rerun", first["record"]["id"], "--json")
    assert again.code == 0, again.stderr
    [rerun] = json.loads(again.stdout)
    assert rerun["rerun_of"] == first["record"]["id"]
    assert Store(module_home).get(rerun["id"]).environment["results"] == EXPECTED


def test_a_bad_keyword_fails_the_run_naming_it(project: Path, module_cli) -> None:
    done = module_cli("run", project / "bad.ipynb")
    assert done.code == 1
    assert "ValueError: record('x', ...): format 'percnt' is not a known format. Did you mean 'percent'?" in done.stderr
