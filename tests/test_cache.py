"""The result cache through the real CLI: a hit points at the original, --no-cache executes, changed
parameters or input files miss, and a hit never imports the execution machinery."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CLI, CONFIGS, DATA, CliResult, cli_env, run_records

pytestmark = pytest.mark.kernel


def one(result: CliResult) -> dict:
    assert result.code == 0, result.stderr
    [record] = result.json()
    return record


def test_hit_points_at_the_original_and_no_cache_executes(run_cli: Callable[..., CliResult], home: Path) -> None:
    first = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json"))
    assert first["cache_of"] is None and first["cache_key"]

    hit = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json"))
    assert hit["id"] != first["id"]
    assert hit["status"] == "succeeded" and hit["cache_of"] == first["id"]
    assert hit["cache_key"] == first["cache_key"]
    assert hit["metrics"] == first["metrics"] and hit["output_notebook"] == first["output_notebook"]
    assert hit["report_html"] == first["report_html"] and hit["duration_s"] == 0.0
    assert not Path(hit["run_dir"], "output.ipynb").exists()  # nothing executed for it

    forced = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--no-cache", "--json"))
    assert forced["cache_of"] is None
    assert Path(forced["output_notebook"]) == Path(forced["run_dir"]) / "output.ipynb"
    assert Path(forced["output_notebook"]).is_file()

    shown = run_cli("show", hit["id"], "--json")
    assert shown.code == 0 and '"cache_of": "%s"' % first["id"] in shown.stdout
    # a hit of a hit still points at the executed original (the newest executed run)
    again = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json"))
    assert again["cache_of"] in (first["id"], forced["id"])
    assert len(run_records(home)) == 4


def test_other_parameters_miss(run_cli: Callable[..., CliResult]) -> None:
    first = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json"))
    other = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "-p", "a=3", "--json"))
    assert other["cache_of"] is None and other["cache_key"] != first["cache_key"]
    assert other["metrics"] == {"total": 5.5}


def test_changed_input_file_misses(run_cli: Callable[..., CliResult], path_project: Path) -> None:
    first = one(run_cli("run", path_project, "--json"))
    assert first["metrics"] == {"rows": 3}
    assert one(run_cli("run", path_project, "--json"))["cache_of"] == first["id"]
    (path_project.parent / "data" / "rows.csv").write_text("x\n1\n2\n3\n4\n", encoding="utf-8")
    changed = one(run_cli("run", path_project, "--json"))
    assert changed["cache_of"] is None and changed["metrics"] == {"rows": 4}


def test_a_hit_never_imports_the_execution_machinery(run_cli: Callable[..., CliResult], home: Path) -> None:
    one(run_cli("run", CONFIGS / "simple.yaml", "-s", "two", "--json"))
    proc = subprocess.run([*CLI[:1], "-X", "importtime", *CLI[1:], "run", str(CONFIGS / "simple.yaml"), "-s", "two"],
                          cwd=DATA, env=cli_env(home), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "cached from" in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"nbclient", "jupyter_client", "zmq", "nbconvert", "papermill", "distributed"}
