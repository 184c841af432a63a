"""Execution with real kernels through the real CLI: failures, timeouts, signals, metrics, records.

The quick runs are started once per module, a few at a time, and shared by the tests below.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import nbformat
import psutil
import pytest

from livedocs_runner.records.store import Store
from tests.conftest import (CONFIGS, NOTEBOOKS, CliResult, cli_runner, make_path_project, popen_cli,
                            until, write_notebook)

pytestmark = pytest.mark.kernel


RECORD_TYPES = """\
import numpy as np
import pandas as pd
from livedocs_runner import record
record("an_int", 3)
record("a_float", 0.125)
record("np_float", np.float64(2.5))
record("a_string", "ok ✓")
record("a_bool", True)
record("a_list", [1, "two", None])
record("a_dict", {"k": [1, 2], "n": {"x": 1.5}})
record("a_table", pd.DataFrame({"region": ["north", "south"], "rate": [0.1, 0.2]}))
"""


@pytest.fixture(scope="module")
def runs(module_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliResult]:
    """Every quick run of this module, three at a time; name -> CLI result."""
    work = tmp_path_factory.mktemp("execute")
    write_notebook(work / "record_types.ipynb", [RECORD_TYPES])
    project = make_path_project(work / "project")
    cli = cli_runner(module_home)
    jobs: dict[str, tuple[Any, ...]] = {
        "broken_batch": ("run", CONFIGS / "broken_batch.yaml", "--json", "--no-cache"),
        "simple": ("run", CONFIGS / "simple.yaml", "-s", "two", "--json", "--no-cache"),
        "sysexit1": ("run", NOTEBOOKS / "sysexit1.ipynb", "--json", "--no-cache"),
        **{f"sysexit0_{how}": ("run", NOTEBOOKS / "sysexit0.ipynb", "--json", "--no-cache", "-p", f"how={how}")
           for how in ("zero", "none", "bare")},
        "kernel_dies": ("run", NOTEBOOKS / "kernel_dies.ipynb", "--json", "--no-cache"),
        "record_types": ("run", work / "record_types.ipynb", "--json", "--no-cache"),
        "with_figure": ("run", NOTEBOOKS / "with_figure.ipynb", "--json", "--no-cache", "-p", "n=4"),
        "scrapbook": ("run", NOTEBOOKS / "scrapbook_glue.ipynb", "--json", "--no-cache"),
        "path_input": ("run", project, "--json", "--no-cache"),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(cli, *args) for name, args in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def only(result: CliResult) -> dict[str, Any]:
    [record] = result.json()
    return record


def outputs_text(nb: nbformat.NotebookNode, index: int) -> str:
    return "".join(o.get("text", "") for o in nb.cells[index].get("outputs", []))


# --- failures ----------------------------------------------------------------------------------

def test_a_raising_cell_fails_the_run_and_keeps_partial_output(runs: dict[str, CliResult]) -> None:
    result = runs["broken_batch"]
    assert result.code == 1
    ok, fails = result.json()
    assert (ok["scenario"], ok["status"], ok["error"]) == ("ok", "succeeded", None)
    assert fails["status"] == "failed"
    error = fails["error"]
    # the cell number is the 1-based index in output.ipynb (the README's record format), injected cell included
    assert (error["cell"], error["ename"], error["evalue"]) == (4, "ZeroDivisionError", "division by zero")
    assert "ZeroDivisionError" in error["traceback"]
    nb = nbformat.read(fails["output_notebook"], as_version=4)
    # cells: parameters, injected, print("before"), 1/divisor, print("after")
    assert outputs_text(nb, 2) == "before\n"
    assert [o.output_type for o in nb.cells[3].outputs] == ["error"]
    assert nb.cells[4].outputs == [] and nb.cells[4].execution_count is None
    # what people read counts the notebook's own code cells (no injected cell) and names the step
    assert (error["code_cell"], error["code_cells"], error["source_cell"], error["step"]) == (3, 4, 3, "1 / divisor")
    assert (f"✗ Run {fails['id']} (fails) failed in code cell 3 of 4 (\"1 / divisor\"): ZeroDivisionError: division by "
            "zero. Partial output: ") in result.stderr
    assert "Error: 1 of 2 run(s) did not succeed." in result.stderr
    assert Path(fails["report_html"]).is_file()


def test_sysexit_fails_the_run(runs: dict[str, CliResult]) -> None:
    result = runs["sysexit1"]
    assert result.code == 1
    record = only(result)
    assert record["status"] == "failed"
    assert (record["error"]["cell"], record["error"]["ename"]) == (2, "SystemExit")
    nb = nbformat.read(record["output_notebook"], as_version=4)
    assert outputs_text(nb, 0) == "about to exit\n"


@pytest.mark.parametrize("how", ["zero", "none", "bare"])
def test_a_clean_sysexit_stops_the_run_successfully(runs: dict[str, CliResult], how: str) -> None:
    # sys.exit(0), sys.exit() and raise SystemExit stop the notebook early on purpose (as in papermill)
    result = runs[f"sysexit0_{how}"]
    assert result.code == 0, result.stderr
    record = only(result)
    assert (record["status"], record["error"]) == ("succeeded", None)
    assert record["metrics"] == {"before": 1}  # the cell after the exit never ran
    nb = nbformat.read(record["output_notebook"], as_version=4)
    assert outputs_text(nb, 2) == "before\n"
    assert nb.cells[4].outputs == [] and nb.cells[4].execution_count is None


def test_a_dying_kernel_fails_the_run_with_a_clear_error(runs: dict[str, CliResult]) -> None:
    result = runs["kernel_dies"]
    assert result.code == 1
    record = only(result)
    assert record["status"] == "failed"
    assert record["error"]["cell"] == 2
    assert record["error"]["ename"] == "DeadKernelError"
    assert "kernel process died" in record["error"]["evalue"]
    assert "started" in outputs_text(nbformat.read(record["output_notebook"], as_version=4), 0)
    assert "kernel process died" in result.stderr


# --- records -----------------------------------------------------------------------------------

def test_record_has_every_field(runs: dict[str, CliResult], module_home: Path) -> None:
    result = runs["simple"]
    assert result.code == 0, result.stderr
    record = only(result)
    assert set(record) >= {"id", "notebook", "notebook_sha256", "notebook_copy", "config", "scenario", "parameters",
                           "status", "started_at", "finished_at", "duration_s", "error", "metrics", "inputs",
                           "environment", "trigger", "user", "output_notebook", "report_html"}
    assert record["status"] == "succeeded" and record["error"] is None
    assert record["notebook"] == str(NOTEBOOKS / "simple.ipynb")
    assert record["config"] == str(CONFIGS / "simple.yaml")
    assert record["scenario"] == "two"
    assert record["parameters"] == {"a": 2, "b": 2.5, "name": "earth", "flag": True}
    assert record["metrics"] == {"total": 4.5}
    assert (record["trigger"], record["user"]) == ("cli", "tester")
    assert record["started_at"] <= record["finished_at"] and record["duration_s"] > 0
    env = record["environment"]
    assert env["python"].count(".") == 2 and env["kernel"] == "python3"
    assert {"papermill", "nbclient", "nbformat", "ipykernel", "pandas", "livedocs-runner"} <= set(env["packages"])
    assert len(env["packages_sha256"]) == 64
    for key in ("output_notebook", "report_html"):
        assert Path(record[key]).is_file() and Path(record[key]).parent == module_home / "runs" / record["id"]
    assert record["inputs"] == []


def test_notebook_copy_is_the_exact_notebook_that_ran(runs: dict[str, CliResult]) -> None:
    record = only(runs["simple"])
    source = (NOTEBOOKS / "simple.ipynb").read_bytes()
    copy = Path(record["notebook_copy"]).read_bytes()
    assert copy == source
    assert hashlib.sha256(copy).hexdigest() == record["notebook_sha256"]


def test_executed_notebook_has_the_injected_cell_and_run_metadata(runs: dict[str, CliResult]) -> None:
    record = only(runs["simple"])
    nb = nbformat.read(record["output_notebook"], as_version=4)
    assert nb.cells[1].metadata.tags == ["injected-parameters"]
    assert "name = 'earth'" in nb.cells[1].source
    assert nb.metadata.livedocs["run_id"] == record["id"]
    assert nb.metadata.papermill["parameters"] == record["parameters"]
    assert outputs_text(nb, 2) == "hello earth: a=2 b=2.5 total=4.5 flag=True\n"


def test_inputs_are_hashed(runs: dict[str, CliResult]) -> None:
    record = only(runs["path_input"])
    assert record["status"] == "succeeded", runs["path_input"].stderr
    [item] = record["inputs"]
    data = Path(item["path"])
    assert item["parameter"] == "data_file" and data.name == "rows.csv"
    assert item["size"] == data.stat().st_size
    assert item["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert record["metrics"] == {"rows": 3}


def test_output_files_are_written_atomically(runs: dict[str, CliResult], module_home: Path) -> None:
    assert not [p for p in module_home.rglob("*") if p.name.endswith(".tmp")]
    report = Path(only(runs["simple"])["report_html"])
    assert report.stat().st_mode & 0o044 == 0o044  # readable by others, as a normal file would be


def test_the_store_is_readable_after_everything(runs: dict[str, CliResult], module_home: Path) -> None:
    records = Store(module_home).list(limit=None)
    assert len(records) >= 9
    assert all(r.status in ("succeeded", "failed") for r in records)


# --- results out of notebooks ------------------------------------------------------------------

def test_metrics_of_every_kind(runs: dict[str, CliResult]) -> None:
    record = only(runs["record_types"])
    assert record["status"] == "succeeded", runs["record_types"].stderr
    assert record["metrics"] == {
        "an_int": 3, "a_float": 0.125, "np_float": 2.5, "a_string": "ok ✓", "a_bool": True,
        "a_list": [1, "two", None], "a_dict": {"k": [1, 2], "n": {"x": 1.5}},
        "a_table": {"type": "table", "columns": ["region", "rate"], "data": [["north", 0.1], ["south", 0.2]]},
    }
    metrics_file = Path(record["run_dir"]) / "outputs" / "metrics.json"
    assert json.loads(metrics_file.read_text()) == record["metrics"]


def test_scrapbook_glue_is_read(runs: dict[str, CliResult]) -> None:
    record = only(runs["scrapbook"])
    assert record["status"] == "succeeded", runs["scrapbook"].stderr
    assert record["metrics"] == {"score": 0.9, "label": "ok"}


def test_figures_are_captured(runs: dict[str, CliResult]) -> None:
    record = only(runs["with_figure"])
    assert record["status"] == "succeeded", runs["with_figure"].stderr
    figures = [Path(p) for p in record["outputs"] if p.endswith(".png")]
    assert len(figures) == 1
    assert figures[0].parent == Path(record["run_dir"]) / "outputs"
    assert figures[0].read_bytes().startswith(b"\x89PNG")
    table = record["metrics"]["squares"]
    assert table["columns"] == ["x", "y"] and table["data"] == [[0, 0], [1, 1], [2, 4], [3, 9]]


# --- timeouts, signals, concurrency --------------------------------------------------------------

def kernels_of(proc: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in proc.children(recursive=True):
        try:
            if "ipykernel_launcher" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True




class Slow(NamedTuple):
    """A ``livedocs run`` in progress, inside its sleeping cell; stdout/stderr are read to the end by threads."""

    proc: subprocess.Popen[str]
    kernels: list[psutil.Process]
    stdout: list[str]
    stderr: list[str]
    readers: list[threading.Thread]

    def communicate(self, timeout: float) -> tuple[str, str]:
        self.proc.wait(timeout=timeout)
        for reader in self.readers:
            reader.join(timeout=timeout)
        return "".join(self.stdout), "".join(self.stderr)


def start_slow(home: Path, *args: str, then: str = "import time\ntime.sleep(seconds)") -> Slow:
    """Start ``livedocs run`` of a notebook that prints 'started' in one cell and sleeps in the next (``then``);
    return once the sleeping cell has begun, i.e. once 'started' is in the runner's copy of the notebook (nbclient
    takes a cell's last output before it starts the next cell)."""
    notebook = write_notebook(home.parent / "slow_after_print.ipynb", [
        ("seconds = 30", ["parameters"]), 'print("started", flush=True)', then])
    proc = popen_cli(home, "run", notebook, "--no-cache", "-v", *args)  # -v: a line per cell without a terminal
    stdout: list[str] = []
    stderr: list[str] = []
    readers = [threading.Thread(target=lambda stream=stream, sink=sink: sink.extend(stream), daemon=True)
               for stream, sink in ((proc.stdout, stdout), (proc.stderr, stderr))]
    for reader in readers:
        reader.start()
    kernels = until(lambda: kernels_of(psutil.Process(proc.pid)), "the kernel to start")
    until(lambda: any("code cell 3 of 3" in line for line in stderr), "the sleeping cell to start")
    return Slow(proc, kernels, stdout, stderr, readers)


def test_timeout_kills_the_kernel_and_records_a_timeout(home: Path) -> None:
    slow = start_slow(home, "--timeout", "3", "--json")
    stdout, stderr = slow.communicate(timeout=60)
    assert slow.proc.returncode == 1, stderr
    [record] = json.loads(stdout)
    assert record["status"] == "failed"
    assert record["error"]["ename"] == "Timeout"
    assert "time limit of 3 s" in record["error"]["evalue"]
    assert record["error"]["cell"] == 4
    assert 2.5 < record["duration_s"] < 15
    nb = nbformat.read(record["output_notebook"], as_version=4)
    assert outputs_text(nb, 2) == "started\n"
    assert all(gone(k) for k in slow.kernels)


def test_a_killed_runner_leaves_the_output_saved_while_its_cell_ran(home: Path) -> None:
    """kill -9 of the runner in a long cell: output.ipynb holds what ran until the last save, made while that cell
    ran (a second into the run, then each second), its outputs so far included."""
    slow = start_slow(home, "--no-report", then='import time\nprint("halfway", flush=True)\ntime.sleep(seconds)')

    def saved() -> Path | None:
        output = next(home.glob("runs/*/output.ipynb"), None)
        return output if output is not None and "halfway" in output.read_text(encoding="utf-8") else None

    output = until(saved, "the running cell's output to be saved", timeout=30)
    slow.proc.kill()  # SIGKILL: no clean-up of the runner's runs
    slow.communicate(timeout=60)
    until(lambda: all(gone(k) for k in slow.kernels), "the kernel to go with its runner", timeout=20)
    nb = nbformat.read(output, as_version=4)  # whole: written to a temporary file, then renamed
    assert outputs_text(nb, 2) == "started\n" and outputs_text(nb, 3) == "halfway\n"
    assert "shell.execute_reply" not in nb.cells[3].metadata.execution  # still running when it was saved


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_cancels_the_run(home: Path, signum: int) -> None:
    slow = start_slow(home)
    slow.proc.send_signal(signum)
    _, stderr = slow.communicate(timeout=60)
    assert slow.proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    until(lambda: all(gone(k) for k in slow.kernels), "the kernel to go", timeout=10)
    [record] = Store(home).list()
    assert record.status == "cancelled"
    assert record.error and record.error["ename"] == "Cancelled"
    assert record.finished_at is not None
    assert "started" in outputs_text(nbformat.read(record.output_notebook, as_version=4), 2)
    with sqlite3.connect(home / "runs.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_two_processes_on_one_home_are_both_recorded(home: Path) -> None:
    procs = [popen_cli(home, "run", NOTEBOOKS / "simple.ipynb", "--no-cache", "--no-report", "--json", "-p", f"a={a}")
             for a in (5, 6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ids = {json.loads(out)[0]["id"] for out, _ in outs}
    records = Store(home).list()
    assert {r.id for r in records} == ids
    assert sorted(r.parameters["a"] for r in records) == [5, 6]
    assert all(r.status == "succeeded" for r in records)


def test_runs_are_isolated_from_each_other(home: Path) -> None:
    result = cli_runner(home)("run", NOTEBOOKS / "isolation.ipynb", "--json", "--no-cache", "--no-report")
    assert result.code == 0, result.stderr
    again = cli_runner(home)("run", NOTEBOOKS / "isolation.ipynb", "--json", "--no-cache", "--no-report", "-p", "marker=b")
    assert again.code == 0, again.stderr
    assert only(again)["metrics"] == {"seen_global": "none", "seen_module": "none"}


def test_record_outside_the_runner_just_displays(tmp_path: Path) -> None:
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", "from livedocs_runner import record; record('x', 0.5)"],
                          capture_output=True, text=True, check=True)
    assert done.stdout == "x = 0.5\n"
