"""A fork template fills its warm imports' first-use caches (numpy, pandas, matplotlib) on made-up data before it
forks, and lists the kernel's module files once: a forked kernel still sees exactly the library state
a kernel started by ``ipykernel_launcher`` sees (pandas options, matplotlib rcParams, warnings filters
and registries, nothing in the namespace), its own random streams, and a debugger module list that
is what its kernel would have listed itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.forkserver import WARM_MIN_KERNELS, ForkedProcess, ForkKernels, fork_supported
from livedocs_runner.kernels import KernelRequest
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions
from livedocs_runner.records.store import Store

from .conftest import write_notebook
from .test_isolation import Recording
from .test_kernel_prebuilt import Launcher

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(not fork_supported(), reason="needs Linux fork + pidfd")]

OPTIONS = RunOptions(report=False, use_cache=False)

IMPORTS = ("import numpy as np\nimport pandas as pd\nimport matplotlib\nimport matplotlib.pyplot as plt\n"
           "import warnings, random, sys")

PROBE = """\
from livedocs_runner import record
from pandas._config.config import _registered_options

with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # reading a deprecated option warns
    options = {key: repr(pd.get_option(key)) for key in sorted(_registered_options)}

def registry_keys(module):
    return sorted(str(key) for key in getattr(module, '__warningregistry__', {}) if key != 'version')

ip = get_ipython()
kernel = ip.kernel
files = [m.__file__ for m in sys.modules.copy().values() if hasattr(m, '__file__') and m.__file__]
record('state', {
    'pandas_options': options,
    'rcparams': {key: repr(value) for key, value in sorted(matplotlib.rcParams.items())},
    'filters': [(f[0], getattr(f[1], 'pattern', f[1]), f[2].__name__, getattr(f[3], 'pattern', f[3]), f[4])
                for f in warnings.filters],
    'registries': {name: registry_keys(sys.modules[name]) for name in sorted(sys.modules)
                   if name.split('.')[0] in ('numpy', 'pandas') and registry_keys(sys.modules[name])},
    'user_ns': sorted(name for name in ip.user_ns if not name.startswith('_')),
    'outputs': [len(Out), ip.execution_count],
    'np_random': [float(x) for x in np.random.random(3)],
    'random': [random.random() for _ in range(3)],
    'seeded': float(np.random.RandomState(7).random()),
    'kernel_modules_prefix': kernel._kernel_modules == files[:len(kernel._kernel_modules)],
    'kernel_modules_len': len(kernel._kernel_modules),
    'debugger_shares_list': getattr(getattr(kernel, 'debugger', None), 'kernel_modules', kernel._kernel_modules)
                            is kernel._kernel_modules,
    'warm_modules': sorted(name for name in sys.modules if 'forkwarm' in name),
    'module_names': [ip._sys_modules_keys <= set(sys.modules), len(ip._sys_modules_keys),
                     all(name in ip._sys_modules_keys for name in ('numpy', 'ipykernel.ipkernel', '__main__'))],
    'imported_by_cells': sorted(set(sys.modules) - ip._sys_modules_keys),
})
"""

# what a user's first use of a warmed library does: a warning a fresh kernel shows must show here too
FIRST_USE = """\
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('default')
    frame = pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})
    frame.groupby('b').sum()
    warnings.warn('first use', UserWarning)
record('warned', [str(w.message) for w in caught])
record('wide', [pd.DataFrame([range(30)])._repr_html_().count('<th>'), len(repr(pd.DataFrame([range(30)])))])
"""


FIGURE = """\
fig, ax = plt.subplots(figsize=(5, 3))
ax.hist([0.01 * (i % 97) for i in range(1000)], bins=30, color="#4c72b0")
ax.axvline(0.5, color="#c44e52", linestyle="--", label="threshold 0.50")
ax.set_xlabel("Predicted probability")
ax.legend()
plt.show()
"""


def probe(tmp_path: Path, kernels: Any, runs: int) -> list[dict[str, Any]]:
    nb = write_notebook(tmp_path / "nb" / "firstuse.ipynb", [IMPORTS, PROBE, FIRST_USE, FIGURE])
    store = Store(tmp_path / "home")
    records = [execute_run(plan_runs(nb)[0], store, options=OPTIONS, kernels=kernels) for _ in range(runs)]
    assert [r.status for r in records] == ["succeeded"] * runs, [r.error for r in records]
    figures = [[o.data["image/png"] for o in nbformat.read(r.output_notebook, as_version=4).cells[-1].outputs
                if "image/png" in o.get("data", {})] for r in records]
    return [dict(r.metrics["state"], warned=r.metrics["warned"], wide=r.metrics["wide"], figure=figure)
            for r, figure in zip(records, figures)]


def test_warmed_libraries_look_as_in_a_fresh_kernel_and_streams_stay_distinct(tmp_path: Path) -> None:
    with ForkKernels(PoolOptions(size=1)) as kernels:
        source = Recording(kernels)
        forked = probe(tmp_path / "forked", source, 2)
        [info] = kernels.server.template_info()
    assert info["warmed"] == ["numpy", "pandas", "matplotlib"], info
    assert "modules" in info["prebuilt"], info.get("prebuild_error")
    assert all(isinstance(p, ForkedProcess) for p in source.processes)  # not a fallback start
    [fresh] = probe(tmp_path / "fresh", Launcher(), 1)

    same = ("pandas_options", "rcparams", "registries", "user_ns", "outputs", "seeded", "warm_modules",
            "warned", "wide", "figure")
    for state in forked:
        assert {key: state[key] for key in same} == {key: fresh[key] for key in same}
        # the same filters; only message-specific "ignore" filters added by imports (numpy's, trio's) come in
        # another order, as the template imported them before the kernel's own
        assert sorted(map(repr, state["filters"])) == sorted(map(repr, fresh["filters"]))
        assert [f for f in state["filters"] if f[1] is None] == [f for f in fresh["filters"] if f[1] is None]
    assert forked[0]["warm_modules"] == []  # the warm-up code is loaded by path, never imported
    assert forked[0]["warned"] == ["first use"]
    assert len(forked[0]["figure"]) == 1  # the same inline PNG, byte for byte, as a fresh kernel draws
    # every kernel has its own unseeded random state, as a fresh kernel has
    assert forked[0]["np_random"] != forked[1]["np_random"]
    assert forked[0]["random"] != forked[1]["random"]
    # the kernel's module list is the one it would have built: every module loaded when it was built, in order
    for state in forked:  # (in a fresh kernel __main__ is replaced by the user's module later: not a prefix)
        assert state["kernel_modules_prefix"] and state["debugger_shares_list"]
        # the module names IPython keeps for `%reset -a`: those of the kernel when it was built, no more
        assert state["module_names"][0] and state["module_names"][2], state["module_names"]
        assert set(state["imported_by_cells"]) <= set(fresh["imported_by_cells"])  # e.g. numpy: in the fresh kernel
    assert forked[0]["kernel_modules_len"] > fresh["kernel_modules_len"] > 100  # the template had pandas loaded


def test_a_small_batch_does_not_pay_for_warming(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "nb" / "small.ipynb", [IMPORTS])
    plan = plan_runs(nb)[0]
    request = KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports)
    with ForkKernels(PoolOptions(size=1)) as kernels:
        kernels.expect(request, WARM_MIN_KERNELS - 1)
        record = execute_run(plan, Store(tmp_path / "home"), options=OPTIONS, kernels=kernels)
        [info] = kernels.server.template_info()
    assert record.status == "succeeded", record.error
    assert info["warmed"] == [] and "modules" in info["prebuilt"]
