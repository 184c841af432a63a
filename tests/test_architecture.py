"""The dependency direction of STYLE.md: the core never loads the UI or CLI libraries, and a kernel
importing ``record`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import livedocs_runner

CORE = ["errors", "params", "inference", "schema", "yamlfile", "notebook", "scenarios", "plan", "inject", "execute", "kernels",
        "batch", "records.store", "records.environments", "records.verdicts", "outputs", "report", "compare",
        "provenance", "recording", "plain", "cells", "results", "result_format", "access", "auth", "home", "retry",
        "records.query", "records.record", "records.access_log", "inject_r", "inference_r", "patterns",
        "records.queue", "records.queue_methods", "records.dialect", "eventloops", "prepare", "worker", "submit", "jobs", "outcomes", "_wire"]


def loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_core_does_not_load_ui_or_cli_libraries() -> None:
    imports = "\n".join(f"import livedocs_runner.{m}" for m in CORE)
    modules = top_level(loaded_after(f"import livedocs_runner\n{imports}\nimport livedocs_runner.forms"))
    assert {"streamlit", "click", "typer", "rich"} & modules == set()
    assert "livedocs_runner.cli" not in loaded_after(f"import livedocs_runner\n{imports}")


def test_public_api_does_not_load_the_cli() -> None:
    names = ", ".join(n for n in livedocs_runner.__all__ if n != "__version__")
    modules = loaded_after(f"from livedocs_runner import {names}")
    assert {"streamlit", "click"} & top_level(modules) == set()
    assert not any(m.startswith("livedocs_runner.cli") for m in modules)


@pytest.mark.parametrize("module", ["nbdime", "jinja2", "regex", "zipfile", "nbconvert", "nbclient", "zmq"])
def test_cli_start_up_does_not_load_what_only_some_commands_need(module: str) -> None:
    """nbdime is for ``diff``, jinja2/zipfile for reports and audit bundles, regex for patterns, nbclient/zmq for
    execution: every command (a cache hit above all) starts without them."""
    assert module not in top_level(loaded_after("import livedocs_runner.cli"))


def test_record_import_is_light() -> None:
    modules = top_level(loaded_after("from livedocs_runner import record"))
    assert {"nbconvert", "nbclient", "nbformat", "pandas", "numpy", "yaml", "jupyter_client", "IPython",
            "papermill", "sqlite3"} & modules == set()


@pytest.mark.parametrize("name", livedocs_runner.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(livedocs_runner, name) is not None


def test_dir_and_unknown_attribute() -> None:
    assert set(dir(livedocs_runner)) == set(livedocs_runner.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        livedocs_runner.nope  # noqa: B018


def test_errors_are_picklable_with_their_fields() -> None:
    import pickle

    from livedocs_runner.errors import ParameterError, RunFailed
    err = ParameterError("bad 'x'.", hint="fix it")
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.message, again.hint, again.exit_code, str(again)) == (
        ParameterError, "bad 'x'.", "fix it", 2, "bad 'x'. fix it")
    assert pickle.loads(pickle.dumps(RunFailed("r"))).exit_code == 1


def test_cli_is_the_only_click_importer() -> None:
    from pathlib import Path
    package = Path(livedocs_runner.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if p.parent.name != "cli" and ("import click" in p.read_text() or "import streamlit" in p.read_text())]
    assert offenders == []


def test_planning_an_r_config_does_not_load_the_cli_library() -> None:
    """Checking an R plan's parameters needs no papermill (whose package loads click); only writing the cell
    for a run does, and that is where click shows up (the control at the end: this test can fail)."""
    from tests.conftest import REPO

    plan = f"""
import livedocs_runner
from livedocs_runner.errors import ConfigError, ParameterError
from livedocs_runner.execute import check_kernels
from livedocs_runner.inject_r import check_parameters
from livedocs_runner.plan import plan_runs
plans = plan_runs({str(REPO / "configs" / "credit_risk_r.yaml")!r})
assert plans and all(p.parameters for p in plans)
try:
    check_kernels(plans)
except ConfigError:  # no R kernel on this machine: the parameters are still checked
    pass
for p in plans:
    check_parameters(p.parameters, "R", p.kernel_name)
try:
    check_parameters({{"region": "caf\\u00e9"}}, "R", "ir")
except ParameterError:
    pass
else:
    raise AssertionError("a value R would misread was not refused")
"""
    modules = top_level(loaded_after(plan))
    assert {"click", "papermill", "streamlit"} & modules == set()
    written = top_level(loaded_after(plan + "\nfrom livedocs_runner.inject import injected_source\n"
                                            "injected_source(plans[0].parameters, 'R', 'ir')"))
    assert {"click", "papermill"} <= written
