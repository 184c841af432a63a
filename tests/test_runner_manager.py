"""The kernel manager of a run (``_manager.py``): it shares the process's zmq context, connects its control socket
only when it is used (a polite shutdown, a message-mode interrupt: both still work), takes its kernelspec from
``_kernelspecs.py``, which answers as jupyter_client does and sees a spec installed, edited or removed, and its
clients ask a forked kernel for ``kernel_info`` only when no earlier kernel of its template answered it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_core.utils import run_sync

from livedocs_runner import _client, _kernelspecs, _manager
from livedocs_runner._client import shared_context
from livedocs_runner._kernelspecs import kernel_spec
from livedocs_runner._manager import RunKernelManager, run_manager
from livedocs_runner.execute import execute_run
from livedocs_runner.forkserver import ForkKernels, fork_supported
from livedocs_runner.kernels import KernelRequest
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions
from livedocs_runner.records.store import Store

from .conftest import until, write_notebook
from .test_execute_handshake import Counting
from .test_kernel_prebuilt import OPTIONS


def write_spec(root: Path, name: str, module: str) -> Path:
    spec = root / "kernels" / name / "kernel.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({"argv": ["python", "-m", module], "display_name": name, "language": "python"}),
                    encoding="utf-8")
    return spec


def argv(name: str) -> list[str]:
    return list(kernel_spec(name).argv)


def test_a_kernelspec_is_found_as_jupyter_client_finds_it() -> None:
    mine, theirs = kernel_spec("python3"), KernelSpecManager().get_kernel_spec("python3")
    assert (mine.to_dict(), mine.resource_dir) == (theirs.to_dict(), theirs.resource_dir)
    with pytest.raises(NoSuchKernel):
        kernel_spec("no-such-kernel-here")


def test_a_kernelspec_is_kept_while_unchanged_and_looked_up_again_when_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    monkeypatch.setenv("JUPYTER_PATH", f"{first}{os.pathsep}{second}")
    (first / "kernels").mkdir(parents=True)
    write_spec(second, "mine", "second")
    assert argv("mine") == ["python", "-m", "second"]  # folders and file just written: not kept yet
    time.sleep(2.1)  # older than RECENT_NS: kept from now on
    assert argv("mine") == ["python", "-m", "second"]
    [kept] = [spec for key, (_, spec) in _kernelspecs._KNOWN.items() if key[0] == "mine"]
    assert kept.argv == ["python", "-m", "second"]
    copy = kernel_spec("mine")
    copy.argv.append("--changed-by-a-caller")  # a copy: what is kept does not change
    assert argv("mine") == ["python", "-m", "second"]
    write_spec(first, "mine", "first")  # a folder searched before gets the name
    assert argv("mine") == ["python", "-m", "first"]
    write_spec(first, "mine", "edited")  # edited in place
    assert argv("mine") == ["python", "-m", "edited"]
    (first / "kernels" / "mine" / "kernel.json").unlink()
    (first / "kernels" / "mine").rmdir()
    assert argv("mine") == ["python", "-m", "second"]
    monkeypatch.setenv("JUPYTER_PATH", str(first))  # other folders: looked up there
    with pytest.raises(NoSuchKernel):
        kernel_spec("mine")


@pytest.mark.kernel
@pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")
def test_a_run_kernel_manager_connects_its_control_socket_only_to_use_it(tmp_path: Path) -> None:
    assert isinstance(run_manager("python3"), RunKernelManager)
    with ForkKernels(PoolOptions(size=2)) as kernels:
        interrupted, stopped = (kernels.acquire(KernelRequest("python3", tmp_path, ())) for _ in range(2))
        try:
            for km in (interrupted, stopped):
                assert isinstance(km, RunKernelManager) and km.context is shared_context()
                assert km._control_socket is None and not km._created_context
            # a kernelspec that interrupts by message: the control socket connects and the cell is interrupted
            km = interrupted
            km.kernel_spec.interrupt_mode = "message"
            kc = km.blocking_client()
            kc.start_channels()
            kc.wait_for_ready(timeout=30)
            msg_id = kc.execute("import time\ntime.sleep(30)")
            kc.get_iopub_msg(timeout=10)  # busy: the cell is running
            time.sleep(0.2)
            run_sync(km.interrupt_kernel)()
            while (reply := kc.get_shell_msg(timeout=10))["parent_header"].get("msg_id") != msg_id:
                pass
            assert (reply["content"]["status"], reply["content"]["ename"]) == ("error", "KeyboardInterrupt")
            assert km._control_socket is not None
            kc.stop_channels()
            # a polite shutdown goes over the control socket too: the kernel ends by itself
            process = stopped.provisioner.process
            run_sync(stopped.request_shutdown)()
            deadline = time.monotonic() + 20
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert process.poll() is not None
        finally:
            kernels.release(interrupted)
            kernels.release(stopped)
    assert not shared_context().closed  # the managers' clean-up left the shared context to the next kernel


LANGUAGE = "import sys\nprint(sys.version_info[0])"


def run_pooled(kernels: ForkKernels, counting: Counting, nb: Path, store: Store) -> Any:
    """One run on a kernel that waited in the pool (its client opened meanwhile), as a stakeholder's click gets."""
    plan = plan_runs(nb)[0]
    request = KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports)
    kernels.pool.prewarm(request)
    until(lambda: kernels.pool.stats()["idle"] >= 1, "a kernel waiting in the pool")
    return execute_run(plan, store, options=OPTIONS, kernels=counting)


@pytest.mark.kernel
@pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")
def test_a_kernel_from_a_template_whose_first_kernel_answered_kernel_info_is_not_asked_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    get_msg = _client.QuickChannel.get_msg
    drop_welcome = [False]

    async def maybe_without_welcome(self: Any, timeout: float | None = None) -> dict[str, Any]:
        msg = await get_msg(self, timeout)
        while drop_welcome[0] and msg["msg_type"] == "iopub_welcome":  # a kernel that does not greet after all
            msg = await get_msg(self, timeout)
        return msg

    monkeypatch.setattr(_client.QuickChannel, "get_msg", maybe_without_welcome)
    monkeypatch.setattr(_client, "WELCOME_WAIT_S", 0.2)
    nb = write_notebook(tmp_path / "nb.ipynb", [("n = 1", ["parameters"]), LANGUAGE])
    store = Store(tmp_path / "home")
    records = []
    with ForkKernels(PoolOptions(size=1)) as kernels:
        counting = Counting(kernels)
        for drop in (False, False, True):
            drop_welcome[0] = drop
            records.append(run_pooled(kernels, counting, nb, store))
        # a first kernel whose idle came before its greeting (it was asked the moment it was connected) taught
        # only the reply: the next kernel is asked, and seen greeting, the one after it is not
        [template] = kernels.server._templates.values()
        memo = _manager._READY_MEMOS[template]
        del memo["welcomes"]
        drop_welcome[0] = False
        records += [run_pooled(kernels, counting, nb, store) for _ in range(2)]
    assert [r.status for r in records] == ["succeeded"] * 5
    # asked by the template's first kernel, not the second, and again when the greeting did not come
    assert [sent["kernel_info_request"] for sent in counting.sent] == [1, 0, 1, 1, 0]
    outs = [nbformat.read(r.output_notebook, as_version=4) for r in records]
    assert all(out.metadata.language_info == outs[0].metadata.language_info for out in outs)
    assert [o.cells[-1].outputs[0]["text"] for o in outs] == ["3\n"] * 5


@pytest.mark.kernel
@pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")
def test_a_kernel_waiting_in_the_pool_has_its_runs_client_connected_while_it_waits(tmp_path: Path) -> None:
    request = KernelRequest("python3", tmp_path, ())
    with ForkKernels(PoolOptions(size=2)) as kernels:
        kernels.pool.prewarm(request)
        until(lambda: kernels.pool.stats()["idle"] >= 2, "two kernels waiting in the pool")
        waiting = [entry.km for entry in kernels.pool._idle[request]]
        km = kernels.acquire(request)
        try:
            opened = km._opened
            assert opened is not None and opened.shell_channel.is_alive() and opened.iopub_channel.is_alive()
            assert km.client() is opened and km._opened is None  # the run takes it, once
            another = km.client()
            assert another is not opened
            # each client has a session of its own (a clone of the manager's): both parse message dates fast
            for client in (opened, another):
                assert getattr(client.session.unpack, "livedocs_fast_dates", False)

            async def greeted_then_run() -> Any:
                greeting = await opened.iopub_channel.get_msg(timeout=30)  # subscribed while the kernel waited
                opened.start_channels()  # as nbclient does: the channels already started are kept
                await opened.wait_for_ready(timeout=30)
                return greeting, await opened.execute_interactive("print(2 + 1)", output_hook=lambda msg: None,
                                                                  timeout=30)

            greeting, reply = run_sync(greeted_then_run)()
            assert greeting["msg_type"] == "iopub_welcome" and reply["content"]["status"] == "ok"
            opened.stop_channels()
        finally:
            kernels.release(km)
        [left] = [other for other in waiting if other is not km]
        left_client = left._opened
        assert left_client is not None
    # the pool closed: the client opened for the kernel no run took is closed with it (a closed kernel's sockets
    # would reconnect to its dead ports every few ms)
    assert left._opened is None and not left_client.shell_channel.is_alive() and not left_client.iopub_channel.is_alive()
