"""Every ``livedocs`` command through the real entry point (a subprocess), with its JSON and exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, NOTEBOOKS, CliResult, cli_runner

# --- inspect / validate (no kernel) -----------------------------------------------------------------

def test_inspect_json_shape(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("inspect", "notebooks/all_types.ipynb", "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert list(data) == ["notebook", "language", "kernel", "parameters"]
    assert data["notebook"] == "notebooks/all_types.ipynb"
    assert (data["language"], data["kernel"]) == ("python", "python3")
    params = data["parameters"]
    assert [p["name"] for p in params] == ["i", "f", "s", "b", "l", "d", "n", "ann", "tc"]
    assert all({"name", "type", "default", "help"} <= set(p) for p in params)
    assert {p["name"]: (p["type"], p["default"]) for p in params} == {
        "i": ("int", 3), "f": ("float", 0.5), "s": ("str", "x"), "b": ("bool", True), "l": ("list", [1, 2, 3]),
        "d": ("dict", {"k": 1}), "n": ("any", None), "ann": ("float", 2.25), "tc": ("float", 7.0)}
    assert params[1]["help"] == "a float"


def test_inspect_json_without_parameters_cell(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("inspect", "notebooks/no_parameters.ipynb", "--json")
    assert result.code == 0
    assert result.json() == {"notebook": "notebooks/no_parameters.ipynb", "language": "python", "kernel": "python3",
                             "parameters": []}


def test_inspect_config_shows_refinements(run_cli: Callable[..., CliResult]) -> None:
    data = run_cli("inspect", "configs/simple.yaml", "--json").json()
    a = data["parameters"][0]
    assert (a["name"], a["type"], a["min"], a["max"], a["help"]) == ("a", "int", 0, 10, "an int")
    text = run_cli("inspect", "configs/simple.yaml")
    assert text.code == 0
    assert ">= 0, <= 10" in text.stdout and "matches ^[a-z]+$" in text.stdout
    assert "Scenarios: one, two, over_a[a=1], over_a[a=2], over_a[a=3]" in text.stdout


def test_inspect_text_without_parameters_cell(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("inspect", "notebooks/no_parameters.ipynb")
    assert result.code == 0 and "no cell tagged 'parameters'" in result.stdout


@pytest.mark.parametrize("config, code", [
    ("simple.yaml", 0), ("broken_batch.yaml", 0), ("bad_yaml.yaml", 2), ("bad_value.yaml", 2),
    ("out_of_range.yaml", 2), ("unknown_param.yaml", 2), ("missing_notebook.yaml", 2),
])
def test_validate(run_cli: Callable[..., CliResult], home: Path, config: str, code: int) -> None:
    result = run_cli("validate", f"configs/{config}")
    assert result.code == code, result.stderr
    if code == 0:
        assert result.stdout.startswith(f"OK configs/{config}: ")
    else:
        assert f"Error: configs/{config}" in result.stderr
    assert not (home / "runs.db").exists()


def test_demo_configs_validate(run_cli: Callable[..., CliResult]) -> None:
    from tests.conftest import REPO
    result = run_cli("validate", *sorted((REPO / "configs").glob("*.yaml")), cwd=REPO)
    assert result.code == 0, result.stderr


def test_version_and_help(run_cli: Callable[..., CliResult]) -> None:
    assert run_cli("--version").code == 0
    result = run_cli("--help")
    assert result.code == 0
    for command in ("inspect", "validate", "run", "runs", "show", "compare", "report", "rerun"):
        assert command in result.stdout


def test_show_and_runs_on_an_empty_store(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("runs", "--json")
    assert (result.code, result.json()) == (0, [])
    assert run_cli("show", "abc").code == 2


# --- running (kernel) ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two(module_cli: Callable[..., CliResult]) -> CliResult:
    """``run configs/simple.yaml -s one -s two --json``: the runs the history commands look at."""
    return module_cli("run", "configs/simple.yaml", "-s", "one", "-s", "two", "--json", "--no-cache")


@pytest.fixture(scope="module")
def sweep(two: CliResult, module_cli: Callable[..., CliResult]) -> CliResult:
    return module_cli("run", "configs/simple.yaml", "-s", "over_a", "--workers", "2", "--json")


@pytest.fixture(scope="module")
def typed(module_cli: Callable[..., CliResult]) -> CliResult:
    return module_cli("run", "notebooks/simple.ipynb", "-p", "a=7", "-p", "b=3", "-p", "name=123", "-p", "flag=yes",
                      "--json", "--no-report", "--no-cache")


@pytest.mark.kernel
def test_run_config_scenarios(two: CliResult) -> None:
    assert two.code == 0, two.stderr
    records = two.json()  # stdout is exactly the JSON list
    assert [r["scenario"] for r in records] == ["one", "two"]
    assert [r["status"] for r in records] == ["succeeded", "succeeded"]
    assert [r["metrics"] for r in records] == [{"total": 3.5}, {"total": 4.5}]
    assert all(r["trigger"] == "cli" for r in records)


@pytest.mark.kernel
def test_progress_goes_to_stderr(two: CliResult) -> None:
    first, second = (r["id"] for r in two.json())
    assert f"run {first} one: started [" in two.stderr  # not a TTY: one line per state change (-v: per cell)
    assert f"run {second} two: succeeded in" in two.stderr
    assert ": started [" not in two.stdout


@pytest.mark.kernel
def test_run_a_sweep_by_name_with_workers(sweep: CliResult, two: CliResult) -> None:
    assert sweep.code == 0, sweep.stderr
    records = sweep.json()
    assert [r["scenario"] for r in records] == ["over_a[a=1]", "over_a[a=2]", "over_a[a=3]"]
    assert [r["parameters"]["a"] for r in records] == [1, 2, 3]
    assert [r["metrics"]["total"] for r in records] == [3.5, 4.5, 5.5]
    one = two.json()[0]
    assert records[0]["cache_of"] == one["id"]  # same notebook, parameters and environment as 'one'
    assert records[1]["cache_of"] is None and records[2]["cache_of"] is None


@pytest.mark.kernel
def test_overrides_are_typed_by_the_schema(typed: CliResult) -> None:
    assert typed.code == 0, typed.stderr
    [record] = typed.json()
    assert record["parameters"] == {"a": 7, "b": 3.0, "name": "123", "flag": True}
    assert [type(v) for v in record["parameters"].values()] == [int, float, str, bool]
    assert record["metrics"] == {"total": 10.0}
    assert record["scenario"] == "default" and record["config"] is None and record["report_html"] is None


@pytest.mark.kernel
def test_home_option(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    result = cli_runner(tmp_path / "unused")("--home", other, "run", NOTEBOOKS / "simple.ipynb", "--json", "--no-report")
    assert result.code == 0, result.stderr
    assert (other / "runs.db").is_file() and not (tmp_path / "unused").exists()
    [record] = result.json()
    assert Path(record["run_dir"]).parent == other / "runs"


# --- looking back ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ids(two: CliResult, sweep: CliResult, typed: CliResult) -> dict[str, Any]:
    one, second = two.json()
    return {"one": one["id"], "two": second["id"], "typed": typed.json()[0]["id"],
            "sweep": [r["id"] for r in sweep.json()]}


@pytest.mark.kernel
@pytest.mark.parametrize("args, expected", [
    ((), ["typed", "sweep2", "sweep1", "sweep0", "two", "one"]),
    (("--scenario", "one"), ["one"]),
    (("--notebook", "simple.ipynb", "--limit", "2"), ["typed", "sweep2"]),
    (("--notebook", "no_such.ipynb"), []),
    (("--status", "failed"), []),
    (("--status", "succeeded", "--limit", "1"), ["typed"]),
])
def test_runs_filters(module_cli: Callable[..., CliResult], ids: dict[str, Any], args: tuple[str, ...],
                      expected: list[str]) -> None:
    by_name = {"one": ids["one"], "two": ids["two"], "typed": ids["typed"],
               **{f"sweep{i}": rid for i, rid in enumerate(ids["sweep"])}}
    result = module_cli("runs", "--json", *args)
    assert result.code == 0, result.stderr
    assert [r["id"] for r in result.json()] == [by_name[n] for n in expected]


@pytest.mark.kernel
def test_runs_table(module_cli: Callable[..., CliResult], ids: dict[str, Any]) -> None:
    result = module_cli("runs", "--limit", "3")
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "SCENARIO"]
    assert [line.split()[0] for line in lines[1:]] == [ids["typed"], *ids["sweep"][::-1][:2]]
    cached = module_cli("runs", "--scenario", "over_a[a=1]")
    assert "succeeded (cached)" in cached.stdout


@pytest.mark.kernel
def test_show_json_with_a_prefix(module_cli: Callable[..., CliResult], ids: dict[str, Any], two: CliResult) -> None:
    result = module_cli("show", ids["one"][:6], "--json")
    assert result.code == 0, result.stderr
    assert result.json() == two.json()[0]


@pytest.mark.kernel
def test_show_text(module_cli: Callable[..., CliResult], ids: dict[str, Any]) -> None:
    result = module_cli("show", ids["two"])
    assert result.code == 0
    for fragment in (f"Run:              {ids['two']}", "Status:           succeeded", "Scenario:         two",
                     '  name = "earth"', "  total = 4.5", "Report:"):
        assert fragment in result.stdout


@pytest.mark.kernel
def test_compare(module_cli: Callable[..., CliResult], ids: dict[str, Any]) -> None:
    result = module_cli("compare", ids["one"][:8], ids["two"][:8], "--json")
    assert result.code == 0, result.stderr
    data = result.json()
    assert {k: data[k] for k in ("runs", "scenarios", "parameters_differ", "parameters_same", "metrics")} == {
        "runs": [ids["one"], ids["two"]], "scenarios": ["one", "two"],
        "parameters_differ": {"a": [1, 2], "name": ["world", "earth"], "flag": [False, True]},
        "parameters_same": {"b": 2.5}, "metrics": {"total": [3.5, 4.5]}}
    assert data["view"]["kind"] == "table" and [r["id"] for r in data["rows"]] == [ids["one"], ids["two"]]
    text = module_cli("compare", ids["one"], ids["two"])
    assert text.code == 0 and text.stdout.split()[:6] == ["run", "scenario", "a", "name", "flag", "total"]
    assert "total: +1 (+28.6 %) from" in text.stdout
    assert module_cli("compare", ids["one"]).code == 2


@pytest.mark.kernel
def test_report(module_cli: Callable[..., CliResult], ids: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = module_cli("report", ids["two"][:7], "-o", out)
    assert result.code == 0, result.stderr
    html = out.read_text()
    assert "livedocs-provenance" in html
    for fragment in (ids["two"], "succeeded", "Notebook SHA-256", "Packages SHA-256", "earth", "simple.yaml"):
        assert fragment in html
    assert "hello earth: a=2 b=2.5 total=4.5 flag=True" in html  # outputs are shown
    assert "total = a + b" not in html and "record(" not in html  # code is hidden
    with_code = tmp_path / "c.html"
    assert module_cli("report", ids["two"], "-o", with_code, "--with-code").code == 0
    assert "record" in with_code.read_text() and "livedocs-provenance" in with_code.read_text()


@pytest.mark.kernel
def test_report_without_output_writes_into_the_run_folder(module_cli: Callable[..., CliResult],
                                                          ids: dict[str, Any]) -> None:
    record = module_cli("show", ids["two"], "--json").json()
    result = module_cli("report", ids["two"], "--with-code")
    assert result.code == 0, result.stderr
    written = Path(result.stdout.strip())
    if not written.is_absolute():
        written = DATA / written  # printed relative to the CLI's working directory
    assert written.resolve() == (Path(record["run_dir"]) / "report-with-code.html").resolve()
    assert "livedocs-provenance" in written.read_text()


@pytest.mark.kernel
def test_rerun_links_to_the_original_and_warns_on_changed_inputs(run_cli: Callable[..., CliResult],
                                                                 path_project: Path) -> None:
    first = run_cli("run", path_project, "--json", "--no-report")
    assert first.code == 0, first.stderr
    [original] = first.json()
    data = Path(original["inputs"][0]["path"])
    data.write_text("x\n1\n2\n3\n4\n5\n")
    same = run_cli("rerun", original["id"][:6], "--json")
    assert same.code == 0, same.stderr
    assert "Warning" not in same.stderr  # an exact rerun reads the snapshot: nothing changed for it
    assert same.json()[0]["metrics"] == {"rows": 3}
    result = run_cli("rerun", original["id"][:6], "--inputs", "current", "--json")
    assert result.code == 0, result.stderr
    [rerun] = result.json()
    assert rerun["rerun_of"] == original["id"] and rerun["id"] != original["id"]
    assert rerun["trigger"] == "rerun:inputs-current"
    assert rerun["parameters"] == original["parameters"]
    assert rerun["notebook_sha256"] == original["notebook_sha256"]
    assert rerun["metrics"] == {"rows": 5}  # --inputs current reads the current file
    assert rerun["inputs"][0]["sha256"] != original["inputs"][0]["sha256"]
    assert f"Warning: input {data} (parameter 'data_file') has changed since run {original['id']}" in result.stderr
    assert "Rerun of" in run_cli("show", rerun["id"]).stdout


@pytest.mark.kernel
def test_rerun_uses_the_stored_copy_when_the_notebook_changed(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    from tests.conftest import copy_notebook
    nb = copy_notebook("simple.ipynb", tmp_path / "nb")
    [original] = run_cli("run", nb, "--json", "--no-report").json()
    nb.write_text(nb.read_text().replace("record(\\\"total\\\", a + b)", "record(\\\"total\\\", -1)"))
    assert "-1" in nb.read_text()
    [rerun] = run_cli("rerun", original["id"], "--json").json()
    assert rerun["metrics"] == {"total": 3.5}
    assert rerun["notebook_sha256"] == original["notebook_sha256"]


def test_console_script_is_the_same_entry_point(home: Path) -> None:
    import subprocess
    import sys
    script = Path(sys.executable).parent / "livedocs"
    if not script.exists():
        pytest.skip("no installed console script next to this interpreter")
    done = subprocess.run([str(script), "inspect", "notebooks/no_parameters.ipynb", "--json"], cwd=NOTEBOOKS.parent,
                          capture_output=True, text=True, env={"LIVEDOCS_HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parameters"] == []


@pytest.mark.kernel
def test_cli_runs_record_auth_none_and_the_os_user(two: CliResult, module_cli: Callable[..., CliResult]) -> None:
    """The CLI is a local tool: its runs say the user was not verified (auth none) and name the OS user."""
    import getpass

    records = two.json()
    assert [(r["auth"], r["user"]) for r in records] == [("none", "tester")] * 2  # LIVEDOCS_USER=tester (cli_env)
    shown = module_cli("show", records[0]["id"])
    assert "User:             tester (not verified: the OS user or a name typed in; auth none)\n" in shown.stdout
    assert module_cli("show", records[0]["id"], "--json").json()["auth"] == "none"
    plain = module_cli("run", "notebooks/simple.ipynb", "--json", "--no-report", env={"LIVEDOCS_USER": ""})
    assert plain.code == 0, plain.stderr
    assert [(r["auth"], r["user"]) for r in plain.json()] == [("none", getpass.getuser())]
