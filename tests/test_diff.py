"""``livedocs diff``: the verdict and the differences, with real runs in real kernels, and tolerance edge cases."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner.errors import InputError
from livedocs_runner.records.store import RunRecord, Store, new_id, now
from livedocs_runner.records.verdicts import (DIFFERENT, ENVIRONMENT_CHANGED, REPRODUCED, Tolerances,
                                              diff_runs)
from tests.conftest import cli_runner, write_notebook

MODEL = (
    "import csv\nfrom livedocs_runner import record\nimport pandas as pd\n"
    "rows = list(csv.DictReader(open(data_file)))\n"
    "rate = sum(float(r['amount']) > threshold for r in rows) / len(rows)\n"
    "record('rate', rate)\nrecord('count', len(rows) * n)\nrecord('label', 'high' if rate > 0.5 else 'low')\n"
    "frame = pd.DataFrame({'grade': [r['grade'] for r in rows], 'over': [float(r['amount']) > threshold for r in rows]})\n"
    "record('by_grade', frame.groupby('grade', as_index=False)['over'].mean())"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A config over a CSV; runs: base, the same again, a parameter change, other data."""
    root = tmp_path_factory.mktemp("project")
    (root / "data").mkdir()
    (root / "data" / "q1.csv").write_text("grade,amount\nA,10\nB,30\nB,50\n", encoding="utf-8")
    (root / "data" / "q2.csv").write_text("grade,amount,region\nA,10,n\nB,30,s\nB,50,s\nA,70,n\n", encoding="utf-8")
    write_notebook(root / "model.ipynb", [
        ('threshold = 20.0\nn = 1\ndata_file = "data/q1.csv"', ["parameters"]), MODEL])
    config = root / "model.yaml"
    config.write_text("notebook: model.ipynb\nparameters:\n  data_file: {type: path, within: data}\n"
                      "scenarios:\n  base: {}\n", encoding="utf-8")
    home = root / "home"
    run = cli_runner(home)

    def start(*args: str) -> str:
        done = run("run", config, "--no-cache", "--no-report", "--json", *args, cwd=root)
        assert done.code == 0, done.stderr
        return done.json()[0]["id"]

    ids = {"base": start(), "again": start(), "threshold": start("-p", "threshold=40"),
           "q2": start("-p", "data_file=data/q2.csv")}
    return {"root": root, "home": home, "run": run, "ids": ids}


@pytest.mark.kernel
def test_same_run_twice_is_reproduced(project: dict[str, Any]) -> None:
    ids = project["ids"]
    result = project["run"]("diff", ids["base"], ids["again"])
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == REPRODUCED
    assert len(result.stdout.splitlines()) == 2  # the verdict and the two ids: nothing differs
    as_json = project["run"]("diff", ids["base"], ids["again"], "--json").json()
    assert as_json["verdict"] == REPRODUCED and as_json["differences"] == {}


@pytest.mark.kernel
def test_parameter_change_names_the_parameter_and_the_metrics(project: dict[str, Any]) -> None:
    ids = project["ids"]
    result = project["run"]("diff", ids["base"], ids["threshold"])
    assert result.code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == DIFFERENT
    assert "  threshold: 20.0 -> 40.0" in lines
    assert any(line.startswith("  rate: 0.6666666666666666 -> 0.3333333333333333  (change -0.333333, -50.000%)")
               for line in lines)
    assert "  label: high -> low" in lines
    assert not any(line.startswith("  count:") for line in lines)  # unchanged metrics are not shown
    assert "      row 2 (grade=B), column over: 1.0 -> 0.5" in lines
    data = project["run"]("diff", ids["base"], ids["threshold"], "--json").json()
    assert set(data["differences"]) == {"parameters", "metrics"}
    assert [m["metric"] for m in data["differences"]["metrics"]] == ["rate", "label", "by_grade"]


@pytest.mark.kernel
def test_other_data_names_the_input_rows_and_columns(project: dict[str, Any]) -> None:
    ids = project["ids"]
    result = project["run"]("diff", ids["base"], ids["q2"])
    assert result.code == 1
    out = result.stdout
    assert "Inputs:\n  data_file:\n" in out
    assert ", 3 rows, columns grade, amount" in out and ", 4 rows, columns grade, amount, region" in out
    assert "    columns added: region" in out
    assert "  count: 3 -> 4" in out


@pytest.mark.kernel
def test_overwritten_input_without_snapshot_cannot_be_compared(project: dict[str, Any], tmp_path: Path) -> None:
    """The records keep hashes; a file changed since the run (and no snapshot) is said to be incomparable."""
    store = Store(project["home"])
    base = store.get(project["ids"]["q2"])
    unsnapped = {k: v for k, v in base.inputs[0].items() if k != "snapshot"}
    other = dataclass_copy(base, inputs=[{**unsnapped, "sha256": "0" * 64, "size": 1}])
    data = diff_runs(store, base, other).to_json()
    sides = data["differences"]["inputs"][0]
    assert sides["old"]["rows"] == 4
    assert sides["new"]["csv"].startswith("no snapshot, and the file has changed or is gone")


@pytest.mark.kernel
def test_notebook_edited_after_the_run(project: dict[str, Any], tmp_path: Path) -> None:
    root = tmp_path / "edit"
    shutil.copytree(project["root"], root, ignore=shutil.ignore_patterns("home"))
    run = cli_runner(tmp_path / "home")
    done = run("run", root / "model.yaml", "--no-report", "--json", cwd=root)
    run_id = done.json()[0]["id"]
    unchanged = run("diff", run_id, "--notebook", "current")
    assert unchanged.code == 0 and unchanged.stdout.startswith(f"NOTEBOOK UNCHANGED since run {run_id}")

    nb = nbformat.read(root / "model.ipynb", as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("len(rows) * n", "len(rows) * n * 2")
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="outputs are ignored")]
    nbformat.write(nb, root / "model.ipynb")
    changed = run("diff", run_id, "--notebook", "current")
    assert changed.code == 1
    lines = changed.stdout.splitlines()
    assert lines[0].startswith(f"NOTEBOOK CHANGED since run {run_id}")
    assert [line for line in lines if line.startswith("  cell")] == ["  cell 2 modified (code)"]
    assert "      -record('rate', rate)" not in lines
    assert any(line.startswith("      -") and "len(rows) * n)" in line for line in lines)
    assert any(line.startswith("      +") and "len(rows) * n * 2)" in line for line in lines)
    cells = run("diff", run_id, "--notebook", "current", "--json").json()["cells"]
    assert [(c["change"], c["old_cell"], c["new_cell"]) for c in cells] == [("modified", 2, 2)]

    (root / "model.ipynb").unlink()
    gone = run("diff", run_id, "--notebook", "current")
    assert gone.code == 2
    assert gone.stderr.startswith(f"Error: the notebook of run {run_id}, {root / 'model.ipynb'}, no longer exists.")


@pytest.mark.parametrize("args, message", [
    (("ffffffffffff", "eeeeeeeeeeee"), "Error: no run"),
    (("zz", "ab"), "'zz' is not a run id"),
    (("--rtol", "nan"), "--rtol nan is not a tolerance."),
    (("--atol", "-1"), "--atol -1.0 is not a tolerance."),
    (("--rtol", "abc"), "'abc' is not a valid float"),
    ((), "diff needs two runs (or --notebook current)."),
])
def test_bad_input_exits_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    store = Store(tmp_path / "home")
    a, b = _add(store, metrics={"x": 1}), _add(store, metrics={"x": 1})
    run = cli_runner(tmp_path / "home")
    argv = args if args and not args[0].startswith("-") else (a.id, *([b.id] if args else []), *args)
    result = run("diff", *argv)
    assert result.code == 2, result.stdout
    assert message in result.stderr


# --- tolerances, on records kept in a real store ---------------------------------------------------

def _add(store: Store, **fields: Any) -> RunRecord:
    base = {"status": "succeeded", "environment": {"packages_sha256": "p", "python": "3.11"}}
    record = RunRecord(id=new_id(), notebook="/nb.ipynb", notebook_sha256="a" * 64, created_at=now(),
                       **{**base, **fields})
    return store.add(record)


def dataclass_copy(record: RunRecord, **changes: Any) -> RunRecord:
    import dataclasses
    return dataclasses.replace(record, id=new_id(), **changes)


def _table(*rows: list[Any], columns: tuple[str, ...] = ("grade", "value")) -> dict[str, Any]:
    return {"type": "table", "columns": list(columns), "data": [list(r) for r in rows]}


@pytest.mark.parametrize("old, new, tol, same", [
    (1.0, 1.0 + 0.5e-9, Tolerances(), True),  # just inside the default rtol 1e-9
    (1.0, 1.0 + 2e-9, Tolerances(), False),  # just outside
    (100.0, 100.5, Tolerances(rtol=0.01), True),
    (100.0, 102.0, Tolerances(rtol=0.01), False),
    (0.0, 1e-12, Tolerances(), False),  # rtol alone cannot excuse a change from zero
    (0.0, 1e-12, Tolerances(atol=1e-9), True),
    (3, 3, Tolerances(), True),
    (3, 4, Tolerances(rtol=0.5), False),  # ints compare exactly
    (3, 3.0, Tolerances(), True),  # an int and a float: numerically
    (True, 1, Tolerances(), False),  # a bool is not a number here
    (math.nan, math.nan, Tolerances(), True),  # NaN reproduced is reproduced
    (math.nan, 1.0, Tolerances(rtol=1.0), False),
    (math.inf, math.inf, Tolerances(), True),
    (math.inf, -math.inf, Tolerances(rtol=1.0), False),
    (None, 0, Tolerances(), False),
    ("0.1", "0.10", Tolerances(rtol=1.0), False),  # strings exactly
    ([1.0, 2.0], [1.0, 2.0 + 1e-12], Tolerances(), True),
    ({"a": 1}, {"a": 1, "b": 2}, Tolerances(), False),
    (_table(["A", 1], ["B", 2]), _table(["A", 1], ["B", 2]), Tolerances(), True),
    (_table(["A", 0.1]), _table(["A", 0.1 + 1e-17]), Tolerances(), True),
    (_table(["A", 1]), _table(["A", 2]), Tolerances(rtol=1.0), False),  # a table of ints: exact
])
def test_tolerance_edges(tmp_path: Path, old: Any, new: Any, tol: Tolerances, same: bool) -> None:
    store = Store(tmp_path)
    a, b = _add(store, metrics={"m": old}), _add(store, metrics={"m": new})
    result = diff_runs(store, a.id, b.id, tol)
    assert result.verdict == (REPRODUCED if same else DIFFERENT)
    assert ("metrics" in result.sections) is not same


def test_table_cells_named_and_shape_changes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    a = _add(store, metrics={"t": _table(["A", 1.0, 5], ["B", 2.0, 6], columns=("grade", "value", "n"))})
    b = _add(store, metrics={"t": _table(["A", 1.0, 5], ["B", 2.5, 6], ["C", 3.0, 7],
                                         columns=("grade", "value", "n"))})
    table = diff_runs(store, a.id, b.id).sections["metrics"][0]
    assert table["rows"] == {"old": 2, "new": 3} and table["cells_changed"] == 1
    assert table["cells"] == [{"row": 1, "row_label": "grade=B", "column": "value", "old": 2.0, "new": 2.5}]
    c = _add(store, metrics={"t": _table(["A", 1.0], ["B", 2.0], columns=("grade", "share"))})
    table = diff_runs(store, a.id, c.id).sections["metrics"][0]
    assert table["columns_added"] == ["share"] and table["columns_removed"] == ["value", "n"]


def test_status_error_and_environment(tmp_path: Path) -> None:
    store = Store(tmp_path)
    a = _add(store, metrics={"x": 1})
    failed = _add(store, status="failed", error={"ename": "ZeroDivisionError", "evalue": "division by zero"})
    result = diff_runs(store, a.id, failed.id)
    assert result.verdict == DIFFERENT
    assert result.sections["status"]["new_error"] == "ZeroDivisionError: division by zero"
    assert result.sections["metrics"] == [{"metric": "x", "change": "removed", "old": 1}]
    moved = _add(store, metrics={"x": 1}, environment={"packages_sha256": "q", "python": "3.11"})
    result = diff_runs(store, a.id, moved.id)
    assert result.verdict == ENVIRONMENT_CHANGED and result.reproduced
    assert result.notes == ["one of the runs has no stored environment: only the package hashes are compared"]


def test_bad_tolerance_is_input_error() -> None:
    with pytest.raises(InputError, match="--rtol -0.1 is not a tolerance"):
        Tolerances(rtol=-0.1)


def test_text_from_records_printed_safely(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    a = _add(store, metrics={"evil\x1b]0;owned\x07": "x\x1b[2J"}, parameters={"p\u202e": 1})
    b = _add(store, metrics={"evil\x1b]0;owned\x07": "y"}, parameters={"p\u202e": 2})
    result = cli_runner(tmp_path / "home")("diff", a.id, b.id)
    assert result.code == 1
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and "\x07" not in result.stdout
    assert "evil\\u001b]0;owned\\u0007: x\\u001b[2J -> y" in result.stdout
    assert json.loads(cli_runner(tmp_path / "home")("diff", a.id, b.id, "--json").stdout)["verdict"] == DIFFERENT


def test_csv_input_read_from_its_snapshot_when_the_file_changed(tmp_path: Path) -> None:
    """An input overwritten since the run is read from ``inputs[].snapshot`` (``blobs/<sha256>``) when there is one."""
    import hashlib

    store = Store(tmp_path / "home")
    data = tmp_path / "loans.csv"
    old_bytes = b"grade,amount\nA,1\nB,2\n"
    sha = hashlib.sha256(old_bytes).hexdigest()
    (store.home / "blobs").mkdir()
    (store.home / "blobs" / sha).write_bytes(old_bytes)
    data.write_bytes(b"grade,amount,region\nA,1,n\nB,2,s\nC,3,e\n")  # the file today
    new_sha = hashlib.sha256(data.read_bytes()).hexdigest()
    item = {"parameter": "data_file", "path": str(data), "type": "file"}
    a = _add(store, inputs=[{**item, "size": len(old_bytes), "sha256": sha, "snapshot": sha}])
    b = _add(store, inputs=[{**item, "size": data.stat().st_size, "sha256": new_sha}])
    change = diff_runs(store, a.id, b.id).sections["inputs"][0]
    assert (change["old"]["rows"], change["old"]["columns"]) == (2, ["grade", "amount"])
    assert (change["new"]["rows"], change["new"]["columns"]) == (3, ["grade", "amount", "region"])
    c = _add(store, inputs=[{**item, "size": len(old_bytes), "sha256": sha}])  # no snapshot, file since changed
    assert "cannot be compared" in diff_runs(store, c.id, b.id).sections["inputs"][0]["old"]["csv"]
