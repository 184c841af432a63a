"""The report's exporter validates the notebook once, after all of nbconvert's preprocessors, not after each
one: the page is byte-for-byte the one validating after each preprocessor gives, and a notebook nbformat
rejects still fails the report."""

from __future__ import annotations

import base64
import copy

import nbformat
import pytest

from livedocs_runner import report
from livedocs_runner.records.store import RunRecord

PNG = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                     "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"))


def executed_notebook() -> nbformat.NotebookNode:
    """Every kind of output a report shows: a stream, HTML, an image, markdown, an error with ANSI codes."""
    v4 = nbformat.v4
    nb = v4.new_notebook(metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    nb.cells.append(v4.new_markdown_cell("# Title\n\nSome *text* with $x^2$."))
    nb.cells.append(v4.new_code_cell("print('hi')", execution_count=1,
                                     outputs=[v4.new_output("stream", name="stdout", text="hi\n")]))
    nb.cells.append(v4.new_code_cell("df", execution_count=2, outputs=[v4.new_output(
        "execute_result", execution_count=2,
        data={"text/html": "<table><tr><td>1</td><td>2<br></td></tr></table>", "text/plain": "  1 2"})]))
    nb.cells.append(v4.new_code_cell("plot()", execution_count=3, outputs=[v4.new_output(
        "display_data", data={"image/png": PNG.decode(), "text/plain": "<Figure>"})]))
    nb.cells.append(v4.new_code_cell("1/0", execution_count=4, outputs=[v4.new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero",
        traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"])]))
    return nb


def record() -> RunRecord:
    return RunRecord(id="0123456789ab", status="failed", notebook="/nb/model.ipynb", notebook_sha256="0" * 64,
                     scenario="base", parameters={"threshold": 0.5}, metrics={"rate": 0.25},
                     error={"ename": "ZeroDivisionError", "evalue": "division by zero", "cell": 5})


@pytest.mark.parametrize("with_code", [False, True])
def test_the_page_is_the_same_as_validating_after_each_preprocessor(with_code: bool) -> None:
    nb = executed_notebook()  # one notebook: its cell ids are random
    once = report.render_report(record(), copy.deepcopy(nb), with_code=with_code)
    assert "division by zero" in once and "data:image/png;base64," in once
    exporter = report._exporters[with_code]
    assert exporter.optimistic_validation  # the shared exporter validates once
    exporter.optimistic_validation = False
    try:
        each = report.render_report(record(), copy.deepcopy(nb), with_code=with_code)
    finally:
        exporter.optimistic_validation = True
    assert once == each


def test_a_notebook_nbformat_rejects_still_fails_the_report() -> None:
    nb = executed_notebook()
    nb.cells[1].outputs[0]["output_type"] = "not-an-output"
    with pytest.raises(Exception, match="not-an-output|not valid|Notebook JSON is invalid|is not valid"):
        report.render_report(record(), nb)
