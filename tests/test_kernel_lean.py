"""A forked kernel skips per-run work nobody reads (``_forkwarm.py``: debug log records no handler writes,
an ``inspect.signature`` per request, the startup folder's glob patterns compiled per kernel) and stays the
same kernel: what its logger writes, the ``cell_id`` IPython's events see, startup files and outputs match
a kernel started by ``ipykernel_launcher``; a profile that asks for DEBUG logging still gets it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from livedocs_runner.execute import execute_run
from livedocs_runner.forkserver import ForkedProcess, ForkKernels, fork_supported
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions
from livedocs_runner.records.store import Store

from .conftest import write_notebook
from .test_isolation import Recording
from .test_kernel_prebuilt import OPTIONS, Launcher

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")]

HOOK = """\
seen = []
get_ipython().events.register('pre_run_cell', lambda info: seen.append(info.cell_id))
"""

LOOK = """\
import inspect, logging
from livedocs_runner import record
from ipykernel import ipkernel
log = get_ipython().kernel.log
shell = get_ipython()
record('facts', {
    'debug': log.isEnabledFor(logging.DEBUG), 'info': log.isEnabledFor(logging.INFO),
    'warning': log.isEnabledFor(logging.WARNING),
    'handlers': [h.level for h in log.handlers], 'same_log': get_ipython().log is log,
    'accepts': ipkernel._accepts_parameters(shell.run_cell_async, ['cell_id', 'cell_meta']),
    'accepts_twice': ipkernel._accepts_parameters(shell.run_cell_async, ['cell_id', 'cell_meta']),
    'accepts_function': ipkernel._accepts_parameters(lambda code, *, cell_id=None: None, ['cell_id', 'cell_meta']),
    'signature': sorted(inspect.signature(shell.run_cell_async).parameters),
    'cell_ids': seen,
    'written': written(log),
})
"""

# a DEBUG handler added by the notebook gets the debug records, as in a fresh kernel
WRITTEN = """\
import logging

def written(log):
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    log.addHandler(handler)
    try:
        enabled = log.isEnabledFor(logging.DEBUG)
        log.debug('one %s', 1)
        log.info('two')
    finally:
        log.removeHandler(handler)
    return [enabled, [r.getMessage() for r in records], log.isEnabledFor(logging.DEBUG)]
"""


def run_both(tmp_path: Path, nb: Path) -> tuple[dict, dict, dict]:
    """The recorded facts in a forked kernel and in a fresh ``ipykernel_launcher`` one, and the template's info."""
    store = Store(tmp_path / "home")
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        forked = execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=source)
        [info] = kernels.server.template_info()
    assert isinstance(source.processes[0], ForkedProcess)
    fresh = execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=Launcher())
    assert forked.status == fresh.status == "succeeded", (forked.error, fresh.error)
    assert [len(nbformat.read(r.output_notebook, as_version=4).cells) for r in (forked, fresh)] == [3, 3]
    return forked.metrics["facts"], fresh.metrics["facts"], info


def test_forked_kernel_skips_unread_work_and_behaves_like_a_fresh_one(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "lean.ipynb", [HOOK + WRITTEN, "x = 1", LOOK])
    forked, fresh, info = run_both(tmp_path, nb)
    assert info["lightened"] == ["startup_globs", "signature_checks", "log_records", "transform_once"]
    # no debug record is made in the forked kernel while no handler takes it; what the handlers write is the same
    assert fresh["debug"] is True and forked["debug"] is False and forked["info"] is False
    assert forked["warning"] is fresh["warning"] is True
    assert forked["handlers"] == fresh["handlers"] == [30]
    assert fresh["written"] == [True, ["one 1", "two"], True]
    assert forked["written"] == [True, ["one 1", "two"], False]  # and none once that handler is gone
    for key in ("accepts", "accepts_twice", "accepts_function", "signature", "cell_ids", "same_log"):
        assert forked[key] == fresh[key], key
    assert forked["accepts"] == {"cell_id": True, "cell_meta": True}
    assert forked["accepts_function"] == {"cell_id": True, "cell_meta": False}


TRANSFORMED = [
    "seen = []\nget_ipython().input_transformers_post.append(lambda lines: seen.append(1) or lines)",
    "%time y = 1",  # a magic: transformed
    "import asyncio\nawait asyncio.sleep(0)\nz = 2",  # top-level await: the async path, which transforms once
    "print(get_ipython().transform_cell('!echo hi'))\n"
    "print(get_ipython().should_run_async('await x', transformed_cell='await x'))",
    "  x = 3",  # leading indentation, removed by a transformer
    ("def f(:\n    pass", ["raises-exception"]),  # does not compile
    "%%capture captured\nprint('inside')",  # a cell magic
    "from livedocs_runner import record\nrecord('values', [y, z, x, captured.stdout])\nrecord('transforms', len(seen))",
]


def test_a_cell_is_transformed_once_and_runs_as_in_a_fresh_kernel(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "transformed.ipynb", TRANSFORMED)
    store = Store(tmp_path / "home")
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        runs = [execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=source) for _ in range(2)]
        [info] = kernels.server.template_info()
    assert "transform_once" in info["lightened"] and isinstance(source.processes[-1], ForkedProcess)
    fresh = execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=Launcher())
    for record in (*runs, fresh):
        assert record.status == "succeeded", record.error
        assert record.metrics["values"] == [1, 2, 3, "inside\n"]
    # a forked kernel transforms each of the six requests after the first that take ipykernel's synchronous path
    # once, not twice (the cell with top-level await is transformed once anyway; magics' own calls are unchanged)
    forked, again, fresh_count = (r.metrics["transforms"] for r in (*runs, fresh))
    assert forked == again and fresh_count - forked == 6
    cells = [nbformat.read(r.output_notebook, as_version=4).cells for r in (*runs, fresh)]
    # (the second and third cells' outputs hold timings)
    shown = [[[(o.output_type, o.get("text"), o.get("ename")) for o in c.outputs] for c in run[3:]] for run in cells]
    assert shown[0] == shown[1] == shown[2]
    assert shown[0][0] == [("stream", "get_ipython().system('echo hi')\n\nTrue\n", None)]
    assert shown[0][2] == [("error", None, "SyntaxError")]


def test_a_profile_that_logs_debug_still_gets_every_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text("c.IPKernelApp.log_level = 'DEBUG'\n", encoding="utf-8")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    nb = write_notebook(tmp_path / "nb" / "debug.ipynb", [HOOK + WRITTEN, "x = 1", LOOK])
    forked, fresh, info = run_both(tmp_path, nb)
    assert "log_records" in info["lightened"]
    assert forked["debug"] is fresh["debug"] is True and forked["info"] is True
    assert forked["written"] == fresh["written"] == [True, ["one 1", "two"], True]
    assert forked["handlers"] == fresh["handlers"] == [10]


FD_CELLS = 120  # ipykernel's own 0.5 ms sleep lost ~1 % of these (measured 2 in 300); without it, ~20 %


SWAP_WAIT_CHANNELS = """\
with open('fake_wchan', 'w') as fake:
    fake.write('anon_pipe_read')
swapped = 0
for name in os.listdir('/proc/self/fd'):
    try:
        target = os.readlink(f'/proc/self/fd/{name}')
    except OSError:
        continue
    if target.endswith('/wchan'):
        fd = int(name)
        os.close(fd)
        other = os.open('fake_wchan', os.O_RDONLY)
        if other != fd:
            os.dup2(other, fd)
            os.close(other)
        swapped += 1
print('swapped', swapped)
_ = os.write(1, b'after the swap\\n')"""


def test_what_a_cell_writes_to_fds_1_and_2_as_it_ends_reaches_that_cells_output(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """ipykernel forwards fd output through a pipe and a thread with nothing tying that thread to the end of a
    cell; a forked kernel waits for the thread to pass everything on (``_forklean.CellEndDrain``) instead of
    sleeping before each reply. Nothing of the mark it uses shows, and a cell that points fd 1 elsewhere gets none."""
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # ipykernel captures no fd output in a kernel that has it
    cells = [f"import os\n_ = os.write({1 + i % 2}, b'cell {i}\\n')" for i in range(FD_CELLS)]
    cells += [
        "import subprocess\n_ = subprocess.run(['echo', 'from a subprocess'], check=True)",
        "_ = os.write(1, b'almost a mark: \\0livedocs-cell-end-')",  # held back by the watcher until the next read
        "f = open('captured.txt', 'wb')\nsaved = os.dup(1)\nos.dup2(f.fileno(), 1)\n_ = os.write(1, b'into the file\\n')",
        "_ = os.dup2(saved, 1)\nf.close()\nprint(open('captured.txt', 'rb').read())",
        SWAP_WAIT_CHANNELS,  # the kernel's open wait-channel files replaced by the cell's own: it falls back
        "_ = os.write(1, b'next cell\\n')",
        "import threading\nk = get_ipython().kernel\n"
        "print(sorted(t.name for t in threading.enumerate()), k._execute_sleep, k._supports_kernel_subshells)",
    ]
    nb = write_notebook(tmp_path / "nb" / "fds.ipynb", cells)
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        record = execute_run(plan_runs(nb)[0], Store(tmp_path / "home"), options=OPTIONS, kernels=source)
    assert record.status == "succeeded", record.error
    assert isinstance(source.processes[0], ForkedProcess)
    cells_out = nbformat.read(record.output_notebook, as_version=4).cells
    # each cell's stream text by stream (one write may come as more than one stream output; frontends join them)
    outputs = [{name: "".join(o.text for o in cell.outputs if o.get("name") == name) for name in ("stdout", "stderr")}
               for cell in cells_out]
    assert all(o.output_type == "stream" for cell in cells_out for o in cell.outputs)
    missing = [i for i in range(FD_CELLS) if outputs[i] != {"stdout": f"cell {i}\n" if i % 2 == 0 else "",
                                                           "stderr": f"cell {i}\n" if i % 2 else ""}]
    assert missing == [], f"{len(missing)} of {FD_CELLS} cells lost their fd output: {missing[:10]}"
    subprocess_out, almost, into_file, read_back, swapped, after_swap, facts = outputs[FD_CELLS:]
    assert swapped["stdout"] == "swapped 2\nafter the swap\n" and after_swap["stdout"] == "next cell\n"
    assert subprocess_out["stdout"] == "from a subprocess\n"
    assert almost["stdout"] == "almost a mark: \0livedocs-cell-end-"
    assert into_file["stdout"] == "" and read_back["stdout"] == "b'into the file\\n'\n"
    threads, sleep, subshells = facts["stdout"].rsplit(" ", 2)
    assert "'Shell channel'" not in threads and "'IOPub'" in threads  # requests are read on the main thread
    assert (float(sleep), subshells.strip()) == (0.0, "False")
    assert not any(re.search(r"livedocs-cell-end-[0-9a-f]{16}", text) for cell in outputs for text in cell.values())


def test_a_cell_with_top_level_await_runs_in_a_forked_kernel(tmp_path: Path) -> None:
    """ipykernel 7 runs such a cell on its async path, which asks for the shell-channel thread a forked kernel does
    without: the request failed inside the kernel and got no reply, so the run hung until its time limit."""
    nb = write_notebook(tmp_path / "nb" / "await.ipynb", [
        "import asyncio\nawait asyncio.sleep(0)\nawaited = True",
        "from livedocs_runner import record\nk = get_ipython().kernel\n"
        "record('facts', [awaited, k._supports_kernel_subshells,\n"
        "                 'kernel subshells' in k.kernel_info['supported_features']])",
    ])
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        record = execute_run(plan_runs(nb)[0], Store(tmp_path / "home"), options=replace(OPTIONS, timeout=60),
                             kernels=source)
    assert isinstance(source.processes[0], ForkedProcess)
    assert record.status == "succeeded", record.error
    assert record.metrics["facts"] == [True, False, False]
