"""A run on a forked kernel sends the next cell's request the moment it has received the current cell's reply and
idle, and a failed cell still stops every cell after it.

The kernel half (``_forkchain.py``): a request naming the one it follows runs only if that one ran and did not fail
a stop-on-error run, whenever it arrives (ipykernel's own abort covers only requests already queued when the cell
failed). The runner half (``_nbclient.RunClient``): no request waits behind a running cell, each cell keeps its own
outputs, the cells after a failure never run, and a kernel that dies in a cell is blamed on that cell with every
output of the cells before it kept (sent while a cell still ran, the next requests let a dying kernel take the
running cell's last messages with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner._forkchain import AFTER_KEY
from livedocs_runner.execute import execute_run
from livedocs_runner.forkserver import ForkKernels, fork_supported
from livedocs_runner.kernels import KernelRequest, chains_requests
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions
from livedocs_runner.records.store import Store

from .conftest import write_notebook
from .test_kernel_prebuilt import OPTIONS

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")]

# what a cell sees of the requests queued behind it: a message still in its kernel's shell socket, or one the
# kernel has read and holds as a task of its own until this cell ends (its event loop reads between cells)
PEEK = """\
import asyncio, time, zmq
time.sleep(0.3)
_k = get_ipython().kernel
_held = [t for t in asyncio.all_tasks(_k.io_loop.asyncio_loop) if 'shell_main' in repr(t.get_coro())]
queued = bool(_k.shell_stream.socket.get(zmq.EVENTS) & zmq.POLLIN) or len(_held) > 1  # (this cell's own task)
"""


class Kernel:
    """A blocking client on a forked kernel that sends execute requests with or without a predecessor."""

    def __init__(self, km: Any) -> None:
        self.kc = km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=30)

    def send(self, code: str, after: str | None = None, stop_on_error: bool = True) -> str:
        content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": stop_on_error}
        msg = self.kc.session.msg("execute_request", content, metadata={AFTER_KEY: after} if after else None)
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def status(self, msg_id: str) -> str:
        while True:
            reply = self.kc.shell_channel.get_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"]["status"]

    def value(self, expression: str) -> str:
        msg_id = self.kc.execute("", user_expressions={"v": expression})
        while True:
            reply = self.kc.shell_channel.get_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"]["user_expressions"]["v"]["data"]["text/plain"]


def test_a_request_sent_ahead_runs_only_after_the_request_it_names_succeeded(tmp_path: Path) -> None:
    with ForkKernels(PoolOptions(size=1)) as kernels:
        km = kernels.acquire(KernelRequest("python3", tmp_path, ()))
        try:
            assert chains_requests(km)
            kernel = Kernel(km)
            # all queued behind a failing cell: none runs (ipykernel's abort and the chain agree)
            failed = kernel.send("log = []\n1/0")
            second = kernel.send("log.append('second')", after=failed)
            third = kernel.send("log.append('third')", after=second)
            assert [kernel.status(m) for m in (failed, second, third)] == ["error", "aborted", "aborted"]
            # ipykernel has stopped aborting (a request without a predecessor runs again) ...
            for _ in range(50):
                if kernel.status(kernel.send("pass")) == "ok":
                    break
            else:
                pytest.fail("the kernel kept aborting requests after the failed cell")
            # ... yet a request that arrives late, naming the failed one, and the one after it, still never run
            late = kernel.send("log.append('late')", after=failed)
            later = kernel.send("log.append('later')", after=late)
            # a cell allowed to fail (raises-exception: stop_on_error false) lets the next one run
            allowed = kernel.send("1/0", stop_on_error=False)
            follows = kernel.send("log.append('follows')", after=allowed)
            # a predecessor this kernel never saw: not run
            unknown = kernel.send("log.append('unknown')", after="no-such-request")
            succeeded = kernel.send("log.append('succeeded')", after=follows)
            assert [kernel.status(m) for m in (late, later, allowed, follows, unknown, succeeded)] == [
                "aborted", "aborted", "error", "ok", "aborted", "ok"]
            assert kernel.value("log") == "['follows', 'succeeded']"
            kernel.kc.stop_channels()
        finally:
            kernels.release(km)


def run_forked(tmp_path: Path, cells: list[Any]) -> tuple[Any, Any]:
    nb = write_notebook(tmp_path / "nb.ipynb", cells)
    with ForkKernels(PoolOptions(size=1)) as kernels:
        record = execute_run(plan_runs(nb)[0], Store(tmp_path / "home"), options=OPTIONS, kernels=kernels)
    return record, nbformat.read(record.output_notebook, as_version=4)


def test_cells_after_a_failed_cell_never_run(tmp_path: Path) -> None:
    record, out = run_forked(tmp_path, [
        ("n = 1", ["parameters"]),
        "from pathlib import Path\nPath('ran-2').touch()\nprint('two')",
        PEEK + "raise ValueError(f'queued={queued}')",
        "Path('ran-4').touch()\nprint('four')",
        "Path('ran-5').touch()",
    ])
    assert record.status == "failed"
    assert (record.error["ename"], record.error["evalue"]) == ("ValueError", "queued=False")  # none sent yet
    assert (tmp_path / "ran-2").exists()
    assert not (tmp_path / "ran-4").exists() and not (tmp_path / "ran-5").exists()
    code = [c for c in out.cells if c.cell_type == "code"]
    assert [o.get("text") for o in code[2].outputs] == ["two\n"]
    assert [c.outputs for c in code[-2:]] == [[], []] and [c.execution_count for c in code[-2:]] == [None, None]


def test_each_cell_keeps_its_own_outputs_when_its_request_is_sent_early(tmp_path: Path) -> None:
    cells: list[Any] = [("n = 3", ["parameters"])]
    cells += [f"print('cell {i}')\n{i} * n" for i in range(8)]
    cells += [PEEK + "queued", ("raise KeyError('allowed')", ["raises-exception"]), "print('after')\n'end'"]
    record, out = run_forked(tmp_path, cells)
    assert record.status == "succeeded", record.error
    code = [c for c in out.cells if c.cell_type == "code"][2:]  # after the parameters and the injected cell
    for i, cell in enumerate(code[:8]):
        assert [o.get("text") for o in cell.outputs if o.output_type == "stream"] == [f"cell {i}\n"]
        assert [o.data["text/plain"] for o in cell.outputs if o.output_type == "execute_result"] == [str(i * 3)]
    assert code[8].outputs[-1].data["text/plain"] == "False"  # no request waits behind a running cell
    assert [o.output_type for o in code[9].outputs] == ["error"]
    assert [o.get("text") for o in code[10].outputs][0] == "after\n"
    assert [c.execution_count for c in code] == list(range(3, 14))


def test_sys_exit_on_a_forked_kernel_skips_the_cells_after_it_and_succeeds(tmp_path: Path) -> None:
    record, out = run_forked(tmp_path, [
        ("n = 1", ["parameters"]),
        "import sys\nsys.exit(0)",
        "from pathlib import Path\nPath('after-exit').touch()",
    ])
    assert record.status == "succeeded", record.error
    assert not (tmp_path / "after-exit").exists()
    assert out.cells[-1].outputs == []


def test_a_kernel_that_dies_in_a_cell_is_blamed_on_that_cell_and_the_cell_before_keeps_its_outputs(
        tmp_path: Path) -> None:
    """The next cell's request goes out only once the runner has received the current cell's reply and idle (all
    its outputs come before): a kernel that dies as soon as a cell starts takes nothing of the cell before with it.
    Sent earlier, 4 of 12 such runs blamed the cell before and could lose its last outputs."""
    nb = write_notebook(tmp_path / "nb.ipynb", [
        ("n = 1", ["parameters"]),
        "for i in range(3):\n    print('line', i, flush=True)\n'last value'",
        "import os\nos._exit(1)",
        "print('never')",
    ])
    store = Store(tmp_path / "home")
    with ForkKernels(PoolOptions(size=1)) as kernels:
        records = [execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=kernels) for _ in range(6)]
    for record in records:
        assert (record.status, record.error["ename"], record.error["cell"]) == ("failed", "DeadKernelError", 4)
        code = [c for c in nbformat.read(record.output_notebook, as_version=4).cells if c.cell_type == "code"]
        before = code[2]  # after the parameters and the injected cell
        assert "".join(o.text for o in before.outputs if o.output_type == "stream") == "line 0\nline 1\nline 2\n"
        assert before.outputs[-1].data["text/plain"] == "'last value'" and before.execution_count is not None
        assert code[4].outputs == []
