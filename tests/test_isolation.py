"""Runs on the same pool share nothing: module state, ``sys.modules`` additions, the environment, the
working folder, random state (``random`` and ``numpy.random``) and open files of one run are invisible
to the next, for forked kernels (one template) and for a warm pool of fresh kernels alike. The forked
kernel is still a full Jupyter kernel: magics, rich display and figures work; its history is in memory
only (no SQLite history database)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.forkserver import ForkedProcess, ForkKernels, fork_supported
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions, WarmPool
from livedocs_runner.records.store import Store

from .conftest import write_notebook

pytestmark = pytest.mark.kernel

OPTIONS = RunOptions(report=False, use_cache=False)
SEED = 1234

LOOK = """\
import os, random, sys
import numpy as np
from livedocs_runner import record

def open_paths():
    paths = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            paths.append(os.readlink(f'/proc/self/fd/{fd}'))
        except OSError:
            pass
    return paths

record('seen', {
    'global': globals().get('LEAK'),
    'module_attr': getattr(np, '_livedocs_leak', None),
    'sys_modules': sorted(m for m in ('leaky_helper', 'livedocs_fake_module') if m in sys.modules),
    'env': os.environ.get('LIVEDOCS_LEAK'),
    'cwd': os.getcwd(),
    'open_files': sorted(p for p in open_paths() if p.endswith('leak.txt')),
    'random': random.random(),
    'np_random': float(np.random.rand()),
    'history_db': get_ipython().history_manager.enabled,
    'history_in_memory': len(In),
})
"""

LEAK = f"""\
import importlib
LEAK = marker
np._livedocs_leak = marker
importlib.import_module('leaky_helper')  # not a top-level import: not a warm import either
sys.modules['livedocs_fake_module'] = object()
os.environ['LIVEDOCS_LEAK'] = marker
os.makedirs('elsewhere', exist_ok=True)
os.chdir('elsewhere')
random.seed({SEED})
np.random.seed({SEED})
leak_handle = open('leak.txt', 'w')
leak_handle.write(marker)
leak_handle.flush()
"""

RICH = """\
%time squares = [i * i for i in range(10)]
from IPython.display import HTML, display
display(HTML('<b>rich</b>'))
import matplotlib.pyplot as plt
plt.plot(squares)
plt.show()
"""


class Recording:
    """Wraps a KernelSource and remembers every kernel process it hands out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.processes: list[Any] = []

    def acquire(self, request: Any) -> Any:
        km = self.inner.acquire(request)
        self.processes.append(km.provisioner.process)
        return km

    def release(self, km: Any) -> None:
        self.inner.release(km)


@pytest.fixture(params=["forked", "warm pool"])
def kernels(request: pytest.FixtureRequest) -> Any:
    if request.param == "forked" and not fork_supported():
        pytest.skip("needs Linux fork + pidfd")
    source = ForkKernels(PoolOptions(size=1)) if request.param == "forked" else WarmPool(PoolOptions(size=1))
    yield request.param, source
    source.close()


def test_nothing_one_run_does_is_visible_to_the_next(tmp_path: Path, kernels: tuple[str, Any]) -> None:
    kind, source = kernels
    folder = tmp_path / "nb"
    nb = write_notebook(folder / "leaky.ipynb", [('marker = "first"', ["parameters"]), LOOK, LEAK, RICH])
    (folder / "leaky_helper.py").write_text("STATE = []\n", encoding="utf-8")
    store = Store(tmp_path / "home")
    recording = Recording(source)
    records = [execute_run(plan_runs(nb, overrides={"marker": m})[0], store, options=OPTIONS, kernels=recording)
               for m in ("first", "second", "third")]
    assert [r.status for r in records] == ["succeeded"] * 3, [r.error for r in records]
    if kind == "forked":
        assert all(isinstance(p, ForkedProcess) for p in recording.processes)  # not a fallback start
    assert len({p.pid for p in recording.processes}) == 3
    seen = [r.metrics["seen"] for r in records]
    for run in seen:
        assert {k: run[k] for k in ("global", "module_attr", "sys_modules", "env", "open_files")} == {
            "global": None, "module_attr": None, "sys_modules": [], "env": None, "open_files": []}
        assert Path(run["cwd"]).resolve() == folder.resolve()
        assert run["random"] != random.Random(SEED).random()  # the previous run's seed did not carry over
        assert run["np_random"] != float(np.random.RandomState(SEED).rand())
        assert run["history_in_memory"] > 0  # In/Out work
        assert run["history_db"] is (kind != "forked")  # forked kernels write no SQLite history
    assert len({run["random"] for run in seen}) == 3 and len({run["np_random"] for run in seen}) == 3
    assert (folder / "elsewhere" / "leak.txt").read_text() == "third"  # the runs did write it

    output = json.loads(Path(records[-1].output_notebook).read_text())
    rich = output["cells"][-1]["outputs"]
    assert any("Wall time" in "".join(o.get("text", "")) for o in rich)  # %time
    assert any("text/html" in o.get("data", {}) for o in rich)  # display(HTML)
    assert any("image/png" in o.get("data", {}) for o in rich)  # an inline figure
    assert os.path.isdir(folder)
