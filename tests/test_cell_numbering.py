"""One cell numbering everywhere: progress, errors, the app, the CLI and the report count the analyst's cells.

The executed notebook has an injected-parameters cell the analyst never wrote; what people read says
"code cell 3 of 4" (the app: "step 3") and names the step, while the record keeps both numberings.
``fails_with_escapes.ipynb``: a title, the parameters cell, "# Load the applications", a "## Score
applications" heading, then the cell that raises an error full of terminal escape codes, then one more.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from livedocs_runner.cells import INJECTED_STEP, Numbering, locate, record_error
from livedocs_runner.cli.progress import ProgressView, cell_words
from livedocs_runner.errors import RunError
from livedocs_runner.execute import Progress, RunOptions, execute_run
from livedocs_runner.inject import parameterize
from livedocs_runner.notebook import load_notebook
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import RunRecord, Store, new_id
from livedocs_runner.report import render_report

from .conftest import NOTEBOOKS, CliResult, cli_runner, until, write_notebook
from .test_app import APP, AppTest, run_until_done, shown, texts  # AppTest imported there, keeping MPLBACKEND

if str(APP.parent) not in sys.path:
    sys.path.insert(0, str(APP.parent))

FAILS = NOTEBOOKS / "fails_with_escapes.ipynb"
MESSAGE = "ZeroDivisionError: division by zero"
WHERE = 'in code cell 3 of 4 ("Score applications")'


def terminal_codes(text: str) -> list[str]:
    """Every character of ``text`` that could act on a terminal (ESC, BEL, C1 such as CSI U+009B ...)."""
    return [c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"]


def md_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def code_cell(source: str, *tags: str) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {"tags": list(tags)} if tags else {}, "source": source, "outputs": []}


# --- numbering and step names, without a kernel --------------------------------------------------

def test_the_injected_cell_is_not_counted() -> None:
    nb = parameterize(load_notebook(FAILS).node, {"divisor": 0})
    numbering = Numbering(nb.cells)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code", "markdown", "code", "code"]
    assert numbering.code_cells == 4
    failing = numbering.place(5)  # 0-based in output.ipynb; 1-based cell 6
    assert failing is not None
    assert (failing.cell, failing.source_cell, failing.code_cell, failing.code_cells) == (6, 5, 3, 4)
    assert (failing.step, failing.first_line) == ("Score applications", "total = sum(values)")
    injected = numbering.place(2)
    assert injected is not None and (injected.source_cell, injected.code_cell, injected.step) == (None, None, INJECTED_STEP)
    assert not numbering.is_analyst_code(2) and numbering.is_analyst_code(3)
    assert [numbering.code_cells_started(i) for i in range(7)] == [0, 1, 1, 2, 2, 3, 4]
    assert numbering.place(7) is None and numbering.place(-1) is None


@pytest.mark.parametrize(("cells", "step"), [
    # a heading in the text cell right before: the last one in it, trailing #s and markup-free text kept
    ([md_cell("intro"), code_cell("x = 1", "parameters"), md_cell("## Load\n\ntext\n### Score applications ##"),
      code_cell("y = 1")], "Score applications"),
    # an underlined (setext) heading
    ([md_cell("intro"), code_cell("x = 1"), md_cell("Score applications\n------------------"), code_cell("y = 1")],
     "Score applications"),
    # several text cells between: the nearest one with a heading wins
    ([md_cell("intro"), code_cell("x = 1"), md_cell("## Section"), md_cell("no heading"), code_cell("y = 1")],
     "Section"),
    # a heading above an earlier code cell does not name this one: its leading comment does
    ([md_cell("x"), code_cell("a = 1"), md_cell("## Load"), code_cell("b = 1"),
      code_cell("%%time\n\n# ---------\n#  Score it  \nc = 1")], "Score it"),  # a ruler is no name
    # no heading, no comment: the first line of code, cut
    ([code_cell("\n\nresult = compute_the_scores_for_every_application_in_the_quarter(df, threshold)\nmore")],
     "result = compute_the_scores_for_every_application_in_the_qu…"),
    # the notebook's first cell is its title, not a step name; a shebang is not a comment
    ([md_cell("# Credit risk scorecard"), code_cell("#!/usr/bin/env python\nimport numpy as np")],
     "#!/usr/bin/env python"),
    # "#hashtag" is not a heading; terminal codes in a heading are dropped
    ([code_cell("a = 1"), md_cell("#hashtag\n## \x1b[31mRed\x1b[0m step"), code_cell("b = 1")], "Red step"),
])
def test_step_names(cells: list[dict[str, Any]], step: str) -> None:
    numbering = Numbering(cells)
    assert numbering.step(len(cells) - 1) == step


def test_numbering_from_the_notebook_copy_matches_the_executed_notebook() -> None:
    """Old records are numbered from the notebook copy and their parameters: it must agree with execution."""
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        try:
            notebook = load_notebook(path)
            notebook.node  # noqa: B018
        except Exception:  # noqa: BLE001 - the deliberately unreadable test notebooks
            continue
        raw_cells = json.loads(notebook.raw)["cells"]
        for params in ({}, {"x": 1}):
            executed = Numbering(parameterize(notebook.node, params).cells)
            rebuilt = Numbering.of_source(raw_cells, injected=bool(params))
            places = [executed.place(i) for i in range(len(executed.cells))]
            assert places == [rebuilt.place(i) for i in range(len(rebuilt.cells))], (path.name, params)


cells_strategy = st.lists(st.builds(
    lambda kind, source, tags: {"cell_type": kind, "metadata": {"tags": tags}, "source": source},
    st.sampled_from(["code", "markdown", "raw"]),
    st.text() | st.lists(st.text(), max_size=3),
    st.lists(st.sampled_from(["parameters", "injected-parameters", "other"]), max_size=2)), max_size=12)


@given(cells_strategy)
def test_any_notebook_is_numbered_consistently(cells: list[dict[str, Any]]) -> None:
    numbering = Numbering(cells)
    places = [numbering.place(i) for i in range(len(cells))]
    assert all(p is not None for p in places)
    counted = [p for p in places if p is not None and p.source_cell is not None]
    assert [p.source_cell for p in counted] == list(range(1, len(counted) + 1))  # injected cells left out
    codes = [p.code_cell for p in counted if p.code_cell is not None]
    assert codes == list(range(1, numbering.code_cells + 1))
    for place in places:
        assert place is not None
        for name in (place.step, place.first_line):
            assert len(name) <= 60 and "\n" not in name and not terminal_codes(name)


def test_a_stale_injected_cell_in_the_source_is_dropped_as_when_executed() -> None:
    cells = [code_cell("a = 1", "parameters"), code_cell("a = 2", "injected-parameters"), code_cell("1 / 0")]
    rebuilt = Numbering.of_source(cells, injected=True)
    assert rebuilt.code_cells == 2 and rebuilt.place(2).code_cell == 2  # type: ignore[union-attr]


def test_locate_leaves_errors_outside_cells_alone() -> None:
    numbering = Numbering([code_cell("1 / 0")])
    assert locate(RunError(ename="KernelStartError"), numbering) == RunError(ename="KernelStartError")
    assert locate(RunError(ename="X", cell=9), numbering) == RunError(ename="X", cell=9)  # no such cell
    assert locate(RunError(ename="X", cell=1), numbering).where == "in code cell 1 of 1"


def test_cell_words_in_progress_lines() -> None:
    event = Progress("aaa", "base", "running", 3, 4, 1.0, "Score applications")
    assert cell_words(event) == 'code cell 3 of 4 ("Score applications")'
    assert cell_words(Progress("aaa", "base", "running", 1, 4, 0.1)) == "code cell 1 of 4"
    assert cell_words(Progress("a", "b", "running", 1, 2, 0.1, "\x1b]0;t\x07x")) == 'code cell 1 of 2 ("\\u001b]0;t\\u0007x")'


# --- a real failing run -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def failed_cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CliResult, dict[str, Any]]:
    home = tmp_path_factory.mktemp("home")
    result = cli_runner(home)("run", FAILS, "--json", "--no-cache", timeout=300)
    assert result.code == 1, result.stderr
    [record] = result.json()
    return home, result, record


@pytest.mark.kernel
def test_the_record_keeps_both_numberings_as_plain_text(failed_cli) -> None:
    _, result, record = failed_cli
    assert not terminal_codes(result.stdout), "the --json output has terminal codes"
    error = record["error"]
    assert {k: v for k, v in error.items() if k != "traceback"} == {
        "ename": "ZeroDivisionError", "evalue": "division by zero", "cell": 6, "source_cell": 5, "code_cell": 3,
        "code_cells": 4, "first_line": "total = sum(values)", "step": "Score applications"}
    assert not terminal_codes(json.dumps(error, ensure_ascii=False))
    assert "ZeroDivisionError: division by zero" in error["traceback"]
    # the executed notebook keeps IPython's colours for Jupyter; the record, the app and the report do not
    nb = nbformat.read(record["output_notebook"], as_version=4)
    [output] = [o for o in nb.cells[5].outputs if o.output_type == "error"]
    assert "\x1b[" in "".join(output.traceback) and "\x1b]0;pwned\x07" in output.evalue


@pytest.mark.kernel
def test_the_cli_names_the_analysts_cell(failed_cli) -> None:
    home, result, record = failed_cli
    [line] = [line for line in result.stderr.splitlines() if line.startswith("✗")]
    assert line.startswith(f"✗ Run {record['id']} (default) failed {WHERE}: {MESSAGE}. Partial output: ")
    assert not terminal_codes(result.stderr)
    shown_record = cli_runner(home)("show", record["id"])
    assert f"Error:            failed {WHERE}: {MESSAGE}\n" in shown_record.stdout
    as_json = cli_runner(home)("show", record["id"], "--json")
    assert not terminal_codes(as_json.stdout) and json.loads(as_json.stdout)["error"] == record["error"]


@pytest.mark.kernel
def test_the_report_shows_the_error_as_plain_text(failed_cli) -> None:
    _, _, record = failed_cli
    report = Path(record["report_html"]).read_text(encoding="utf-8")
    assert not terminal_codes(report), "the report has terminal codes"
    assert f"{WHERE}: {MESSAGE}" in report  # the header's Error row
    assert "ZeroDivisionError: division by zero</pre>" in report  # the cell's traceback, plain text
    assert 'class="ansi-' not in report.rsplit("Score applications", 1)[1]  # the failing cell (under its heading) is not coloured


@pytest.mark.kernel
def test_the_app_says_which_step_stopped(failed_cli, monkeypatch) -> None:
    home, _, record = failed_cli
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(NOTEBOOKS.parent / "configs"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["run"] = record["id"]
    at.run()
    assert not at.exception
    assert texts(at.error) == [f'The run stopped at step 3 ("Score applications"): {MESSAGE}']
    assert at.expander[0].label == "Technical detail"
    assert shown(at.expander[0].caption[0].value) == (
        "Step 3 is code cell 3 of 4 in the notebook (cell 5 counting its text cells), which starts with: "
        "total = sum(values)")
    detail = at.expander[0].code[0].value
    assert "ZeroDivisionError: division by zero" in detail and not terminal_codes(detail)


def old_style_copy(home: Path, record: dict[str, Any], **changes: Any) -> RunRecord:
    """A copy of ``record`` as a release before the numbering wrote it: the error has cell, ename, evalue and
    traceback only, with IPython's escape codes still in it."""
    store = Store(home)
    error = {"cell": 6, "ename": "ZeroDivisionError", "evalue": "division by zero\x1b]0;pwned\x07",
             "traceback": "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"}
    original = store.get(record["id"])
    return store.add(dataclasses.replace(original, id=new_id(), error=error, created_at="", run_dir="", **changes))


@pytest.mark.kernel
def test_an_old_style_record_is_numbered_from_its_notebook_copy(failed_cli, monkeypatch) -> None:
    home, _, record = failed_cli
    old = old_style_copy(home, record)
    error = record_error(Store(home).get(old.id))
    assert error is not None and (error.cell, error.code_cell, error.code_cells, error.source_cell, error.step) == (
        6, 3, 4, 5, "Score applications")
    shown_record = cli_runner(home)("show", old.id)
    assert f"Error:            failed {WHERE}: {MESSAGE}\n" in shown_record.stdout
    as_json = cli_runner(home)("show", old.id, "--json")
    assert not terminal_codes(as_json.stdout)
    assert json.loads(as_json.stdout)["error"]["evalue"] == "division by zero"
    assert f"{WHERE}: {MESSAGE}" in render_report(Store(home).get(old.id))
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(NOTEBOOKS.parent / "configs"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["run"] = old.id
    at.run()
    assert texts(at.error) == [f'The run stopped at step 3 ("Score applications"): {MESSAGE}']
    assert not terminal_codes(at.expander[0].code[0].value)


@pytest.mark.kernel
def test_an_old_style_record_without_its_notebooks_still_displays(failed_cli, monkeypatch) -> None:
    home, _, record = failed_cli
    old = old_style_copy(home, record, notebook_copy=str(home / "gone.ipynb"), output_notebook=None)
    shown_record = cli_runner(home)("show", old.id)
    assert f"Error:            failed in cell 6: {MESSAGE}\n" in shown_record.stdout
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(NOTEBOOKS.parent / "configs"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["run"] = old.id
    at.run()
    assert not at.exception
    assert texts(at.error) == [f"The run stopped in cell 6: {MESSAGE}"]


# --- progress -----------------------------------------------------------------------------------

@pytest.mark.kernel
def test_progress_counts_the_analysts_code_cells(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the live line is cut to the terminal's width
    events: list[Progress] = []
    [plan] = plan_runs(FAILS)
    record = execute_run(plan, Store(tmp_path / "home"), options=RunOptions(report=False), progress=events.append)
    assert record.status == "failed"
    running = [(e.cell, e.cells, e.step) for e in events if e.status == "running"]
    assert running == [(0, 4, ""), (1, 4, "divisor = 0"), (2, 4, "Load the applications"),
                       (3, 4, "Score applications")]  # kernel start, then each analyst cell once: no injected cell
    assert (events[-1].status, events[-1].cell, events[-1].cells) == ("failed", 3, 4)
    out = _LiveStream()
    view = ProgressView(workers=1, stream=out, live=True)
    for event in events[:-1]:
        view(event)
    assert out.getvalue().endswith(f'{record.id} default: code cell 3 of 4 ("Score applications")')


class _LiveStream:
    """A stream that keeps what was written (the live line is written to the terminal under SafeStream)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def getvalue(self) -> str:
        return "".join(self.parts)


@pytest.mark.kernel
def test_the_app_shows_the_running_step(tmp_path: Path, monkeypatch) -> None:
    configs = tmp_path / "configs"
    write_notebook(configs / "waits.ipynb", [
        ('rounds = 1', ["parameters"]),
        "# Wait for the go signal\nimport os, time\nfor _ in range(6000):\n    if os.path.exists('go.flag'):\n"
        "        break\n    time.sleep(0.05)",
        "print('done')",
    ])
    (configs / "waits.yaml").write_text("notebook: waits.ipynb\ntitle: Waits\nscenarios:\n  base: {}\n",
                                        encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    monkeypatch.setenv("LIVEDOCS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIVEDOCS_WORKERS", "1")
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["notebook"] = "waits"
    at.run()
    at.button(key="run:waits").click().run()

    def running_step() -> bool:
        at.run()
        return any("step 2 of 3" in i for i in texts(at.info))

    try:
        until(running_step, "the app to show the running step")
        assert any(i.startswith("Running: step 2 of 3 (Wait for the go signal) · ") for i in texts(at.info)), texts(at.info)
    finally:
        (configs / "go.flag").write_text("go", encoding="utf-8")
    at = run_until_done(at)
    assert texts(at.success)[0].startswith("Succeeded")

