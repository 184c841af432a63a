"""Every failure after (or around) execution still ends in a final record with a clear cause.

A full disk, a read-only run folder, an output that cannot be read back, a refused warm import: the
record reaches ``failed`` with a RunError, nothing stays ``running``, the rest of the batch runs,
and the CLI prints one line per run and exits 1. Also: failing runs leak no kernel channels, and
``--timeout`` counts from the first cell.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.kernels import FreshKernels, KernelRequest
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store
from tests.conftest import CLI, CONFIGS, NOTEBOOKS, CliResult, cli_env, run_records

pytestmark = pytest.mark.kernel


def in_private_mounts(script: str, tmp_path: Path) -> None:
    """Run ``script`` (sh) in a private mount namespace; skip where that is not allowed (not root)."""
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True)
    if os.geteuid() != 0 or probe.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs root and `unshare -m` for this test: {probe.stderr.strip()}")
        pytest.skip("needs root and `unshare -m` (a private mount namespace)")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr


def cli_line(*args: str | Path) -> str:
    return " ".join(shlex.quote(str(a)) for a in [*CLI, *args])


def statuses_line(home: Path, out: Path) -> str:
    """A shell line that writes every record's (status, error) in ``home`` to ``out`` as JSON."""
    code = ("import json, sqlite3, sys; rows = sqlite3.connect(sys.argv[1]).execute("
            "'SELECT status, error FROM runs ORDER BY created_at').fetchall(); "
            "open(sys.argv[2], 'w').write(json.dumps([[s, json.loads(e) if e else None] for s, e in rows]))")
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} {home / 'runs.db'} {out}"


def only_failure_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("✗")]


def test_a_full_disk_fails_the_run_with_diskfull(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()
    out.mkdir()
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in cli_env(home).items() if k.startswith(("LIVEDOCS", "PYTHON")))
    in_private_mounts(
        f"mount -t tmpfs -o size=4m tmpfs {home} && "
        f"env {env} {cli_line('run', NOTEBOOKS / 'prints_50mb.ipynb', '--json', '--no-cache')} "
        f"> {out}/stdout 2> {out}/stderr; echo $? > {out}/code; {statuses_line(home, out / 'records.json')}",
        tmp_path)
    stderr = (out / "stderr").read_text()
    assert (out / "code").read_text().strip() == "1", stderr
    [record] = json.loads((out / "stdout").read_text())
    assert record["status"] == "failed"
    assert record["error"]["ename"] == "DiskFull"
    assert "no space left" in record["error"]["evalue"]
    [line] = only_failure_lines(stderr)
    assert f"Run {record['id']} (default) failed (DiskFull: no space left" in line
    assert "Traceback" not in stderr
    assert [status for status, _ in json.loads((out / "records.json").read_text())] == ["failed"]


def test_a_read_only_run_folder_fails_every_run_of_the_batch_cleanly(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    (home / "runs").mkdir(parents=True)
    out.mkdir()
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in cli_env(home).items() if k.startswith(("LIVEDOCS", "PYTHON")))
    in_private_mounts(
        f"mount --bind {home / 'runs'} {home / 'runs'} && mount -o remount,bind,ro {home / 'runs'} && "
        f"env {env} {cli_line('run', CONFIGS / 'simple.yaml', '-s', 'one', '-s', 'two', '--json', '--no-cache')} "
        f"> {out}/stdout 2> {out}/stderr; echo $? > {out}/code; {statuses_line(home, out / 'records.json')}",
        tmp_path)
    stderr = (out / "stderr").read_text()
    assert (out / "code").read_text().strip() == "1", stderr
    records = json.loads((out / "stdout").read_text())
    assert [r["status"] for r in records] == ["failed", "failed"]
    for record in records:
        assert record["error"]["ename"] == "OutputError"
        assert "Read-only file system" in record["error"]["evalue"]
    assert len(only_failure_lines(stderr)) == 2 and "Traceback" not in stderr
    assert [status for status, _ in json.loads((out / "records.json").read_text())] == ["failed", "failed"]


def test_unreadable_outputs_fail_their_run_and_the_batch_goes_on(run_cli: Callable[..., CliResult], home: Path,
                                                               tmp_path: Path) -> None:
    config = tmp_path / "bad_outputs.yaml"
    config.write_text(f"notebook: {NOTEBOOKS / 'bad_outputs.ipynb'}\nscenarios:\n"
                      "  bad_png: {kind: bad_png}\n  nameless: {kind: nameless_record}\n"
                      "  invalid: {kind: invalid_output}\n  fine: {kind: none}\n", encoding="utf-8")
    result = run_cli("run", config, "--json", "--no-cache")
    assert result.code == 1
    bad_png, nameless, invalid, fine = result.json()
    assert fine["status"] == "succeeded" and fine["metrics"] == {"kind": "none"}
    for record in (bad_png, nameless):
        assert record["status"] == "failed"
        assert (record["error"]["ename"], record["error"]["cell"]) == ("OutputError", 4)
        assert Path(record["output_notebook"]).is_file()  # the executed notebook is kept
        assert Path(record["report_html"]).is_file()
    assert "not valid base64" in bad_png["error"]["evalue"]
    shown = run_cli("show", bad_png["id"]).stdout  # the same rendering as the failure line
    assert ('Error:            failed in code cell 3 of 4 ("if kind == "bad_png":"): OutputError: an image/png '
            "output is not valid base64") in shown
    assert "has no name" in nameless["error"]["evalue"]
    assert bad_png["metrics"] == {"kind": "bad_png"}  # what could be read is still recorded
    # an output nbformat refuses stops the notebook in that cell
    assert (invalid["status"], invalid["error"]["ename"], invalid["error"]["cell"]) == (
        "failed", "NotebookValidationError", 4)
    assert len(only_failure_lines(result.stderr)) == 3 and "Traceback" not in result.stderr
    assert sorted(r["status"] for r in run_records(home)) == ["failed", "failed", "failed", "succeeded"]


def test_a_warm_import_that_is_not_a_module_name_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    [plan] = plan_runs(NOTEBOOKS / "simple.ipynb")
    plan = dataclasses.replace(plan, warm_imports=(f"os; open({str(marker)!r}, 'w')",))
    record = execute_run(plan, Store(tmp_path / "home"), options=RunOptions(report=False))
    assert record.status == "failed"
    assert record.error is not None and record.error["ename"] == "ConfigError"
    assert "is not a module name" in record.error["evalue"]
    assert not marker.exists()


class SlowStartingKernels(FreshKernels):
    """Kernels that are handed out only after ``delay`` seconds: start-up longer than the time limit."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def acquire(self, request: KernelRequest):
        km = super().acquire(request)
        threading.Event().wait(self.delay)
        return km


def test_the_time_limit_counts_from_the_first_cell(tmp_path: Path) -> None:
    [plan] = plan_runs(NOTEBOOKS / "simple.ipynb")
    record = execute_run(plan, Store(tmp_path / "home"), kernels=SlowStartingKernels(delay=6.0),
                         options=RunOptions(timeout=5.0, report=False))
    assert record.status == "succeeded", record.error
    assert record.duration_s is not None and record.duration_s > 6.0  # the limit was shorter than the whole run


def test_failing_runs_leak_no_channels_or_threads(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    [plan] = plan_runs(NOTEBOOKS / "broken.ipynb")
    kernels = FreshKernels()
    options = RunOptions(report=False, use_cache=False)

    def fail_once() -> None:
        record = execute_run(plan, store, options=options, kernels=kernels)
        assert record.status == "failed" and record.error is not None and record.error["cell"] is not None

    me = psutil.Process()
    for _ in range(3):  # first runs load modules and start the zmq context's threads
        fail_once()
    fds, threads = me.num_fds(), me.num_threads()
    for _ in range(15):
        fail_once()
    # each leaked client kept five zmq sockets (and their fds) open: 15 runs would add dozens
    assert me.num_fds() <= fds + 4, (fds, me.num_fds())
    assert me.num_threads() <= threads + 2, (threads, me.num_threads())


def unreadable_input_plan():
    """A plan whose path input is a file that cannot be read (hashing it raises before anything runs)."""
    [plan] = plan_runs(NOTEBOOKS / "simple.ipynb")
    return dataclasses.replace(plan, parameters={**plan.parameters, "data": "/proc/self/mem"}, path_params=("data",),
                               scenario="unreadable")


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_run_that_cannot_start_is_recorded_failed_and_the_batch_goes_on(tmp_path: Path, use_cache: bool) -> None:
    from livedocs_runner.batch import run_batch

    if not Path("/proc/self/mem").is_file():
        pytest.skip("needs Linux's /proc/self/mem (a file whose reads fail)")
    [good] = plan_runs(NOTEBOOKS / "simple.ipynb")
    store = Store(tmp_path / "home")
    bad, fine = run_batch([unreadable_input_plan(), good], store, options=RunOptions(report=False, use_cache=use_cache))
    assert (fine.status, bad.status) == ("succeeded", "failed")
    assert bad.error is not None and bad.error["ename"] == "OSError" and "Input/output error" in bad.error["evalue"]
    assert "Traceback" in bad.error["traceback"] and bad.finished_at
    assert sorted(r.status for r in store.list(limit=None)) == ["failed", "succeeded"]


def test_the_apps_queue_records_a_run_that_cannot_start(tmp_path: Path) -> None:
    from livedocs_runner.jobs import JobQueue, cached_result

    if not Path("/proc/self/mem").is_file():
        pytest.skip("needs Linux's /proc/self/mem (a file whose reads fail)")
    assert cached_result(unreadable_input_plan(), Store(tmp_path / "home")) is None
    queue = JobQueue(Store(tmp_path / "home"), workers=1)
    try:
        job = queue.submit(unreadable_input_plan(), RunOptions(trigger="app", report=False))
        status = queue.wait(job, timeout=120)
        assert status.record is not None and status.record.status == "failed"
        assert status.record.error is not None and status.record.error["ename"] == "OSError"
    finally:
        queue.shutdown()
