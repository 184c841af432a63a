"""The warm kernel pool with real kernels: isolation between runs, bounds, idle recycling, a clean
close (no kernel process left), start-up failures retried rather than reported, and the CLI batch."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.kernels import KernelRequest, KernelStartError, start_kernel
from livedocs_runner.plan import plan_runs
from livedocs_runner import pool as pool_module
from livedocs_runner.pool import PoolOptions, WarmPool
from livedocs_runner.records.store import Store

from .conftest import CONFIGS, NOTEBOOKS, cli_runner, run_records, until, write_notebook

pytestmark = pytest.mark.kernel

WAIT = 60.0
OPTIONS = RunOptions(report=False, use_cache=False)




def kernel_children() -> list[int]:
    """Pids of this process's child processes that are Jupyter kernels."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == os.getpid() and ("ipykernel" in cmdline or "flaky_kernel" in cmdline):
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


class Recording:
    """Wraps a KernelSource and remembers the pid of every kernel it hands out."""

    def __init__(self, inner: WarmPool) -> None:
        self.inner = inner
        self.pids: list[int] = []

    def acquire(self, request: KernelRequest) -> Any:
        km = self.inner.acquire(request)
        self.pids.append(km.provisioner.process.pid)
        return km

    def release(self, km: Any) -> None:
        self.inner.release(km)


def isolation_plan(marker: str):
    return plan_runs(NOTEBOOKS / "isolation.ipynb", overrides={"marker": marker})[0]


def request_of(plan) -> KernelRequest:
    return KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "home")


def test_state_never_leaks_from_one_run_to_the_next(store: Store) -> None:
    with WarmPool(PoolOptions(size=1)) as pool:
        source = Recording(pool)
        pool.prewarm(request_of(isolation_plan("a")))
        records = [execute_run(isolation_plan(m), store, options=OPTIONS, kernels=source) for m in "abcd"]
    for record in records:
        assert record.status == "succeeded", record.error
        assert record.metrics == {"seen_global": "none", "seen_module": "none"}
    assert len(set(source.pids)) == len(records)  # each kernel served exactly one run
    assert not any(alive(pid) for pid in source.pids)


def test_a_released_kernel_is_killed_at_once_and_reaped_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    reap = threading.Event()
    stop_at = pool_module._stop_at

    def held_stop_at(km: Any, due: float) -> None:
        reap.wait(WAIT)  # reaping waits for the test: only release() itself can have killed the kernel
        stop_at(km, due)

    monkeypatch.setattr(pool_module, "_stop_at", held_stop_at)
    with WarmPool(PoolOptions(size=1)) as pool:
        km = pool.acquire(request_of(isolation_plan("a")))
        pid, connection = km.provisioner.process.pid, Path(km.connection_file)
        assert alive(pid) and connection.is_file()
        pool.release(km)
        until(lambda: not alive(pid), "the released kernel killed")  # it runs nothing more
        assert connection.is_file()  # not reaped yet: that is the background's work, after the run's records
        reap.set()
        until(lambda: not Path(f"/proc/{pid}").exists() and not connection.exists(),
              "the released kernel reaped and its connection file removed")


def test_kernels_come_warm_with_the_requested_imports(store: Store, tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "imports.ipynb", [
        "import sys\nfrom livedocs_runner import record\nrecord('had_json', 'json' in sys.modules)\n"
        "record('had_csv', 'csv' in sys.modules)"])
    plan = plan_runs(nb)[0]
    plan = type(plan)(**{**plan.__dict__, "warm_imports": ("csv",)})
    with WarmPool(PoolOptions(size=1)) as pool:
        pool.prewarm(request_of(plan))
        until(lambda: pool.stats()["idle"] == 1, "a warm kernel")
        record = execute_run(plan, store, options=OPTIONS, kernels=pool)
    assert record.status == "succeeded", record.error
    assert record.metrics["had_csv"] is True


def test_pool_stays_within_its_bound_and_closes_cleanly(store: Store) -> None:
    plan = isolation_plan("a")
    pool = WarmPool(PoolOptions(size=2))
    pool.prewarm(request_of(plan))
    seen: list[dict[str, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.append(pool.stats())
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        threads = [threading.Thread(target=execute_run, args=(isolation_plan(m), store),
                                    kwargs={"options": OPTIONS, "kernels": pool}) for m in "abcde"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT * 2)
        until(lambda: pool.stats()["idle"] == 2, "the pool to refill")
    finally:
        stop.set()
        watcher.join()
        in_use_pid = pool.acquire(request_of(plan)).provisioner.process.pid  # never released: close kills it too
        pool.close()
    assert all(s["idle"] + s["starting"] <= 2 for s in seen)
    assert [r["status"] for r in run_records(store.home)] == ["succeeded"] * 5
    assert pool.stats() == {"idle": 0, "starting": 0, "in_use": 0}
    assert not alive(in_use_pid)
    until(lambda: not kernel_children(), "no kernel child process left")
    with pytest.raises(KernelStartError, match="closed"):
        pool.acquire(request_of(plan))


def test_depth_grows_when_a_run_waits_and_never_past_the_runs_expected() -> None:
    from livedocs_runner.forkserver import ForkKernels, fork_supported

    request = request_of(isolation_plan("a"))
    options = PoolOptions(size=1, max_size=2)
    with (ForkKernels(options) if fork_supported() else WarmPool(options)) as pool:
        pool.expect(request, 3)
        assert pool.depth(request) == 1 and pool.waits() == 0
        first = pool.acquire(request)  # nothing was warm: this run waited, so the pool goes one deeper
        assert pool.depth(request) == 2 and pool.waits() == 1
        until(lambda: pool.stats()["idle"] == 2, "two kernels warmed for the two runs still expected")
        second = pool.acquire(request)
        third = pool.acquire(request)  # the last run expected: no replacement starts for it
        assert pool.waits() == 1
        assert pool.stats() == {**pool.stats(), "idle": 0, "starting": 0, "in_use": 3}
        assert len({km.provisioner.process.pid for km in (first, second, third)}) == 3
        for km in (first, second, third):
            pool.release(km)


def test_a_run_asked_for_alone_gets_its_replacement_after_it_not_alongside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run asked for alone (the app's stakeholder): its replacement kernel starts once it has released its
    kernel, or ``REFILL_AFTER_S`` into a long run; on a 2-core machine starting it alongside slowed the run.
    Runs that follow each other closely (a queue being drained) get theirs at once."""
    from livedocs_runner import pool as pool_module
    from livedocs_runner.forkserver import ForkKernels, fork_supported

    request = request_of(isolation_plan("a"))
    monkeypatch.setattr(pool_module, "REFILL_AFTER_S", 600.0)
    with (ForkKernels(PoolOptions(size=1)) if fork_supported() else WarmPool(PoolOptions(size=1))) as pool:
        pool.prewarm(request)
        until(lambda: pool.stats()["idle"] == 1, "a warm kernel")
        km = pool.acquire(request)
        assert counts(pool) == (0, 0, 1)  # idle, starting, in use: nothing competes with the run
        pool.release(km)
        until(lambda: counts(pool) == (1, 0, 0), "the replacement, after the run")
        next_run = pool.acquire(request)  # right after the last one: replaced at once
        assert sum(counts(pool)[:2]) == 1
        pool.release(next_run)
        until(lambda: counts(pool) == (1, 0, 0), "the replacement of the next run")
        monkeypatch.setattr(pool_module, "REFILL_AFTER_S", 0.3)
        time.sleep(0.3)  # the next run comes alone
        long_run = pool.acquire(request)
        until(lambda: counts(pool) == (1, 0, 1), "the replacement, during a long run")
        pool.release(long_run)


def counts(pool: Any) -> tuple[int, int, int]:
    stats = pool.stats()
    return stats["idle"], stats["starting"], stats["in_use"]


def test_idle_kernels_are_recycled(store: Store) -> None:
    with WarmPool(PoolOptions(size=1, idle_timeout=0.5)) as pool:
        pool.prewarm(request_of(isolation_plan("a")))
        until(lambda: pool.stats()["idle"] == 1, "a warm kernel")
        pids = kernel_children()
        until(lambda: pool.stats() == {"idle": 0, "starting": 0, "in_use": 0}, "the idle kernel to be stopped")
        until(lambda: not any(alive(pid) for pid in pids), "the idle kernel process to end")


def test_a_kernel_that_died_while_idle_is_not_handed_out(store: Store) -> None:
    plan = isolation_plan("a")
    with WarmPool(PoolOptions(size=1)) as pool:
        pool.prewarm(request_of(plan))
        until(lambda: pool.stats()["idle"] == 1, "a warm kernel")
        for pid in kernel_children():
            os.kill(pid, 9)
        record = execute_run(plan, store, options=OPTIONS, kernels=pool)
    assert record.status == "succeeded", record.error


def test_a_failed_warm_up_is_retried_not_reported(store: Store) -> None:
    calls: list[KernelRequest] = []

    def first_start_fails(request: KernelRequest, timeout: float):
        calls.append(request)
        if len(calls) == 1:
            raise KernelStartError("Kernel didn't respond in 60 seconds")
        return start_kernel(request, timeout)

    plan = isolation_plan("a")
    with WarmPool(PoolOptions(size=1), start=first_start_fails) as pool:
        pool.prewarm(request_of(plan))
        record = execute_run(plan, store, options=OPTIONS, kernels=pool)
    assert record.status == "succeeded", record.error
    assert record.error is None
    assert len(calls) >= 2


@pytest.fixture
def flaky_kernel(tmp_path: Path) -> dict[str, str]:
    """A kernelspec 'flaky' whose first start exits at once (like a port collision), then works."""
    spec = tmp_path / "jupyter" / "kernels" / "flaky"
    spec.mkdir(parents=True)
    script = tmp_path / "flaky_kernel.py"
    marker = tmp_path / "flaky-started-once"
    script.write_text(
        "import pathlib, sys\n"
        "marker = pathlib.Path(sys.argv[2])\n"
        "if not marker.exists():\n"
        "    marker.write_text('failed once')\n"
        "    sys.exit(1)\n"
        "from ipykernel.kernelapp import launch_new_instance\n"
        "launch_new_instance(argv=['-f', sys.argv[1]])\n", encoding="utf-8")
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(script), "{connection_file}", str(marker)],
        "display_name": "Flaky Python", "language": "python"}), encoding="utf-8")
    return {"JUPYTER_PATH": str(tmp_path / "jupyter"), "FLAKY_MARKER": str(marker)}


def test_cli_retries_a_kernel_whose_first_start_fails(tmp_path: Path, flaky_kernel: dict[str, str]) -> None:
    nb = write_notebook(tmp_path / "nb" / "flaky.ipynb", [("x = 1", ["parameters"]),
                                                           "from livedocs_runner import record\nrecord('x', x)"])
    data = json.loads(nb.read_text())
    data["metadata"]["kernelspec"] = {"name": "flaky", "display_name": "Flaky Python", "language": "python"}
    nb.write_text(json.dumps(data))
    home = tmp_path / "home"
    result = cli_runner(home)("run", nb, "--no-report", "--json", env=flaky_kernel, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert Path(flaky_kernel["FLAKY_MARKER"]).exists()  # the first start really failed
    [record] = result.json()
    assert record["status"] == "succeeded" and record["error"] is None
    assert record["metrics"] == {"x": 1}


def test_cli_batch_uses_the_pool_and_leaves_no_kernel_behind(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    home = tmp_path / "home"
    result = cli_runner(home)("run", CONFIGS / "simple.yaml", "--workers", "2", "--json",
                              env={"JUPYTER_RUNTIME_DIR": str(runtime)})
    assert result.code == 0, result.stderr
    records = result.json()
    assert len(records) == 5 and {r["status"] for r in records} == {"succeeded"}
    assert "5 done, 0 failed, 0 running, 0 queued" in result.stderr
    leftovers = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(runtime) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                leftovers.append(entry.name)
        except OSError:
            continue
    assert leftovers == []
    assert not list(runtime.glob("kernel-*.json"))  # connection files cleaned up too
