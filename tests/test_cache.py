"""The result cache through the real CLI: a hit points at the original, --no-cache executes, changed
parameters or input files miss, and a hit never imports the execution machinery."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CLI, CONFIGS, DATA, CliResult, cli_env, run_records, write_notebook

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
    assert "cached: same inputs as run" in proc.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"nbclient", "jupyter_client", "zmq", "nbconvert", "papermill", "distributed", "asyncio"}


def folder_project(root: Path) -> Path:
    """A notebook counting the rows of every CSV in a folder given by a ``path`` parameter."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.csv").write_text("x\n1\n2\n", encoding="utf-8")
    write_notebook(root / "count_folder.ipynb", [
        ('data_dir = "data"  # a folder of CSV files', ["parameters"]),
        "from pathlib import Path\nfrom livedocs_runner import record\n"
        "record('rows', sum(len(p.read_text().splitlines()) - 1 for p in Path(data_dir).rglob('*.csv')))",
    ])
    config = root / "count_folder.yaml"
    config.write_text("notebook: count_folder.ipynb\nparameters:\n  data_dir: {type: path, within: .}\n",
                      encoding="utf-8")
    return config


def test_a_changed_folder_input_misses(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    config = folder_project(tmp_path / "project")
    first = one(run_cli("run", config, "--json", "--no-report"))
    assert first["metrics"] == {"rows": 2}
    [item] = first["inputs"]
    assert (item["parameter"], item["type"], item["files"]) == ("data_dir", "folder", 1) and len(item["sha256"]) == 64
    assert one(run_cli("run", config, "--json", "--no-report"))["cache_of"] == first["id"]
    (tmp_path / "project" / "data" / "more").mkdir()
    (tmp_path / "project" / "data" / "more" / "b.csv").write_text("x\n3\n", encoding="utf-8")  # a new file deep inside
    changed = one(run_cli("run", config, "--json", "--no-report"))
    assert changed["cache_of"] is None and changed["metrics"] == {"rows": 3}


def test_a_package_installed_for_the_kernel_misses(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    first = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json", "--no-report"))
    extra = tmp_path / "site"
    (extra / "newpkg-1.0.dist-info").mkdir(parents=True)  # what the kernel can import changed
    other = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json", "--no-report",
                        env={"PYTHONPATH": str(extra)}))
    assert other["cache_of"] is None
    assert other["environment"]["packages_sha256"] != first["environment"]["packages_sha256"]
    (extra / "newpkg-1.0.dist-info").rename(extra / "newpkg-2.0.dist-info")  # an upgrade, same folder
    upgraded = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json", "--no-report",
                           env={"PYTHONPATH": str(extra)}))
    assert upgraded["cache_of"] is None
    again = one(run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json", "--no-report",
                        env={"PYTHONPATH": str(extra)}))
    assert again["cache_of"] == upgraded["id"]


def test_cache_false_always_executes(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    config = tmp_path / "clock.yaml"
    config.write_text(f"notebook: {CONFIGS.parent / 'notebooks' / 'simple.ipynb'}\ncache: false\n", encoding="utf-8")
    first = one(run_cli("run", config, "--json", "--no-report"))
    second = one(run_cli("run", config, "--json", "--no-report"))
    assert first["cache_key"] is None and second["cache_of"] is None and second["cache_key"] is None
    assert Path(second["output_notebook"]).parent == Path(second["run_dir"])


def test_cache_must_be_a_boolean(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"notebook: {CONFIGS.parent / 'notebooks' / 'simple.ipynb'}\ncache: 'no'\n", encoding="utf-8")
    result = run_cli("run", config)
    assert result.code == 2
    assert f"Error: {config}, line 2: 'cache:' must be true or false, got 'no'." in result.stderr
