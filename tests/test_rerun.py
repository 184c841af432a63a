"""``livedocs rerun``: exact reruns on the recorded snapshots, the variants (-p, --inputs current,
--notebook current), sets of runs, and every fault refused with one line, exit 2, nothing run."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner.records.store import RunRecord, Store
from tests.conftest import NOTEBOOKS, CliResult, popen_cli, run_records, until, write_notebook


def only(result: CliResult) -> dict[str, Any]:
    assert result.code == 0, result.stderr
    [record] = result.json()
    return record


def refused(result: CliResult, home: Path, before: int, *fragments: str) -> None:
    """Exit 2, one ``Error:`` line (plus its hint), no new record."""
    assert result.code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) <= 2, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
    assert len(run_records(home)) == before
    assert "Traceback" not in result.stderr


# --- faults, on records written straight into a real store (nothing to execute) ------------------

def fake_run(home: Path, run_id: str, **fields: Any) -> RunRecord:
    store = Store(home)
    nb = write_notebook(home.parent / "nb" / "model.ipynb", [("data_file = 'x.csv'", ["parameters"])])
    copy = store.keep_notebook(nb.read_bytes(), "0" * 64)
    base = dict(id=run_id, status="succeeded", notebook=str(nb), notebook_sha256="0" * 64, notebook_copy=str(copy),
                scenario="default", run_dir=str(store.run_dir(run_id)))
    return store.add(RunRecord(**{**base, **fields}))


@pytest.mark.parametrize(("ids", "args", "fragments"), [
    (["aaaa01"], ["bbbb"], ["no run 'bbbb'", "livedocs runs"]),
    (["aaaa01", "aaaa02"], ["aaaa"], ["run id prefix 'aaaa' is ambiguous (aaaa01, aaaa02...)", "Give more characters."]),
    (["aaaa01"], ["zz!"], ["'zz!' is not a run id."]),
    (["aaaa01"], [], ["no run to rerun.", "--from/--to/--notebook NAME"]),
    (["aaaa01"], ["--from", "yesterday"], ["--from 'yesterday' is not a date."]),
    (["aaaa01"], ["--notebook", "nothing.ipynb"], ["no finished run matches"]),
])
def test_unknown_runs_are_refused(run_cli: Callable[..., CliResult], home: Path, ids: list[str], args: list[str],
                                  fragments: list[str]) -> None:
    for run_id in ids:
        fake_run(home, run_id)
    refused(run_cli("rerun", *args), home, len(ids), *fragments)


def test_a_missing_notebook_copy_is_refused(run_cli: Callable[..., CliResult], home: Path) -> None:
    record = fake_run(home, "aaaa01")
    Path(record.notebook_copy).unlink()
    refused(run_cli("rerun", "aaaa01"), home, 1, "run aaaa01: its recorded notebook copy", "is missing from the home",
            "livedocs rerun aaaa01 --notebook current")


def test_a_snapshot_missing_from_the_home_is_refused(run_cli: Callable[..., CliResult], home: Path) -> None:
    inputs = [{"parameter": "data_file", "path": "/data/x.csv", "type": "file", "size": 1, "sha256": "a" * 64,
               "snapshot": "a" * 64}]
    fake_run(home, "aaaa01", inputs=inputs)
    refused(run_cli("rerun", "aaaa01"), home, 1,
            "run aaaa01: the snapshot of input 'data_file' (/data/x.csv) is missing from", "aaaaaaaaaaaa",
            "livedocs rerun aaaa01 --inputs current")
    assert not (home / "runs").exists() or not any(p.name != "aaaa01" for p in (home / "runs").iterdir())


@pytest.mark.parametrize(("item", "why"), [
    ({"snapshot": None, "why": "over 1024 MB"}, "over 1024 MB"),
    ({}, "taken before snapshots existed"),
])
def test_an_input_without_snapshot_cannot_be_reproduced_exactly(run_cli: Callable[..., CliResult], home: Path,
                                                                 item: dict[str, Any], why: str) -> None:
    inputs = [{"parameter": "data_file", "path": "/data/x.csv", "type": "file", "size": 1, "sha256": "a" * 64, **item}]
    fake_run(home, "aaaa01", inputs=inputs)
    refused(run_cli("rerun", "aaaa01"), home, 1, f"has no snapshot ({why})", "--inputs current")


def test_a_bad_snapshot_cap_refuses_the_rerun_before_restoring(run_cli: Callable[..., CliResult], home: Path) -> None:
    fake_run(home, "aaaa01")
    refused(run_cli("rerun", "aaaa01", env={"LIVEDOCS_SNAPSHOT_MAX_MB": "-3"}), home, 1,
            "Error: LIVEDOCS_SNAPSHOT_MAX_MB='-3' is not a number of megabytes.")
    assert not (home / "runs").exists()


def test_one_bad_run_refuses_the_whole_set(run_cli: Callable[..., CliResult], home: Path) -> None:
    fake_run(home, "aaaa01")
    broken = fake_run(home, "bbbb01", notebook_copy="/nonexistent/copy.ipynb")
    refused(run_cli("rerun", "aaaa01", broken.id), home, 2, "run bbbb01")


def test_notebook_current_refused_when_deleted_or_parameters_changed(run_cli: Callable[..., CliResult],
                                                                     home: Path) -> None:
    record = fake_run(home, "aaaa01", parameters={"data_file": "x.csv", "rate": 0.5})
    nb = Path(record.notebook)
    write_notebook(Path(record.notebook_copy), [("data_file = 'x.csv'\nrate = 0.5", ["parameters"])])
    write_notebook(nb, [("data_file = 3", ["parameters"])])
    refused(run_cli("rerun", "aaaa01", "--notebook", "current"), home, 1,
            "no longer takes the recorded parameters: 'data_file' changed type (str -> int); 'rate' disappeared.",
            "livedocs rerun aaaa01")
    nb.unlink()
    refused(run_cli("rerun", "aaaa01", "--notebook", "current"), home, 1,
            f"run aaaa01: --notebook current, but its notebook {nb} no longer exists.")


# --- real kernels ---------------------------------------------------------------------------------

@pytest.mark.kernel
def test_exact_rerun_reads_the_snapshot_after_the_data_file_changed(run_cli: Callable[..., CliResult],
                                                                     path_project: Path, home: Path) -> None:
    original = only(run_cli("run", path_project, "--json", "--no-report"))
    data = Path(original["inputs"][0]["path"])
    data.write_text("x\n1\n2\n3\n4\n5\n")
    result = run_cli("rerun", original["id"][:8], "--json")
    rerun = only(result)
    assert "Warning" not in result.stderr
    assert rerun["metrics"] == original["metrics"] == {"rows": 3}
    assert (rerun["rerun_of"], rerun["rerun_variant"], rerun["trigger"]) == (original["id"], "exact", "rerun:exact")
    restored = Path(rerun["parameters"]["data_file"])  # the file really read: restored in the rerun's folder
    assert restored == Path(rerun["run_dir"]) / "inputs" / "data_file" / "rows.csv"
    assert restored.read_text() == "x\n1\n2\n3\n" and stat.S_IMODE(restored.stat().st_mode) & 0o222 == 0
    assert rerun["inputs"][0]["sha256"] == rerun["inputs"][0]["snapshot"] == original["inputs"][0]["snapshot"]
    assert Store(home).get(original["id"]).to_json() == original  # the original is untouched

    current = run_cli("rerun", original["id"], "--inputs", "current", "--json")
    changed = only(current)
    assert changed["metrics"] == {"rows": 5} and changed["rerun_variant"] == "inputs-current"
    assert f"Warning: input {data} (parameter 'data_file') has changed since run {original['id']}" in current.stderr

    (data.parent / "q3.csv").write_text("x\n7\n")
    other = only(run_cli("rerun", original["id"], "-p", "data_file=data/q3.csv", "--json", cwd=path_project.parent))
    assert other["metrics"] == {"rows": 1} and other["rerun_variant"] == "params"
    assert other["parameters"]["data_file"] == str(data.parent / "q3.csv")
    refused(run_cli("rerun", original["id"], "-p", "data_file=outside.csv", cwd=path_project.parent), home,
            len(run_records(home)), "parameter 'data_file' expects a path inside")


@pytest.mark.kernel
def test_rerun_verify_says_reproduced_after_the_data_changed_and_different_on_other_data(
        run_cli: Callable[..., CliResult], path_project: Path, home: Path) -> None:
    original = only(run_cli("run", path_project, "--json", "--no-report"))
    data = Path(original["inputs"][0]["path"])
    data.write_text("x\n9\n")  # overwritten after the run: the exact rerun reads the snapshot
    verified = run_cli("rerun", original["id"], "--verify")
    assert verified.code == 0, verified.stderr
    lines = verified.stdout.splitlines()
    assert lines[lines.index("REPRODUCED") + 1].startswith(f"Run {original['id']} -> run ")
    assert "Note: input 'data_file' was read from another path with the same bytes" in verified.stdout
    other = run_cli("rerun", original["id"], "--verify", "-p", "data_file=data/rows.csv", cwd=path_project.parent)
    assert other.code == 1 and "DIFFERENT" in other.stdout.splitlines()
    assert "  rows: 3 -> 1  (change -2, -66.667%)" in other.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--verify", "--json"], "Error: --verify prints verdicts as text; it does not combine with --json."),
    (["--verify", "--rtol", "-1"], "Error: --rtol -1.0 is not a tolerance."),
])
def test_rerun_verify_bad_input_is_refused_before_anything_runs(run_cli: Callable[..., CliResult], home: Path,
                                                                 args: list[str], message: str) -> None:
    fake_run(home, "aaaa01")
    refused(run_cli("rerun", "aaaa01", *args), home, 1, message)


@pytest.mark.kernel
def test_a_run_recorded_before_snapshots_reruns_exactly_while_its_input_is_unchanged(
        run_cli: Callable[..., CliResult], path_project: Path, home: Path) -> None:
    original = only(run_cli("run", path_project, "--json", "--no-report"))
    item = original["inputs"][0]
    old_shape = [{k: item[k] for k in ("parameter", "path", "size", "sha256")}]  # what release 0.1.0 recorded
    with sqlite3.connect(home / "runs.db") as db:
        db.execute("UPDATE runs SET inputs = ? WHERE id = ?", (json.dumps(old_shape), original["id"]))
    rerun = only(run_cli("rerun", original["id"], "--json"))  # same bytes today: reading them is exact
    assert rerun["metrics"] == {"rows": 3} and rerun["parameters"]["data_file"] == item["path"]
    Path(item["path"]).write_text("x\n1\n")  # changed since: it can no longer be reproduced exactly
    refused(run_cli("rerun", original["id"]), home, len(run_records(home)),
            "has no snapshot (taken before snapshots existed)", "--inputs current")


@pytest.mark.kernel
def test_notebook_current_runs_todays_notebook_on_the_historical_inputs(run_cli: Callable[..., CliResult],
                                                                        path_project: Path) -> None:
    original = only(run_cli("run", path_project, "--json", "--no-report"))
    Path(original["inputs"][0]["path"]).write_text("x\n")  # today's data: no rows
    nb = Path(original["notebook"])
    node = nbformat.read(nb, as_version=4)
    node.cells[1].source = node.cells[1].source.replace("record('rows', rows)", "record('rows', rows * 10)")
    nbformat.write(node, nb)
    rerun = only(run_cli("rerun", original["id"], "--notebook", "current", "--json"))
    assert rerun["metrics"] == {"rows": 30}  # today's notebook, the recorded rows
    assert rerun["rerun_variant"] == "notebook-current"
    assert rerun["notebook_sha256"] != original["notebook_sha256"]


@pytest.mark.kernel
def test_a_set_of_runs_is_rerun_in_parallel(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "sum.ipynb", [("a = 1", ["parameters"]),
                                                        "from livedocs_runner import record\nrecord('a', a)"])
    firsts = [only(run_cli("run", nb, "-p", f"a={a}", "--json", "--no-report")) for a in (1, 2)]
    result = run_cli("rerun", "--notebook", "sum.ipynb", "--from", firsts[0]["created_at"][:10], "--workers", "2",
                     "--json")
    assert result.code == 0, result.stderr
    reruns = result.json()
    assert [r["rerun_of"] for r in reruns] == [f["id"] for f in firsts]  # oldest first
    assert [r["metrics"] for r in reruns] == [{"a": 1}, {"a": 2}]
    again = run_cli("rerun", "--notebook", "sum.ipynb", "--json")  # reruns are not selected again
    assert [r["rerun_of"] for r in again.json()] == [f["id"] for f in firsts]
    assert [r["rerun_of"] for r in json.loads(run_cli("rerun", firsts[1]["id"], firsts[0]["id"], "--json").stdout)] \
        == [firsts[1]["id"], firsts[0]["id"]]


@pytest.mark.kernel
def test_ctrl_c_cancels_the_rerun_and_leaves_the_original(run_cli: Callable[..., CliResult], tmp_path: Path,
                                                          home: Path) -> None:
    nb = Path(shutil.copy(NOTEBOOKS / "slow.ipynb", tmp_path / "slow.ipynb"))
    original = only(run_cli("run", nb, "-p", "seconds=0", "--json", "--no-report"))
    proc = popen_cli(home, "rerun", original["id"], "-p", "seconds=60")

    def started() -> bool:
        reruns = [r for r in Store(home).list() if r.rerun_of == original["id"]]
        out = Path(reruns[0].run_dir) / "output.ipynb" if reruns else None
        return bool(out and out.is_file() and "started" in out.read_text())

    until(started, "the rerun's slow cell to start")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    [rerun] = [r for r in Store(home).list() if r.rerun_of == original["id"]]
    assert rerun.status == "cancelled" and rerun.rerun_variant == "params"
    assert Store(home).get(original["id"]).to_json() == original
