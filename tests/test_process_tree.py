"""No process a notebook starts outlives its run: children in a session of their own and double-forked
daemons are killed with the kernel, whether the run succeeded, failed, timed out or was cancelled."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.conftest import NOTEBOOKS, CliResult, popen_cli, run_records, until

pytestmark = pytest.mark.kernel

SPAWNS = NOTEBOOKS / "spawns_processes.ipynb"


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def spawned_pid(pid_file: Path) -> int:
    return int(until(lambda: pid_file.is_file() and pid_file.read_text(), f"{pid_file} to be written"))


def kill_if_left(pid: int) -> None:
    """Clean up after a failing assertion, so one failure does not leave a sleep 1000 behind."""
    if not gone(pid):
        psutil.Process(pid).kill()


@pytest.mark.parametrize(("how", "then", "status"), [
    ("session", "end", "succeeded"), ("session", "raise", "failed"),
    ("daemon", "end", "succeeded"), ("daemon", "raise", "failed"),
])
def test_spawned_processes_end_with_the_run(run_cli: Callable[..., CliResult], tmp_path: Path, how: str, then: str,
                                            status: str) -> None:
    pid_file = tmp_path / "pid.txt"
    result = run_cli("run", SPAWNS, "--json", "--no-cache", "--no-report", "-p", f"how={how}", "-p", f"then={then}",
                     "-p", f"pid_file={pid_file}")
    [record] = result.json()
    assert record["status"] == status, result.stderr
    pid = spawned_pid(pid_file)
    try:
        until(lambda: gone(pid), f"the {how} process {pid} to be killed", timeout=20)
    finally:
        kill_if_left(pid)


@pytest.mark.parametrize("how", ["session", "daemon"])
def test_spawned_processes_end_with_a_timeout(home: Path, tmp_path: Path, how: str) -> None:
    pid_file = tmp_path / "pid.txt"
    proc = popen_cli(home, "run", SPAWNS, "--json", "--no-cache", "--no-report", "--timeout", "8", "-p", f"how={how}",
                     "-p", "then=hang", "-p", f"pid_file={pid_file}")
    pid = spawned_pid(pid_file)
    try:
        kernel = psutil.Process(pid).parent()
        # the daemon's parent exited: it was re-parented to the kernel (a subreaper), not to init
        assert kernel is not None and "ipykernel" in " ".join(kernel.cmdline()), kernel
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 1, stderr
        [record] = json.loads(stdout)
        assert record["error"]["ename"] == "Timeout"
        until(lambda: gone(pid), f"the {how} process {pid} to be killed", timeout=20)
        assert gone(kernel.pid)
    finally:
        proc.kill()
        kill_if_left(pid)


def test_spawned_processes_end_when_the_run_is_cancelled(home: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid.txt"
    proc = popen_cli(home, "run", SPAWNS, "--no-cache", "--no-report", "-p", "how=daemon", "-p", "then=hang",
                     "-p", f"pid_file={pid_file}")
    pid = spawned_pid(pid_file)
    try:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        assert proc.returncode == 130
        until(lambda: gone(pid), f"the daemon {pid} to be killed", timeout=20)
        assert [r["status"] for r in run_records(home)] == ["cancelled"]
    finally:
        proc.kill()
        kill_if_left(pid)


def test_forked_kernels_kill_their_spawned_processes_too(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    # a batch of several runs uses kernels forked from a template (forkserver.py): each is a subreaper too
    config = tmp_path / "spawns.yaml"
    pid_files = {how: tmp_path / f"{how}.txt" for how in ("session", "daemon")}
    config.write_text(f"notebook: {SPAWNS}\nscenarios:\n" + "".join(
        f"  {how}: {{how: {how}, pid_file: '{path}'}}\n" for how, path in pid_files.items()), encoding="utf-8")
    result = run_cli("run", config, "--json", "--no-cache", "--no-report", "--workers", "2")
    assert result.code == 0, result.stderr
    pids = [spawned_pid(path) for path in pid_files.values()]
    try:
        until(lambda: all(gone(pid) for pid in pids), "the spawned processes to be killed", timeout=20)
    finally:
        for pid in pids:
            kill_if_left(pid)


def test_a_killed_runner_takes_its_forked_kernels_spawned_processes_along(home: Path, tmp_path: Path) -> None:
    # nothing in the runner gets to clean up: the forked kernels watch it and kill their own trees
    config = tmp_path / "spawns.yaml"
    pid_files = {how: tmp_path / f"{how}.txt" for how in ("session", "daemon")}
    config.write_text(f"notebook: {SPAWNS}\nscenarios:\n" + "".join(
        f"  {how}: {{how: {how}, then: hang, pid_file: '{path}'}}\n" for how, path in pid_files.items()),
        encoding="utf-8")
    proc = popen_cli(home, "run", config, "--no-cache", "--no-report", "--workers", "2")
    try:
        pids = [spawned_pid(path) for path in pid_files.values()]
    except AssertionError:
        proc.kill()
        raise
    try:
        proc.kill()
        proc.communicate(timeout=60)
        until(lambda: all(gone(pid) for pid in pids), "the spawned processes to be killed", timeout=30)
    finally:
        for pid in pids:
            kill_if_left(pid)


def test_a_killed_runner_takes_its_fresh_kernels_spawned_processes_along(home: Path, tmp_path: Path) -> None:
    # one run: a fresh kernel, whose guardian (_launcher.py) kills its tree when the runner dies
    pid_file = tmp_path / "pid.txt"
    proc = popen_cli(home, "run", SPAWNS, "--no-cache", "--no-report", "-p", "how=daemon", "-p", "then=hang",
                     "-p", f"pid_file={pid_file}")
    try:
        pid = spawned_pid(pid_file)
    except AssertionError:
        proc.kill()
        raise
    try:
        kernel = psutil.Process(pid).parent()
        proc.kill()
        proc.communicate(timeout=60)
        until(lambda: gone(pid), f"the daemon {pid} to be killed", timeout=30)
        assert kernel is not None and gone(kernel.pid)
    finally:
        kill_if_left(pid)
