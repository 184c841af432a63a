"""Forked kernels adopt the kernel application and IPython shell their template built before the fork,
and are indistinguishable from a fresh ``ipykernel_launcher`` kernel: the same namespace, ``%who``,
magics, formatters, environment variables IPython sets, streams, ``get_ipython().kernel``, profile
config, ``exec_lines`` and startup files (run in each kernel, never in the template). What one run does
to its shell is invisible to the next; ``sys.exit`` and tracebacks behave as usual."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.forkserver import ForkedProcess, ForkKernels, fork_supported
from livedocs_runner.kernels import FreshKernels, KernelRequest
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions, WarmPool
from livedocs_runner.records.store import Store

from .conftest import NOTEBOOKS, write_notebook
from .test_isolation import Recording

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")]

OPTIONS = RunOptions(report=False, use_cache=False)

PROBE = """\
import os, sys
from livedocs_runner import record
ip = get_ipython()
state = ip._orig_sys_module_state
record('facts', {
    'user_ns': sorted(ip.user_ns),
    'main_is_user_ns': sys.modules['__main__'] is ip.user_module and ip.user_module.__dict__ is ip.user_ns,
    'kernel': [type(ip.kernel).__module__, type(ip.kernel).__name__, ip.kernel.shell is ip, ip.parent is ip.kernel,
               ip.kernel.iopub_thread.thread.is_alive()],
    'shell': [type(ip).__module__, type(ip).__name__, type(ip.compile).__name__, ip.execution_count, len(In)],
    'env': {k: os.environ.get(k) for k in ('TERM', 'CLICOLOR', 'PAGER', 'GIT_PAGER', 'LIVEDOCS_PROBE')},
    'streams': [type(sys.stdout).__name__, state['stdout'] is sys.stdout, state['stderr'] is sys.stderr,
                getattr(sys.excepthook, '__qualname__', None)],
    'magics': {kind: sorted(table) for kind, table in ip.magics_manager.magics.items()},
    'formatters': sorted(ip.display_formatter.active_types),
    'extensions': sorted(ip.extension_manager.loaded),
    'events': {name: len(callbacks) for name, callbacks in ip.events.callbacks.items()},
    'config': [ip.ast_node_interactivity, ip.display_formatter.formatters['text/plain'].max_seq_length],
    'startup': [globals().get('STARTUP_DONE'), globals().get('EXEC_LINE_PID') == os.getpid()],
    'cwd': os.getcwd(),
    'sys_path0': sys.path[0],
    'tempdir': __import__('tempfile').gettempdir(),
    'session': [ip.kernel.session.pid == os.getpid(), len(ip.kernel.session.session),
                ip.kernel.session.bsession == ip.kernel.session.session.encode(), ip.kernel.session.message_count > 0],
})
record('session_id', ip.kernel.session.session)
"""

POLLUTE = """\
from IPython.core.magic import register_line_magic
ip.user_ns_hidden['leaked_hidden'] = 1
register_line_magic(lambda line: line)
ip.events.register('post_run_cell', lambda result: None)
ip.run_line_magic('config', 'PlainTextFormatter.max_seq_length = 3')
ip.ast_node_interactivity = 'none'
ip.display_formatter.formatters['image/png'].enabled = False
ip.extension_manager.load_extension('autoreload')
os.environ['PAGER'] = 'less'
type(ip).leaked_attribute = True
sys.modules['__main__'].leaked_global = 1
"""


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An IPython profile with kernel config, exec_lines and a startup file that logs the pid it runs in."""
    ipython_dir = tmp_path / "ipython"
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (ipython_dir / "profile_default" / "ipython_kernel_config.py").write_text(
        "c.InteractiveShell.ast_node_interactivity = 'last_expr_or_assign'\n"
        "c.InteractiveShellApp.exec_lines = ['import os as _os; EXEC_LINE_PID = _os.getpid()']\n", encoding="utf-8")
    log = tmp_path / "startup.log"
    (startup / "00-mark.py").write_text(
        "import os\n"
        "with open(os.environ['LIVEDOCS_STARTUP_LOG'], 'a') as handle:\n"
        "    handle.write(f'{os.getpid()}\\n')\n"
        "STARTUP_DONE = True\n", encoding="utf-8")
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))
    monkeypatch.setenv("LIVEDOCS_STARTUP_LOG", str(log))
    monkeypatch.setenv("LIVEDOCS_PROBE", "from the runner")
    monkeypatch.delenv("PAGER", raising=False)
    return log




class Launcher(FreshKernels):
    """A kernel exactly as ``python -m ipykernel_launcher`` starts it: no warm imports run in it."""

    def acquire(self, request: KernelRequest) -> Any:
        return super().acquire(dataclasses.replace(request, warm_imports=()))


def probe_runs(tmp_path: Path, kernels: Any, runs: int) -> list[Any]:
    nb = write_notebook(tmp_path / "nb" / "probe.ipynb", ["%who", PROBE, POLLUTE])
    store = Store(tmp_path / "home")
    records = [execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=kernels) for _ in range(runs)]
    assert [r.status for r in records] == ["succeeded"] * runs, [r.error for r in records]
    for record in records:
        first = nbformat.read(record.output_notebook, as_version=4).cells[0].outputs
        assert "".join(o.get("text", "") for o in first) == "Interactive namespace is empty.\n"  # %who
    return records


def test_a_forked_kernel_looks_like_a_fresh_one_and_a_run_changes_nothing_for_the_next(tmp_path: Path,
                                                                                       profile: Path) -> None:
    with ForkKernels(PoolOptions(size=1)) as kernels:
        forked_source = Recording(kernels)
        forked = probe_runs(tmp_path / "forked", forked_source, 2)
        [info] = kernels.server.template_info()
    assert info["prebuilt"] == ["app", "modules", "shell"], info.get("prebuild_error")
    assert all(isinstance(p, ForkedProcess) for p in forked_source.processes)  # not a fallback start
    fresh_source = Recording(Launcher())
    [fresh] = probe_runs(tmp_path / "fresh", fresh_source, 1)
    with WarmPool(PoolOptions(size=1)) as pool:  # fresh kernels that ran the warm imports: no names bound
        warm_source = Recording(pool)
        [warm] = probe_runs(tmp_path / "warm", warm_source, 1)

    facts = [r.metrics["facts"] for r in forked]
    assert facts[0] == facts[1]  # the first run's changes to its shell, namespace and environment did not carry over
    pid_is_own, _, bytes_match, sent = facts[0]["session"]  # the template's session, with the kernel's own pid and id
    assert pid_is_own and bytes_match and sent
    assert len({r.metrics["session_id"] for r in [*forked, fresh]}) == 3
    expected = dict(fresh.metrics["facts"], cwd=facts[0]["cwd"], sys_path0=facts[0]["sys_path0"])
    assert facts[0] == expected  # the same as a kernel started by ipykernel_launcher
    assert dict(warm.metrics["facts"], cwd=facts[0]["cwd"], sys_path0=facts[0]["sys_path0"]) == expected
    assert Path(facts[0]["cwd"]).name == "nb" and Path(fresh.metrics["facts"]["cwd"]).name == "nb"
    assert facts[0]["env"] == {"TERM": "xterm-color", "CLICOLOR": "1", "PAGER": "cat", "GIT_PAGER": "cat",
                               "LIVEDOCS_PROBE": "from the runner"}
    assert facts[0]["kernel"] == ["ipykernel.ipkernel", "IPythonKernel", True, True, True]
    assert facts[0]["config"] == ["last_expr_or_assign", 1000]  # the profile's kernel config applies
    assert facts[0]["startup"] == [True, True]  # startup file and exec_lines ran, in the kernel itself
    assert "STARTUP_DONE" in facts[0]["user_ns"] and "image/png" in facts[0]["formatters"]
    # the startup file ran once in each kernel (the pool may have warmed one more), never in the template
    ran_in = [int(line) for line in profile.read_text().split()]
    assert len(ran_in) == len(set(ran_in))
    assert {p.pid for p in forked_source.processes + fresh_source.processes + warm_source.processes} <= set(ran_in)
    assert info["pid"] not in ran_in


@pytest.mark.parametrize(("notebook", "overrides", "status", "ename"), [
    ("sysexit0.ipynb", {"how": "zero"}, "succeeded", None),
    ("sysexit1.ipynb", {}, "failed", "SystemExit"),
    ("broken.ipynb", {}, "failed", "ZeroDivisionError"),
])
def test_exits_and_tracebacks_in_a_forked_kernel(tmp_path: Path, notebook: str, overrides: dict[str, str],
                                                 status: str, ename: str | None) -> None:
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        record = execute_run(plan_runs(NOTEBOOKS / notebook, overrides=overrides)[0], Store(tmp_path / "home"),
                             options=OPTIONS, kernels=source)
    assert isinstance(source.processes[0], ForkedProcess)
    assert record.status == status, record.error
    if ename is None:
        assert record.error is None and record.metrics == {"before": 1}  # the cell after sys.exit(0) never ran
        return
    assert record.error["ename"] == ename
    if ename == "ZeroDivisionError":
        assert "1 / divisor" in record.error["traceback"] and "Cell In[" in record.error["traceback"]
        cells = nbformat.read(record.output_notebook, as_version=4).cells
        assert [o["ename"] for o in cells[record.error["cell"] - 1].outputs if o["output_type"] == "error"] == ["ZeroDivisionError"]


ORDERED = """\
import sys
from IPython.display import HTML, display
print("one")
display(HTML("<b>two</b>"))
print("three", file=sys.stderr)
sys.stderr.flush()
print("four")
sys.stdout.flush()
sys.stdout.flush()
print("five", end="")
"six"
"""


def test_outputs_keep_their_order_as_in_a_fresh_kernel(tmp_path: Path) -> None:
    # a forked kernel skips flush round trips with nothing to send; what reaches the notebook is unchanged
    nb = write_notebook(tmp_path / "nb" / "ordered.ipynb", [ORDERED, "print('seven')\n1 / 0"])
    seen = []
    for kernels in (ForkKernels(PoolOptions(size=1)), Launcher()):
        record = execute_run(plan_runs(nb)[0], Store(tmp_path / "home"), options=OPTIONS, kernels=kernels)
        getattr(kernels, "close", lambda: None)()
        assert record.status == "failed" and record.error["ename"] == "ZeroDivisionError"
        cells = nbformat.read(record.output_notebook, as_version=4).cells
        seen.append([[(o.output_type, o.get("name"), o.get("text") or sorted(o.get("data", {})) or o.get("ename"))
                      for o in cell.outputs] for cell in cells])
    forked, fresh = seen
    assert forked == fresh
    assert forked[0] == [("stream", "stdout", "one\n"), ("display_data", None, ["text/html", "text/plain"]),
                         ("stream", "stderr", "three\n"), ("stream", "stdout", "four\n"),
                         ("stream", "stdout", "five"), ("execute_result", None, ["text/plain"])]
    assert forked[1] == [("stream", "stdout", "seven\n"), ("error", None, "ZeroDivisionError")]


def test_config_nested_under_the_kernel_still_reaches_the_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a shell built under the application would miss `IPythonKernel.InteractiveShell...`: the template
    # then prebuilds the application only, and the kernel builds its own shell, as a fresh one does
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        "c.IPythonKernel.InteractiveShell.ast_node_interactivity = 'all'\n", encoding="utf-8")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    nb = write_notebook(tmp_path / "nb" / "nested.ipynb", [
        "from livedocs_runner import record\nrecord('interactivity', get_ipython().ast_node_interactivity)"])
    seen = []
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        seen.append(execute_run(plan_runs(nb)[0], Store(tmp_path / "home"), options=OPTIONS, kernels=source))
        [info] = kernels.server.template_info()
    seen.append(execute_run(plan_runs(nb)[0], Store(tmp_path / "home"), options=OPTIONS, kernels=Launcher()))
    assert info["prebuilt"] == ["app", "modules"] and info["prebuild_error"] is None
    assert isinstance(source.processes[0], ForkedProcess)
    assert [r.metrics for r in seen] == [{"interactivity": "all"}] * 2, [r.error for r in seen]
