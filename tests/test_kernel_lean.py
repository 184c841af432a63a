"""A forked kernel skips per-run work nobody reads (``_forkwarm.py``: debug log records no handler writes,
an ``inspect.signature`` per request, the startup folder's glob patterns compiled per kernel) and stays the
same kernel: what its logger writes, the ``cell_id`` IPython's events see, startup files and outputs match
a kernel started by ``ipykernel_launcher``; a profile that asks for DEBUG logging still gets it."""

from __future__ import annotations

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
    assert info["lightened"] == ["startup_globs", "signature_checks", "log_records"]
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
