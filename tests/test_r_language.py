"""R notebooks without R: the parameters cell's inference, the injected R cell and what it refuses,
language detection, and the missing-kernel refusal (exit 2, nothing recorded). The same values
through a real R kernel are in test_r_kernel.py."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livedocs_runner.errors import ParameterError
from livedocs_runner.inference_r import infer_r
from livedocs_runner.inject import injected_source, parameterize
from livedocs_runner.inject_r import read_r_literal
from livedocs_runner.notebook import load_notebook

from .conftest import REPO, CliResult, assert_nothing_ran, run_records

R_KERNELSPEC = {"display_name": "R", "language": "R", "name": "ir"}


def write_r_notebook(path: Path, parameters: str, *cells: str, kernelspec: dict[str, str] = R_KERNELSPEC) -> Path:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernelspec, "language_info": {"name": "R"}})
    nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# --- inference: (cell, name, type, default, help, literal) ----------------------------------------

@pytest.mark.parametrize("cell, name, ptype, default, help_text, literal", [
    ('threshold <- 0.5  # approve below this', "threshold", "float", 0.5, "approve below this", True),
    ('threshold = 0.5', "threshold", "float", 0.5, "", True),
    ('x <- -2', "x", "float", -2.0, "", True),  # a bare number is an R double
    ('x <- 1e-3', "x", "float", 0.001, "", True),
    ('x <- .5', "x", "float", 0.5, "", True),
    ('n <- 10L  # rows', "n", "int", 10, "rows", True),
    ('n <- -3L', "n", "int", -3, "", True),
    ('s <- "text"', "s", "str", "text", "", True),
    ("s <- 'single'", "s", "str", "single", "", True),
    ('s <- "a \\"quoted\\" \\\\ path\\n"', "s", "str", 'a "quoted" \\ path\n', "", True),
    ('s <- "caf\\u00e9 \\U{1F600}"', "s", "str", "café 😀", "", True),
    ('s <- "# not a comment"  # the help', "s", "str", "# not a comment", "the help", True),
    ('b <- TRUE', "b", "bool", True, "", True),
    ('b = FALSE  # flag', "b", "bool", False, "flag", True),
    ('z <- NULL  # nothing yet', "z", "any", None, "nothing yet", True),
    ('v <- c("north", "south")', "v", "list", ["north", "south"], "", True),
    ('v <- c(1, 2.5, 3)', "v", "list", [1.0, 2.5, 3.0], "", True),
    ('v <- c(\n  "a",  # first\n  "b,c"\n)  # regions', "v", "list", ["a", "b,c"], "regions", True),
    ('v <- c()', "v", "list", [], "", True),
    ('# the quarter to score\nf <- "q3.csv"', "f", "str", "q3.csv", "the quarter to score", True),
    ('x <- 0.5  # type: float # help after the type', "x", "float", 0.5, "help after the type", True),
    ('n <- 10  # type: int', "n", "int", 10.0, "", True),
    # not literals: the notebook's own value runs, typed `any` (the config can type them)
    ('start <- Sys.Date()  # today', "start", "any", None, "today", False),
    ('x <- NA', "x", "any", None, "", False),
    ('x <- Inf', "x", "any", None, "", False),
    ('x <- 1e999', "x", "any", None, "", False),
    ('x <- 1 + 1', "x", "any", None, "", False),
    ('x <- T', "x", "any", None, "", False),
    ('x <- c(1, sqrt(2))', "x", "any", None, "", False),
    ('x <- c(1, c(2))', "x", "any", None, "", False),
    ('x <- list(a = 1)', "x", "any", None, "", False),
    ('x <- "\\x41"', "x", "any", None, "", False),  # a byte escape: not inferred
    ('x <- 1; y <- 2', "x", "any", None, "", False),
    ('x <- system("id")', "x", "any", None, "", False),
])
def test_inference_table(cell: str, name: str, ptype: str, default: Any, help_text: str, literal: bool) -> None:
    spec = {s.name: s for s in infer_r(cell)}[name]
    assert (spec.type, spec.default, spec.help, spec.literal) == (ptype, default, help_text, literal)
    assert type(spec.default) is type(default)


def test_inference_skips_what_is_not_a_parameter() -> None:
    specs = infer_r('data.file <- "x"\nx <<- 1\n1 -> y\nif (TRUE) z <- 2\nlibrary(stats)\nw == 1\nlast <- 1\nlast <- 2L')
    assert [(s.name, s.type, s.default, s.line) for s in specs] == [("last", "int", 2, 8)]  # a later one wins


def test_inference_never_evaluates(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    specs = infer_r(f'x <- file.create("{marker}")')
    assert specs[0].type == "any" and not marker.exists()


def test_the_demo_notebook_schema(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("inspect", REPO / "notebooks" / "credit_risk_r.ipynb", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert (data["language"], data["kernel"]) == ("R", "ir")
    assert {p["name"]: (p["type"], p["default"]) for p in data["parameters"]} == {
        "data_file": ("path", "../data/loans_2026Q3.csv"), "threshold": ("float", 0.5),
        "unemployment_shock": ("float", 0.0), "min_credit_score": ("int", 300),
        "segments": ("list", ["north", "south", "east", "west"])}
    assert data["parameters"][0]["inferred_path"] is True  # names a file next to the notebook, as in Python
    text = run_cli("inspect", REPO / "configs" / "credit_risk_r.yaml")
    assert text.code == 0 and "language: R (kernel ir)" in text.stdout


# --- language detection ---------------------------------------------------------------------------

@pytest.mark.parametrize("metadata, language", [
    ({"kernelspec": R_KERNELSPEC}, "R"),
    ({"kernelspec": {"name": "ir", "display_name": "R"}, "language_info": {"name": "R"}}, "R"),
    ({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}, "python"),
    ({}, "python"),
])
def test_language_detection(tmp_path: Path, metadata: dict[str, Any], language: str) -> None:
    nb = nbformat.v4.new_notebook(metadata=metadata)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    assert load_notebook(path).language == language


def test_other_languages_infer_nothing_and_inject_nothing(tmp_path: Path) -> None:
    path = write_r_notebook(tmp_path / "j.ipynb", "x = 1", kernelspec={"name": "julia-1.9", "display_name": "Julia",
                                                                        "language": "julia"})
    assert load_notebook(path).parameters() == []
    with pytest.raises(ParameterError, match="cannot inject parameters into a 'julia' notebook"):
        injected_source({"x": 1}, "julia", "julia-1.9")


# --- the injected R cell ---------------------------------------------------------------------------

def test_injected_cell_is_written_by_papermill_and_placed_like_python(tmp_path: Path) -> None:
    from papermill.translators import RTranslator

    params = {"s": 'q"\\\n${x}`b` ✓ 😀', "n": 10, "f": 0.1, "b": True, "z": None, "l": [1, "x", [2.5]],
              "d": {"k": False}}
    source = injected_source(params, "R", "ir")
    lines = source.splitlines()
    assert lines[0] == "# Parameters injected by livedocs-runner"
    assert lines[1:] == [f"{k} = {RTranslator.translate(v)}" for k, v in params.items()]
    assert lines[1] == 's = "q\\"\\\\\\n${x}`b` \\u2713 \\U0001f600"'
    assert lines[6:] == ['l = list(1, "x", list(2.5))', 'd = list("k" = FALSE)']
    nb = nbformat.read(write_r_notebook(tmp_path / "r.ipynb", "s <- 'x'", "print(s)"), as_version=4)
    out = parameterize(nb, params, language="R", kernel_name="ir")
    assert [c.metadata.get("tags") for c in out.cells] == [["parameters"], ["injected-parameters"], None]
    assert out.cells[1].source == source


@pytest.mark.parametrize("name, value, message", [
    ("x", "café", "writes 'é' (U+00E9) as a byte escape \\xe9, which R reads as a Latin-1 byte"),
    ("x", "\xa0", "U+00A0"),
    ("x", "a\0b", "R strings cannot hold a NUL character"),
    ("x", "\x01 \u0100", "would write '\\x01' as \\x01 and 'Ā' as a \\u escape in one string, which R refuses"),
    ("x", "\x7f😀", "which R refuses to parse"),
    ("x", ["ok", "ÿ"], "U+00FF"),
    ("x", {"é": 1}, "U+00E9"),
    ("x", float("nan"), "nan is not a finite number"),
    ("x", float("inf"), "inf is not a finite number"),
    ("x", [1.0, float("-inf")], "-inf is not a finite number"),
    ("x", 2 ** 53 + 1, "exact only up to 2**53"),
    ("x", -(2 ** 60), "exact only up to 2**53"),
    ("x", {}, "does not write it exactly"),  # list(): an empty dict would arrive as an empty list
    ("x", {"": 1}, "a dict key must be non-empty text"),
    ("x", "\ud800", "lone surrogate"),
    ("x", {1, 2}, "cannot inject a set"),
    ("_x", 1, "'_x' is not a valid R name"),  # papermill would silently rename it to x
    ("NA", 1, "'NA' is not a valid R name"),
    ("function", 1, "'function' is not a valid R name"),
    ("TRUE", 1, "'TRUE' is not a valid R name"),
    ("if", 1, "'if' is not a valid Python identifier"),
    ("x y", 1, "not a valid Python identifier"),
    ("é", 1, "'é' is not a valid R name"),
])
def test_refusal_table(name: str, value: Any, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        injected_source({name: value}, "R", "ir")
    assert message in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("value", [
    0, 2 ** 53, -(2 ** 53), 0.1, -0.0, 1e-300, 1.7976931348623157e308, 5e-324, "", "'", '"', "\\", "\\\\\"",
    "\n\r\t", "\x01\x1f\x7f", "${HOME}", "`rm -rf /`", "a\"); system(\"id\"); (\"", "Ā 中 😀 \u2028",
    [], [None, True, "x"], {"a": {"b": [1, {"c": None}]}},
])
def test_accepted_values_read_back_exactly(value: Any) -> None:
    line = injected_source({"x": value}, "R", "ir").splitlines()[1]
    assert line.startswith("x = ")
    assert read_r_literal(line[4:]) == value


@pytest.mark.parametrize("text", [
    "inf", "nan", "x", "system('id')", '"a" ; 1', '"\\xe9"', '"\\x00"', '"\\q"', '"a', '"\\ud800"',
    '"\\x01\\u0100"',  # R: "mixing Unicode and octal/hex escapes in a string is not allowed"
    "list(1, \"k\" = 2)", "list(1 2)", "TRUEx", "\"\u00e9\"", '"\n"',
])
def test_reading_back_refuses_anything_else(text: str) -> None:
    from livedocs_runner.inject_r import _NotExact

    with pytest.raises(_NotExact):
        read_r_literal(text)


def test_python_injection_is_unchanged() -> None:
    assert injected_source({"a": "x", "b": [1, None]}) == "# Parameters injected by livedocs-runner\na = 'x'\nb = [1, None]"
    assert injected_source({"a": "é"}, "python") == "# Parameters injected by livedocs-runner\na = 'é'"


# --- a kernel that is not installed ------------------------------------------------------------------

def test_missing_kernelspec_is_refused_before_anything_runs(tmp_path: Path, home: Path,
                                                            run_cli: Callable[..., CliResult]) -> None:
    nb = write_r_notebook(tmp_path / "nb.ipynb", "x <- 1", "print(x)",
                          kernelspec={"name": "no-such-kernel", "display_name": "?", "language": "R"})
    result = run_cli("run", nb, "-p", "x=2", "--workers", "2")
    assert result.code == 2, result.stderr
    assert result.stderr.startswith(f"Error: kernel 'no-such-kernel', named by {nb} (metadata.kernelspec.name), "
                                    "is not installed; nothing was run.")
    assert "`jupyter kernelspec list`" in result.stderr
    assert_nothing_ran(home)


def test_missing_kernel_named_by_a_config(tmp_path: Path, home: Path, run_cli: Callable[..., CliResult]) -> None:
    write_r_notebook(tmp_path / "nb.ipynb", "x <- 1")
    config = tmp_path / "c.yaml"
    config.write_text("notebook: nb.ipynb\nkernel: not-installed\nscenarios:\n  a: {x: 2}\n  b: {x: 3}\n")
    result = run_cli("run", config)
    assert result.code == 2
    assert f"kernel 'not-installed', named by {config.resolve()} (kernel:), is not installed" in result.stderr
    assert_nothing_ran(home)


def test_a_queued_run_whose_kernel_vanished_ends_failed(tmp_path: Path) -> None:
    """The app's path (execute_run without the batch's check): the record ends final, never stuck running."""
    from livedocs_runner.execute import execute_run
    from livedocs_runner.plan import plan_runs
    from livedocs_runner.records.store import Store

    nb = write_r_notebook(tmp_path / "nb.ipynb", "x <- 1",
                          kernelspec={"name": "no-such-kernel", "display_name": "?", "language": "R"})
    store = Store(tmp_path / "home")
    record = execute_run(plan_runs(nb)[0], store)
    assert record.status == "failed"
    assert json.loads(json.dumps(record.error))["ename"] == "ConfigError"
    assert [r["status"] for r in run_records(tmp_path / "home")] == ["failed"]


def test_other_kernels_run_without_parameters_and_refuse_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernelspec of another language (only read here, never started): no parameters is fine, any is refused."""
    from livedocs_runner.execute import check_kernel
    from livedocs_runner.plan import plan_runs

    spec = tmp_path / "kernels" / "fakejulia" / "kernel.json"
    spec.parent.mkdir(parents=True)
    spec.write_text(json.dumps({"argv": ["julia", "{connection_file}"], "display_name": "Julia", "language": "julia"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    nb = write_r_notebook(tmp_path / "j.ipynb", "x = 1", kernelspec={"name": "fakejulia", "display_name": "Julia",
                                                                      "language": "julia"})
    plan = plan_runs(nb)[0]
    assert check_kernel(plan) == "julia"
    with pytest.raises(ParameterError, match="cannot inject parameters into a 'julia' notebook"):
        check_kernel(dataclasses.replace(plan, parameters={"x": 1}))  # e.g. a plan built by code, not a config


# --- any text or plain value: injected exactly, or refused for a stated reason ----------------------

SETTINGS = settings(max_examples=int(os.environ.get("LIVEDOCS_EXAMPLES", 300)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 60), max_value=2 ** 60)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


def _why_refused(value: Any) -> str | None:
    """What the R injection must refuse in ``value`` (None: it must inject it)."""
    if isinstance(value, str):
        if "\0" in value:
            return "NUL"
        if any("\x80" <= c <= "\xff" for c in value):
            return "Latin-1"
        mixed = any(c < " " and c not in "\t\n\r" or c == "\x7f" for c in value) and any(c >= "\u0100" for c in value)
        return "\\x with \\u" if mixed else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return "2**53" if abs(value) > 2 ** 53 else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "finite"
    if isinstance(value, list):
        return next((w for w in map(_why_refused, value) if w), None)
    if not value:
        return "empty dict"
    return next((w for k, v in value.items() for w in ("" if k else "empty key", _why_refused(k), _why_refused(v)) if w),
                None)


@SETTINGS
@given(st.text())
def test_any_text_is_injected_exactly_or_refused(text: str) -> None:
    why = _why_refused(text)
    try:
        line = injected_source({"x": text}, "R", "ir").splitlines()[1]
    except ParameterError:
        assert why is not None, text
        return
    assert why is None, text
    assert read_r_literal(line[len("x = "):]) == text


@SETTINGS
@given(PLAIN)
def test_any_plain_value_is_injected_exactly_or_refused(value: Any) -> None:
    why = _why_refused(value)
    try:
        line = injected_source({"x": value}, "R", "ir").splitlines()[1]
    except ParameterError:
        assert why is not None, value
        return
    assert why is None, value
    assert read_r_literal(line[len("x = "):]) == value
