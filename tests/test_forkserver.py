"""Kernels forked from a template, with real kernels: isolation, distinct processes, a template that
runs no user code, timeouts and dead kernels, inline figures, interrupts, a dying or failing
template, a clean close and the fallback for other kernelspecs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psutil
import pytest

from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.forkserver import ForkedProcess, ForkKernels, ForkOptions, ForkServer, fork_supported
from livedocs_runner.kernels import KernelRequest, KernelStartError, stop_kernel
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions
from livedocs_runner.records.store import Store

from .conftest import NOTEBOOKS, until, write_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")]

OPTIONS = RunOptions(report=False, use_cache=False)


class Recording:
    """Wraps a KernelSource and remembers every kernel it hands out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.processes: list[Any] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def acquire(self, request: KernelRequest) -> Any:
        km = self.inner.acquire(request)
        self.processes.append(km.provisioner.process)
        return km

    def release(self, km: Any) -> None:
        self.inner.release(km)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def until_dead(pids: list[int], timeout: float = 10.0) -> None:
    until(lambda: not any(alive(pid) for pid in pids), f"processes {pids} to end", timeout=timeout)


def request_of(plan: Any) -> KernelRequest:
    return KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "home")


@pytest.fixture
def kernels() -> Any:
    source = ForkKernels(PoolOptions(size=1))
    yield source
    source.close()


def test_runs_are_isolated_and_each_has_its_own_forked_process(store: Store, kernels: ForkKernels) -> None:
    source = Recording(kernels)
    records = [execute_run(plan_runs(NOTEBOOKS / "isolation.ipynb", overrides={"marker": m})[0], store,
                           options=OPTIONS, kernels=source) for m in "abcd"]
    for record in records:
        assert record.status == "succeeded", record.error
        assert record.metrics == {"seen_global": "none", "seen_module": "none"}
    [template] = kernels.server.template_pids()
    assert all(isinstance(p, ForkedProcess) for p in source.processes)  # really forked, not a fallback
    assert len(set(source.pids)) == len(records) and template not in source.pids
    assert all(psutil.Process(pid).ppid() == template for pid in source.pids if alive(pid))
    until_dead(source.pids)
    # the template serves no kernel and so never ran a cell: no zmq sockets, no thread of Python's
    proc = psutil.Process(template)
    assert proc.net_connections(kind="all") == []
    assert proc.num_threads() <= 1 + (os.cpu_count() or 1)  # the main thread + OpenBLAS's workers at most


def test_forked_kernels_compute_with_numpy_and_get_their_own_random_state(store: Store, tmp_path: Path,
                                                                           kernels: ForkKernels) -> None:
    nb = write_notebook(tmp_path / "nb" / "numeric.ipynb", [
        "import numpy as np\nfrom livedocs_runner import record\n"
        "a = np.arange(250_000, dtype=float).reshape(500, 500) / 1e5\n"
        "record('trace', float(np.trace(a @ a.T)))\nrecord('draw', float(np.random.rand()))"])
    plan = plan_runs(nb)[0]
    assert "numpy" in plan.warm_imports  # imported by the template, before the fork
    first, second = (execute_run(plan, store, options=OPTIONS, kernels=kernels) for _ in range(2))
    assert first.status == second.status == "succeeded", (first.error, second.error)
    a = [[(i * 500 + j) / 1e5 for j in range(500)] for i in range(500)]
    assert first.metrics["trace"] == pytest.approx(sum(x * x for row in a for x in row))
    assert first.metrics["draw"] != second.metrics["draw"]


def test_a_timeout_kills_the_forked_kernel(store: Store, kernels: ForkKernels) -> None:
    source = Recording(kernels)
    plan = plan_runs(NOTEBOOKS / "slow.ipynb", overrides={"seconds": "600"})[0]
    record = execute_run(plan, store, options=RunOptions(report=False, use_cache=False, timeout=3), kernels=source)
    assert record.status == "failed" and record.error["ename"] == "Timeout"
    until_dead(source.pids)


def test_a_kernel_that_dies_is_recorded_failed(store: Store, kernels: ForkKernels) -> None:
    source = Recording(kernels)
    record = execute_run(plan_runs(NOTEBOOKS / "kernel_dies.ipynb")[0], store, options=OPTIONS, kernels=source)
    assert record.status == "failed" and record.error["ename"] == "DeadKernelError"
    assert record.error["cell"] == 2
    until_dead(source.pids)


def test_figures_are_captured_even_under_an_agg_backend(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")  # what streamlit leaves in the environment
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        record = execute_run(plan_runs(NOTEBOOKS / "with_figure.ipynb", overrides={"n": "4"})[0], store,
                             options=OPTIONS, kernels=source)
    assert record.status == "succeeded", record.error
    assert isinstance(source.processes[0], ForkedProcess)
    assert [Path(p).suffix for p in record.outputs if "figure-" in p] == [".png"]


def test_interrupt_reaches_the_forked_kernel() -> None:
    from jupyter_core.utils import run_sync

    server = ForkServer()
    try:
        km = server.start(KernelRequest("python3", NOTEBOOKS), 60)
        assert km.has_kernel and run_sync(km.is_alive)()
        kc = km.client()
        kc.start_channels()
        msg_id = kc.execute("import time; print('sleeping', flush=True); time.sleep(60)")
        while True:  # interrupt once the cell is inside its sleep, not before it started
            message = run_sync(kc.get_iopub_msg)(timeout=20)
            if message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "stream":
                break
        run_sync(km.interrupt_kernel)()
        reply = run_sync(kc.get_shell_msg)(timeout=20)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = run_sync(kc.get_shell_msg)(timeout=20)
        kc.stop_channels()
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        pid = km.provisioner.pid
        run_sync(km.shutdown_kernel)(now=True)
        assert not km.has_kernel
        until_dead([pid])
    finally:
        server.close()


def test_a_dead_template_is_replaced_and_no_run_fails(store: Store, kernels: ForkKernels) -> None:
    plan = plan_runs(NOTEBOOKS / "isolation.ipynb")[0]
    assert execute_run(plan, store, options=OPTIONS, kernels=kernels).status == "succeeded"
    [template] = kernels.server.template_pids()
    os.kill(template, signal.SIGKILL)
    until_dead([template])
    source = Recording(kernels)
    for _ in range(2):
        record = execute_run(plan, store, options=OPTIONS, kernels=source)
        assert record.status == "succeeded", record.error
    [replacement] = kernels.server.template_pids()
    assert replacement != template
    assert isinstance(source.processes[-1], ForkedProcess)


def test_a_forked_kernel_gets_its_ports_and_key_in_its_fork_request_and_no_connection_file(
        store: Store, tmp_path: Path, kernels: ForkKernels, monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection file is written for a forked kernel (the key never reaches the disk, and no file is created
    and deleted per run); the kernel binds the ports the runner chose and signs with the runner's key."""
    temp = tmp_path / "temp"  # where the manager names (and jupyter_client would write) connection files
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    seen: list[tuple[str, bool, dict[str, Any], set[int]]] = []

    class Checking(Recording):
        def acquire(self, request: KernelRequest) -> Any:
            km = super().acquire(request)
            listening = {c.laddr.port for c in psutil.Process(km.provisioner.pid).net_connections("tcp")
                         if c.status == psutil.CONN_LISTEN}
            seen.append((km.connection_file, Path(km.connection_file).exists(), km.get_connection_info(), listening))
            return km

    source = Checking(kernels)
    records = [execute_run(plan_runs(NOTEBOOKS / "isolation.ipynb", overrides={"marker": m})[0], store,
                           options=OPTIONS, kernels=source) for m in "ab"]
    assert [r.status for r in records] == ["succeeded", "succeeded"], [r.error for r in records]
    assert all(isinstance(p, ForkedProcess) for p in source.processes)
    for name, existed, info, listening in seen:
        assert Path(name).parent == temp and not existed  # named (the launch command carries it), never written
        # (the kernel also listens on one more port of its own: ipykernel's pipe to its IOPub thread)
        assert {info[f"{channel}_port"] for channel in ("shell", "iopub", "stdin", "control", "hb")} <= listening
    assert len({info["key"] for _, _, info, _ in seen}) == 2  # each kernel its own key (the runs' messages signed)
    assert list(temp.iterdir()) == []


def test_a_forked_kernel_answers_connect_request_with_its_ports(kernels: ForkKernels) -> None:
    from jupyter_core.utils import run_sync

    km = kernels.acquire(request_of(plan_runs(NOTEBOOKS / "isolation.ipynb")[0]))
    kc = km.client()
    try:
        kc.start_channels()
        request = kc.session.msg("connect_request", {})
        kc.shell_channel.send(request)
        reply = run_sync(kc.get_shell_msg)(timeout=30)
        assert reply["parent_header"]["msg_id"] == request["header"]["msg_id"]
        ports = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")
        assert {name: reply["content"][name] for name in ports} == {name: getattr(km, name) for name in ports}
    finally:
        kc.stop_channels()
        kernels.release(km)


def test_a_template_that_cannot_start_falls_back_to_a_normal_start(store: Store) -> None:
    with ForkKernels(PoolOptions(size=1), ForkOptions(template_timeout=0.01)) as kernels:
        source = Recording(kernels)
        record = execute_run(plan_runs(NOTEBOOKS / "isolation.ipynb")[0], store, options=OPTIONS, kernels=source)
        assert kernels.server.template_pids() == []
    assert record.status == "succeeded", record.error
    assert isinstance(source.processes[0], subprocess.Popen)  # started from its connection file, written after all


def test_close_leaves_no_template_and_no_kernel(store: Store) -> None:
    kernels = ForkKernels(PoolOptions(size=2))
    request = request_of(plan_runs(NOTEBOOKS / "isolation.ipynb")[0])
    in_use = kernels.acquire(request)  # never released: close kills it too
    kernels.prewarm(request)
    until(lambda: kernels.stats()["idle"] >= 1, "a kernel to wait idle", timeout=60)
    templates = kernels.server.template_pids()
    forked = [p.pid for p in psutil.Process(templates[0]).children()]
    assert in_use.provisioner.pid in forked and len(forked) >= 2
    kernels.close()
    until_dead(templates + forked)
    assert kernels.stats()["templates"] == kernels.stats()["kernels"] == 0


@pytest.fixture
def other_kernelspec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec 'other' that is not launched as ``python -m ipykernel_launcher``."""
    spec = tmp_path / "jupyter" / "kernels" / "other"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel", "-f", "{connection_file}"],
        "display_name": "Other Python", "language": "python"}), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "other"


def test_another_kernelspec_starts_normally(store: Store, tmp_path: Path, other_kernelspec: str) -> None:
    nb = write_notebook(tmp_path / "nb" / "other.ipynb", ["from livedocs_runner import record\nrecord('x', 1)"])
    data = json.loads(nb.read_text())
    data["metadata"]["kernelspec"] = {"name": other_kernelspec, "display_name": "Other Python", "language": "python"}
    nb.write_text(json.dumps(data))
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        record = execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=source)
        assert kernels.server.template_pids() == []
    assert record.status == "succeeded", record.error
    assert isinstance(source.processes[0], subprocess.Popen)
    until_dead(source.pids)


def test_a_kernel_from_a_closed_server_starts_normally() -> None:
    server = ForkServer()
    server.close()
    km = server.start(KernelRequest("python3", NOTEBOOKS), 60)
    try:
        assert isinstance(km.provisioner.process, subprocess.Popen)
    finally:
        stop_kernel(km)


def test_cli_batch_forks_its_kernels_and_leaves_no_process(tmp_path: Path) -> None:
    from .conftest import CONFIGS, cli_runner

    runtime = tmp_path / "runtime"  # every template and kernel of this batch has it in its environment
    result = cli_runner(tmp_path / "home")("run", CONFIGS / "simple.yaml", "--workers", "2", "--json",
                                           env={"JUPYTER_RUNTIME_DIR": str(runtime)})
    assert result.code == 0, result.stderr
    assert {r["status"] for r in result.json()} == {"succeeded"}
    leftovers = []
    for proc in psutil.process_iter(["pid", "environ"]):
        if (proc.info["environ"] or {}).get("JUPYTER_RUNTIME_DIR") == str(runtime) and alive(proc.info["pid"]):
            leftovers.append(proc.info["pid"])
    assert leftovers == []
    assert not list(runtime.glob("kernel-*.json"))


def test_input_fails_the_run_at_once_rather_than_waiting_for_a_reply(store: Store, tmp_path: Path,
                                                                     kernels: ForkKernels) -> None:
    nb = write_notebook(tmp_path / "nb" / "asks.ipynb", ["answer = input('Threshold? ')", "print('never')"])
    record = execute_run(plan_runs(nb)[0], store, options=RunOptions(report=False, use_cache=False, timeout=60),
                         kernels=kernels)
    assert record.status == "failed" and record.error["ename"] == "StdinNotImplementedError", record.error
    assert record.error["cell"] == 1


def test_a_kernel_that_ends_before_binding_its_sockets_fails_its_start(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # the template reports each kernel bound (no kernel_info round trip); one that exits while it
    # initialises (here in a profile startup file) is reported at once, and the start is retried, then fails
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-exit.py").write_text("import os\nos._exit(3)\n", encoding="utf-8")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    server = ForkServer()
    try:
        with pytest.raises(KernelStartError) as caught:
            server.start(KernelRequest("python3", NOTEBOOKS), 30)
        assert "ended before binding its sockets" in str(caught.value)
        assert len(server.template_pids()) == 1  # the template itself is fine and still serving
    finally:
        server.close()
