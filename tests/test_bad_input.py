"""Every bad input of issue 2, point 8, through the real ``livedocs`` entry point.

Each must exit 2 with a short ``Error:`` on stderr that names the file (and YAML line), quotes the
value and says the fix, and must not execute anything (no run record, no run folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, DATA, NOTEBOOKS, CliResult, assert_nothing_ran, make_path_project


def refused(result: CliResult, home: Path, *fragments: str) -> str:
    """Assert exit 2, a one-error stderr containing every fragment, nothing on stdout, nothing run."""
    assert result.code == 2, (result.code, result.stderr)
    assert result.stderr.startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"
    assert len(result.stderr.splitlines()) <= 3, result.stderr  # short
    assert_nothing_ran(home)
    return result.stderr


@pytest.fixture
def choices_config(tmp_path: Path) -> Path:
    path = tmp_path / "choices.yaml"
    path.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\n"
                    "parameters:\n"
                    "  name: {choices: [world, earth]}\n"
                    "scenarios:\n"
                    "  ok: {}\n"
                    "  bad:\n"
                    "    name: mars\n", encoding="utf-8")
    return path


def test_malformed_yaml(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "configs/bad_yaml.yaml"), home,
            "configs/bad_yaml.yaml, line 6: malformed YAML", "'}'", "Fix the syntax there")


def test_missing_notebook(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "notebooks/does_not_exist.ipynb"), home,
            "notebook notebooks/does_not_exist.ipynb does not exist.", "Check the path")


def test_config_pointing_at_a_missing_notebook(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "configs/missing_notebook.yaml"), home,
            "configs/missing_notebook.yaml, line 2:", "does_not_exist.ipynb does not exist",
            "'notebook:' is taken relative to the config's folder")


@pytest.mark.parametrize("target", ["configs/nope.yaml", "nope"])
def test_missing_config(run_cli: Callable[..., CliResult], home: Path, target: str) -> None:
    refused(run_cli("run", target), home, f"{target} does not exist.")


def test_validate_missing_config(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("validate", "configs/nope.yaml"), home, "configs/nope.yaml does not exist.")


def test_parameters_for_a_notebook_without_parameters_cell(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "notebooks/no_parameters.ipynb", "-p", "x=1"), home,
            "parameter 'x' given, but notebooks/no_parameters.ipynb has no cell tagged 'parameters'",
            "tag the cell that defines the defaults")


def test_unknown_parameter_on_the_command_line(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "notebooks/simple.ipynb", "-p", "nmae=x"), home,
            "unknown parameter 'nmae' for notebooks/simple.ipynb.", "Did you mean 'name'?")


def test_unknown_parameter_in_yaml(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "configs/unknown_param.yaml"), home,
            "configs/unknown_param.yaml, line 6: unknown parameter 'nmae'", "Did you mean 'name'?")


def test_unknown_parameter_far_from_any(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "notebooks/simple.ipynb", "-p", "zzz=1"), home,
            "unknown parameter 'zzz'", "Known parameters: a, b, name, flag.")


def test_wrong_type_in_yaml(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "configs/bad_value.yaml"), home,
            "configs/bad_value.yaml, line 8: parameter 'a' expects an int between 0 and 10, got 'high'.")


@pytest.mark.parametrize("pair, fragment", [
    ("a=abc", "parameter 'a' expects an int, got 'abc'."),
    ("b=1,5", "parameter 'b' expects a float, got '1,5'."),
    ("b=nan", "parameter 'b' expects a float, got 'nan'.\nUse a finite number."),
    ("flag=maybe", "parameter 'flag' expects a bool, got 'maybe'.\nUse true or false."),
])
def test_wrong_type_on_the_command_line(run_cli: Callable[..., CliResult], home: Path, pair: str, fragment: str) -> None:
    refused(run_cli("run", "notebooks/simple.ipynb", "-p", pair), home, fragment)


def test_out_of_range_in_yaml(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "configs/out_of_range.yaml", "-s", "ok"), home,
            "configs/out_of_range.yaml, line 8: parameter 'a' expects an int between 0 and 10, got 99.")


def test_out_of_range_on_the_command_line(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "configs/simple.yaml", "-s", "one", "-p", "a=11"), home,
            "parameter 'a' expects an int between 0 and 10, got '11'.")


def test_not_among_choices_in_yaml(run_cli: Callable[..., CliResult], home: Path, choices_config: Path) -> None:
    refused(run_cli("run", choices_config, "-s", "ok"), home,
            f"{choices_config}, line 7: parameter 'name' expects a str from 'world', 'earth', got 'mars' "
            "('mars' is not one of the choices).")


def test_not_among_choices_on_the_command_line(run_cli: Callable[..., CliResult], home: Path, choices_config: Path) -> None:
    choices_config.write_text(choices_config.read_text().replace("    name: mars\n", "    name: earth\n"))
    refused(run_cli("run", choices_config, "-p", "name=venus"), home, "got 'venus' ('venus' is not one of the choices).")


def test_not_matching_pattern(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "configs/simple.yaml", "-p", "name=Earth"), home,
            "parameter 'name' expects a str matching '^[a-z]+$', got 'Earth'.")


def test_not_matching_pattern_in_yaml(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\nparameters:\n  name: {{pattern: '^[a-z]+$'}}\n"
                      "scenarios:\n  x: {name: 'Hello World'}\n")
    refused(run_cli("run", config), home, f"{config}, line 5: parameter 'name' expects a str matching '^[a-z]+$', got 'Hello World'.")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_path_project(tmp_path / "project")


def test_path_outside_within(run_cli: Callable[..., CliResult], home: Path, project: Path) -> None:
    within = (project.parent / "data").resolve()
    refused(run_cli("run", project, "-p", "data_file=../outside.csv", cwd=project.parent / "data"), home,
            f"parameter 'data_file' expects a path inside {within}, got '../outside.csv' (outside {within}).",
            "Pick a file inside that folder.")


def test_path_outside_within_in_yaml(run_cli: Callable[..., CliResult], home: Path, project: Path) -> None:
    project.write_text(project.read_text() + "  escape: {data_file: /etc/passwd}\n")
    refused(run_cli("run", project, "-s", "all"), home, f"{project}, line 6: parameter 'data_file'", "got '/etc/passwd' (outside ")


def test_path_missing(run_cli: Callable[..., CliResult], home: Path, project: Path) -> None:
    refused(run_cli("run", project, "-p", "data_file=data/nope.csv", cwd=project.parent), home,
            "parameter 'data_file' expects a path inside", "got 'data/nope.csv' (no such file).")


@pytest.mark.parametrize("pair", ["1abc=3", "a-b=1", "x;import os=1", "class=1"])
def test_non_identifier_name_on_the_command_line(run_cli: Callable[..., CliResult], home: Path, pair: str) -> None:
    name = pair.rsplit("=", 1)[0]
    refused(run_cli("run", "notebooks/simple.ipynb", "-p", pair), home,
            f"notebooks/simple.ipynb (-p): parameter name '{name}' is not a valid Python identifier.",
            "Use letters, digits and underscores")


def test_non_identifier_name_in_yaml(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\nscenarios:\n  ok: {{}}\n  bad:\n    1abc: 3\n")
    refused(run_cli("run", config, "-s", "ok"), home,
            f"{config}, line 5: parameter name '1abc' is not a valid Python identifier.")


def test_one_bad_scenario_refuses_the_whole_batch(run_cli: Callable[..., CliResult], home: Path) -> None:
    """Nothing runs when any selected scenario is bad (here the last one of three)."""
    refused(run_cli("run", "configs/out_of_range.yaml"), home, "line 8")


def test_unknown_scenario(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "configs/simple.yaml", "-s", "onee"), home,
            "no scenario 'onee' in configs/simple.yaml.", "Did you mean 'one'?")


def test_override_without_equals(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", "notebooks/simple.ipynb", "-p", "a"), home, "-p 'a' is not NAME=VALUE.", "-p threshold=0.4")


def test_not_a_notebook_or_config(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("run", DATA / "configs"), home, "is neither a config (.yaml) nor a notebook (.ipynb).")


def test_broken_notebook_file(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    refused(run_cli("run", bad), home, f"{bad} is not a valid notebook", "Open and save it in Jupyter")


def test_invalid_parameters_cell(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path) -> None:
    from tests.conftest import write_notebook
    nb = write_notebook(tmp_path / "n.ipynb", [("a = 1\nb = = 2", ["parameters"])])
    refused(run_cli("run", nb), home, f"{nb}: the cell tagged 'parameters' (cell 1) is not valid Python at line 2")


def test_validate_reports_every_bad_config(run_cli: Callable[..., CliResult], home: Path) -> None:
    result = run_cli("validate", "configs/simple.yaml", "configs/bad_value.yaml", "configs/bad_yaml.yaml")
    assert result.code == 2
    assert "OK configs/simple.yaml" in result.stdout
    assert "configs/bad_value.yaml, line 8" in result.stderr and "configs/bad_yaml.yaml, line 6" in result.stderr
    assert "Error: 2 of 3 config(s) invalid." in result.stderr
    assert_nothing_ran(home)


def test_rerun_unknown_id(run_cli: Callable[..., CliResult], home: Path) -> None:
    refused(run_cli("rerun", "abc123"), home, "no run 'abc123'", "livedocs runs")
    refused(run_cli("show", "not-hex"), home, "'not-hex' is not a run id.")


def test_config_values_for_all_bad_inputs_are_listed() -> None:
    """The behaviour configs this file relies on are present (named by behaviour)."""
    for name in ("bad_yaml", "bad_value", "out_of_range", "unknown_param", "missing_notebook"):
        assert (CONFIGS / f"{name}.yaml").is_file()


@pytest.mark.parametrize("text, got", [("", "an empty file"), ("[]\n", "a list")])
def test_config_that_is_not_a_mapping(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path,
                                      text: str, got: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    refused(run_cli("run", config), home, f"{config}: expected a mapping with at least a 'notebook:' key, got {got}.",
            "notebook: ../notebooks/model.ipynb")
