"""Injection safety: values reach the notebook exactly as given and are never executed."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner.errors import ParameterError
from livedocs_runner.inject import HEADER, injected_source, literal, parameterize
from livedocs_runner.notebook import INJECTED_TAG, load_notebook
from tests.conftest import NOTEBOOKS, CliResult, write_notebook

NASTY: dict[str, Any] = {
    "quotes": "it's \"quoted\" ''' \"\"\"",
    "backslashes": "C:\\temp\\new \\n \\x41 \\",
    "newlines": "line one\nline two\r\n\ttabbed\n",
    "unicode": "é ☃ 日本 \u200b 🎉",
    "code": "\"); import os; os.system('touch PWNED') #",
    "fstring": "{__import__('os').system('touch PWNED')}",
    "dunder": "__import__('os').system('touch PWNED')",
    "code_keys": {"__import__('os').system('touch PWNED')": 1, "'); x = ('": ["a\nb", None, True]},
    "nested": [{"k": "\\\"'"}, [1, 2.5, -3], {}],
    "empty": "",
}


@pytest.mark.parametrize("name", list(NASTY))
def test_literal_round_trips(name: str) -> None:
    value = NASTY[name]
    assert ast.literal_eval(literal(value)) == value


def test_injected_cell_is_only_literal_assignments() -> None:
    source = injected_source(NASTY)
    tree = ast.parse(source)
    assert source.splitlines()[0] == HEADER
    assert [type(node) for node in tree.body] == [ast.Assign] * len(NASTY)
    for node, (name, value) in zip(tree.body, NASTY.items()):
        assert [t.id for t in node.targets] == [name]  # type: ignore[attr-defined]
        assert ast.literal_eval(node.value) == value


@pytest.mark.parametrize("name", ["1abc", "a b", "x; import os", "__import__('os')", "class", "", "a=1"])
def test_injection_refuses_non_identifier_names(name: str) -> None:
    with pytest.raises(ParameterError, match="is not a valid Python identifier"):
        injected_source({name: 1})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), {1, 2}, b"bytes"])
def test_injection_refuses_non_data_values(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        injected_source({"x": value})


def test_parameterize_places_and_replaces_the_injected_cell() -> None:
    nb = load_notebook(NOTEBOOKS / "simple.ipynb").node
    once = parameterize(nb, {"a": 5}, metadata={"run_id": "r1"})
    twice = parameterize(once, {"a": 6})
    for out, value in ((once, 5), (twice, 6)):
        tags = [c.metadata.get("tags", []) for c in out.cells]
        assert tags[0] == ["parameters"] and tags[1] == [INJECTED_TAG]
        assert sum(INJECTED_TAG in t for t in tags) == 1
        assert out.cells[1].source == f"{HEADER}\na = {value}"
        assert len(out.cells) == len(nb.cells) + 1
    assert once.metadata["papermill"]["parameters"] == {"a": 5}
    assert once.metadata["livedocs"] == {"run_id": "r1"}
    assert nb.cells[1].source != once.cells[1].source  # the original is untouched
    nbformat.validate(once)


def test_parameterize_without_parameters_cell_goes_first() -> None:
    nb = load_notebook(NOTEBOOKS / "no_parameters.ipynb").node
    out = parameterize(nb, {"x": 2})
    assert out.cells[0].metadata["tags"] == [INJECTED_TAG]
    assert parameterize(nb, {}).cells == nb.cells


@pytest.mark.kernel
def test_values_reach_the_kernel_exactly_and_never_execute(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    """One real run: YAML values and ``-p`` values, printed back with json.dumps inside the kernel."""
    folder = tmp_path / "inject"
    names = list(NASTY)
    write_notebook(folder / "echo.ipynb", [
        ("\n".join(f"{n} = None" for n in names) + "\ncli_text = ''\ncli_dict = {}", ["parameters"]),
        "import json\nprint('JSON:' + json.dumps({" + ", ".join(f"{n!r}: {n}" for n in names + ["cli_text", "cli_dict"]) + "}))",
    ])
    (folder / "echo.yaml").write_text(
        "notebook: echo.ipynb\n"
        "parameters:\n  cli_text: {type: str}\n  cli_dict: {type: dict}\n"
        "scenarios:\n  nasty: " + json.dumps(NASTY, ensure_ascii=False) + "\n", encoding="utf-8")
    cli_text = "'; import os; os.system('touch PWNED'); '\\\n\"é"
    cli_dict = {"__import__('os').system('touch PWNED')": "\"); x = 1 #"}
    result = run_cli("run", folder / "echo.yaml", "--json", "--no-report", "--no-cache",
                     "-p", f"cli_text={cli_text}", "-p", f"cli_dict={json.dumps(cli_dict)}", cwd=folder)
    assert result.code == 0, result.stderr
    [record] = result.json()
    expected = {**NASTY, "cli_text": cli_text, "cli_dict": cli_dict}
    assert record["parameters"] == expected
    nb = nbformat.read(record["output_notebook"], as_version=4)
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert printed.startswith("JSON:")
    assert json.loads(printed.removeprefix("JSON:")) == expected
    assert not list(folder.rglob("PWNED")) and not list(tmp_path.rglob("PWNED"))
