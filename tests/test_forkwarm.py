"""``_forkwarm.py``, what a fork template prepares for its kernels, in this process: warming numpy,
pandas and matplotlib changes no global state a run could see; the module-file snapshot gives the list a kernel
would build; pandas' kernel-dependent defaults are set as an import in a kernel sets them, and an
option already changed is left alone. (In real forked kernels: tests/test_kernel_firstuse.py.)"""

from __future__ import annotations

import copy
import importlib
import os
import random
import runpy
import sys
import threading
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pandas._config import config as pandas_config

FORKWARM = runpy.run_path(str(Path(__file__).parents[1] / "livedocs_runner" / "_forkwarm.py"))


def pandas_state() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {key: repr(pd.get_option(key)) for key in sorted(pandas_config._registered_options)}


def visible_state() -> dict[str, Any]:
    import matplotlib
    import matplotlib.pyplot as plt

    return {"rcparams": repr(sorted(matplotlib.rcParams.items())), "figures": plt.get_fignums(),
            "np_random": repr(np.random.get_state()), "random": random.getstate(), "pandas": pandas_state(),
            "filters": list(warnings.filters), "env": dict(os.environ), "cwd": os.getcwd(),
            "threads": threading.active_count(), "os_threads": len(os.listdir("/proc/self/task")),
            "registries": {name: dict(getattr(module, "__warningregistry__", {})) for name, module in
                           list(sys.modules.items()) if name.split(".")[0] in ("numpy", "pandas")}}


def test_warming_changes_no_state_a_run_could_see() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    before = visible_state()
    ns_before = dict(shell.user_ns)
    warmed = FORKWARM["warm_first_use"](["numpy", "pandas.io", "json", "matplotlib.pyplot"], shell)
    assert warmed == ["numpy", "pandas", "matplotlib"]
    after = visible_state()
    # the registries' "version" may change (catch_warnings resets them all); no warning key was added
    for state in (before, after):
        state["registries"] = {name: keys for name, reg in state["registries"].items()
                               if (keys := sorted(map(str, (k for k in reg if k != "version"))))}
    assert after == before
    assert dict(shell.user_ns) == ns_before  # reprs made through the formatter, never the displayhook


def test_a_library_that_fails_to_warm_is_skipped() -> None:
    calls: list[str] = []

    def broken(shell: Any) -> None:
        calls.append("broken")
        raise ValueError("another version")

    warm = FORKWARM["warm_first_use"]
    namespace = warm.__globals__  # the module namespace the function reads WARMERS from
    warmers = namespace["WARMERS"]
    try:
        namespace["WARMERS"] = (("numpy", broken),)
        assert warm(["numpy"]) == [] and calls == ["broken"]
        assert warm(["not_imported_anywhere"]) == []
    finally:
        namespace["WARMERS"] = warmers


def test_module_files_add_only_what_was_imported_since(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("livedocs_probe_zero", "livedocs_probe_one", "livedocs_probe_two")
    for name in names:
        (tmp_path / f"{name}.py").write_text("X = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("livedocs_probe_zero")
    snapshot = FORKWARM["ModuleFiles"]()
    assert snapshot.since() == []
    importlib.import_module("livedocs_probe_one")
    importlib.import_module("livedocs_probe_two")
    try:
        assert snapshot.since() == [str(tmp_path / "livedocs_probe_one.py"), str(tmp_path / "livedocs_probe_two.py")]
        # what IPythonKernel.__init__ lists, in its order
        expected = [m.__file__ for m in sys.modules.copy().values() if hasattr(m, "__file__") and m.__file__]
        assert snapshot.files + snapshot.since() == expected
        sys.modules.pop("livedocs_probe_one")  # one of those imported since: still only additions
        assert snapshot.since() == [str(tmp_path / "livedocs_probe_two.py")]
        sys.modules.pop("livedocs_probe_zero")  # one the snapshot listed
        assert snapshot.since() is None  # not only additions: the kernel lists them itself
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_the_modules_view_answers_copy_and_keys_and_forwards_everything_else() -> None:
    snapshot = FORKWARM["ModuleFiles"]()
    module = types.SimpleNamespace(sys=sys)
    argv = sys.argv
    with FORKWARM["_modules_view"](module, snapshot) as view:
        assert module.sys is not sys and module.sys.modules.copy() == {} and view.added == []
        assert list(module.sys.modules.keys()) == [] and view.added == []
        assert module.sys.modules["os"] is os and "os" in module.sys.modules and module.sys.version == sys.version
        assert module.sys.modules.get("no such module") is None and len(module.sys.modules) == len(sys.modules)
        module.sys.argv = ["startup.py"]  # as shellapp does around a startup file: the real sys.argv
        assert sys.argv == ["startup.py"]
        module.sys.argv = argv
    assert module.sys is sys and sys.argv is argv
    without = types.SimpleNamespace()  # a module that does not use sys: nothing patched, nothing answered
    with FORKWARM["_modules_view"](without, snapshot) as view:
        assert not hasattr(without, "sys")
    assert view.added is None


@pytest.fixture
def pandas_defaults() -> Any:
    keys = ("display.max_columns", "display.encoding")
    saved = {key: (copy.copy(pandas_config._registered_options[key]), pd.get_option(key)) for key in keys}
    yield saved
    for key, (option, value) in saved.items():
        pandas_config._registered_options[key] = option
        pd.set_option(key, value)


def test_pandas_gets_the_defaults_an_import_in_a_kernel_gives(pandas_defaults: dict[str, Any]) -> None:
    # as pandas imported outside a kernel (the template) has them
    option = pandas_config._registered_options["display.max_columns"]
    pandas_config._registered_options["display.max_columns"] = option._replace(defval=0)
    pd.set_option("display.max_columns", 0)
    pd.set_option("display.encoding", pandas_config._registered_options["display.encoding"].defval)
    changed = FORKWARM["as_imported_in_a_kernel"]()
    assert "display.max_columns" in changed
    assert pd.get_option("display.max_columns") == 20
    pd.reset_option("display.max_columns")
    assert pd.get_option("display.max_columns") == 20  # the default too, as in a kernel


def test_an_option_already_changed_is_left_alone(pandas_defaults: dict[str, Any]) -> None:
    option = pandas_config._registered_options["display.max_columns"]
    pandas_config._registered_options["display.max_columns"] = option._replace(defval=0)
    pd.set_option("display.max_columns", 7)
    assert "display.max_columns" not in FORKWARM["as_imported_in_a_kernel"]()
    assert pd.get_option("display.max_columns") == 7
