"""Every bad input of issue 2, point 8, through the real ``livedocs`` entry point.

Each must exit 2 with a short ``Error:`` on stderr that names the file (and YAML line), quotes the
value and says the fix, and must not execute anything (no run record, no run folder).
"""

from __future__ import annotations

import os
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


# --- issue 7: hostile or careless files are one clear line, exit 2, never a traceback -----------------

HOSTILE = [  # (command line, fragments of the message): each file is named by the behaviour it shows
    (["validate", "configs/alias_bomb.yaml"],
     ["configs/alias_bomb.yaml, line 4: more than 100000 values (counting every use of an alias as a copy)."]),
    (["run", "configs/recursive_alias.yaml"],
     ["configs/recursive_alias.yaml, line 3: the alias *loop refers to a value that contains it (a recursive alias)."]),
    (["run", "configs/complex_key.yaml"],
     ["configs/complex_key.yaml, line 3: a mapping key must be a plain name, not a list or mapping"]),
    (["run", "configs/huge_int.yaml"], ["configs/huge_int.yaml, line 3: the number '999", "has more than 4300 digits."]),
    (["run", "configs/duplicate_key.yaml"],
     ["configs/duplicate_key.yaml, line 5: duplicate key 'stress' (also on line 3)."]),
    (["run", "configs/number_scenario_keys.yaml"],
     ["configs/number_scenario_keys.yaml, line 4: the key '1' is read as a number, not as text.", "Quote it: '1'."]),
    (["validate", "configs/lone_surrogate_name.yaml"],
     ["configs/lone_surrogate_name.yaml, line 3: the text 'stress\\ud800' contains '\\ud800', which is not valid Unicode"]),
    (["run", "configs/deep_nesting.yaml"], ["configs/deep_nesting.yaml, line 3: nested more than 64 levels deep."]),
    (["run", "configs/deep_value.yaml"],
     ["configs/deep_value.yaml, line 3: parameter 'l' expects a list, got [[[[", "...]]]", "nested at most 32 levels deep"]),
    (["validate", "configs/sweep_too_big.yaml"],
     ["configs/sweep_too_big.yaml, line 4: sweep 'grid6' has 1000000 points (10 x 10 x 10 x 10 x 10 x 10)",
      "the limit is 1000.", "Sweep fewer values"]),
    (["run", "configs/redos_pattern.yaml"],
     ["configs/redos_pattern.yaml, line 5: parameter 'name' expects a str matching '(a|aa)+$', got 'aaaa",
      "Matching the pattern took longer than 0.25 s"]),
    (["run", "configs/pattern_repeats_too_much.yaml"],
     ["configs/pattern_repeats_too_much.yaml, line 4: parameter 'name': 'pattern' '((a{1000}){1000}){1000}' repeats "
      "too much: its counted repeats unroll to about 1000000000 steps (the limit is 100000)."]),
    (["run", "configs/bad_pattern.yaml"],
     ["configs/bad_pattern.yaml, line 3: parameter 'name': 'pattern' '(unclosed' is not a valid regular expression"]),
    (["run", "configs/warm_imports_code.yaml"],
     ["configs/warm_imports_code.yaml, line 2: 'warm_imports': 'os; open(", "is not a module name."]),
    (["run", "notebooks/nbformat_string.ipynb"],
     ["notebooks/nbformat_string.ipynb is not a valid notebook ('nbformat' is '4'; expected 4)."]),
    (["run", "notebooks/metadata_list.ipynb"],
     ["notebooks/metadata_list.ipynb is not a valid notebook (its 'metadata' is a list, not an object)."]),
    (["inspect", "notebooks/tags_not_list.ipynb"],
     ["notebooks/tags_not_list.ipynb is not a valid notebook (cell 1: its 'tags' are not a list of strings)."]),
    (["run", "notebooks/cell_not_object.ipynb"],
     ["notebooks/cell_not_object.ipynb is not a valid notebook (cell 2 is a string, not an object)."]),
    (["run", "notebooks/lone_surrogate.ipynb"],
     ["notebooks/lone_surrogate.ipynb is not a valid notebook (it contains '\\ud800', which is not valid Unicode)."]),
    (["run", "notebooks/simple.ipynb", "-p", "a=" + "7" * 4301],
     ["parameter 'a' expects an int, got '777", "...'.", "Integers are limited to 4300 digits."]),
    (["run", "notebooks/all_types.ipynb", "-p", "l=" + "[" * 5000 + "]" * 5000],
     ["parameter 'l' expects a list, got '[[[[", "nested at most 32 levels deep"]),
    (["run", "notebooks/all_types.ipynb", "-p", "d=" + '{"k": ' + "1" * 5000 + "}"],
     ["parameter 'd' expects a dict, got '{\"k\": 111", "Integers are limited to 4300 digits."]),
    (["run", "notebooks/all_types.ipynb", "-p", "f=1" + "0" * 400],
     ["parameter 'f' expects a float, got '1000", "Use a finite number."]),
    (["run", "notebooks/all_types.ipynb", "-p", "s=ok\udcff"],  # undecodable bytes in argv
     ["parameter 's' expects a str, got 'ok", "which is not valid Unicode text."]),
    (["run", "notebooks/simple.ipynb", "-p", "x" * 100_000 + "=1"],
     ["unknown parameter 'xxxx", "...' for notebooks/simple.ipynb."]),
]


@pytest.mark.parametrize("args, fragments", HOSTILE, ids=lambda v: v[1][:40] if isinstance(v, list) and len(v) > 1 else None)
def test_hostile_input_is_one_clear_error(run_cli: Callable[..., CliResult], home: Path,
                                          args: list[str], fragments: list[str]) -> None:
    result = run_cli(*args)
    if args[0] == "validate":  # validate reports each config, then a summary line
        assert result.code == 2 and result.stdout == "", result
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines()[-1] == "Error: 1 of 1 config(s) invalid."
        assert len(result.stderr.splitlines()) <= 3
        for fragment in fragments:
            assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"
        assert_nothing_ran(home)
    else:
        refused(result, home, *fragments)
    assert len(result.stderr) < 1000  # quoted values are shortened, never echoed whole


def test_hostile_files_exist_and_are_small() -> None:
    """The alias bomb is a few hundred bytes: the limits are about what a small file makes us build."""
    assert (CONFIGS / "alias_bomb.yaml").stat().st_size < 1000
    for name in ("recursive_alias", "complex_key", "duplicate_key", "number_scenario_keys", "sweep_too_big"):
        assert (CONFIGS / f"{name}.yaml").stat().st_size < 1000


def test_warm_imports_code_never_runs(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path) -> None:
    """The cold-kernel path used to run ``import os; open(...)``: now the config is refused at load."""
    marker = tmp_path / "pwned"
    config = tmp_path / "warm.yaml"
    config.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\nwarm_imports: [\"os; open('{marker}', 'w')\"]\n")
    refused(run_cli("run", config), home, f"{config}, line 2: 'warm_imports':", "is not a module name.")
    assert not marker.exists()


def test_scenario_names_that_repeat_after_a_sweep_are_refused(run_cli: Callable[..., CliResult], home: Path,
                                                               tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\nscenarios:\n  over: {{a: 1}}\n"
                      "sweeps:\n  over:\n    grid: {a: [1, 2]}\n")
    refused(run_cli("run", config), home, f"{config}, line 5: sweep 'over' has the name of a scenario.")
    config.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\nsweeps:\n  s:\n    grid: {{a: [1, 1]}}\n")
    refused(run_cli("run", config), home, "sweep 's' makes the scenario 's[a=1]' twice")


@pytest.mark.parametrize("suffix, what", [(".yaml", "config"), (".ipynb", "notebook")])
def test_file_names_that_are_not_utf8(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path,
                                      suffix: str, what: str) -> None:
    """A name with undecodable bytes could never be recorded: refused up front, not when the store writes it."""
    path = tmp_path / os.fsdecode(b"model\xff" + suffix.encode())
    path.write_bytes((NOTEBOOKS / "simple.ipynb").read_bytes() if suffix == ".ipynb"
                     else f"notebook: {NOTEBOOKS / 'simple.ipynb'}\n".encode())
    refused(run_cli("run", path), home, f"the {what} file name", "model\\udcff", "is not valid UTF-8.", "Rename the file.")


@pytest.mark.parametrize("source", ["x = " + "1+" * 100_000 + "1", "x = " + "-" * 100_000 + "1"], ids=["long-sum", "many-signs"])
def test_parameters_cell_too_deep_for_the_parser(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path,
                                                 source: str) -> None:
    """Python's own parser gives up (RecursionError, MemoryError): one clear error, here and for the imports."""
    from tests.conftest import write_notebook
    nb = write_notebook(tmp_path / "deep.ipynb", [(source, ["parameters"]), source + "\nimport os"])
    refused(run_cli("run", nb), home, f"{nb}: the cell tagged 'parameters' (cell 1) is nested too deeply to read.")
    from livedocs_runner.notebook import load_notebook
    assert load_notebook(nb).top_level_imports() == ("os",)


@pytest.mark.parametrize("config", ["alias_bomb", "sweep_too_big", "deep_nesting", "recursive_alias"])
def test_limits_hold_in_little_memory(home: Path, config: str) -> None:
    """Refused within 512 MB of address space (the alias bomb used to grow past 11 GB)."""
    import resource
    import subprocess

    from tests.conftest import CLI, cli_env

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))

    proc = subprocess.run([*CLI, "validate", f"configs/{config}.yaml"], cwd=DATA, env=cli_env(home), capture_output=True,
                          text=True, timeout=180, preexec_fn=limit)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"Error: configs/{config}.yaml, line ") and "Traceback" not in proc.stderr


def test_files_that_are_not_regular_files(run_cli: Callable[..., CliResult], home: Path, tmp_path: Path) -> None:
    """A FIFO would block the read forever and /dev/zero never ends: refused before reading."""
    fifo_config, fifo_notebook = tmp_path / "pipe.yaml", tmp_path / "pipe.ipynb"
    os.mkfifo(fifo_config)
    os.mkfifo(fifo_notebook)
    result = run_cli("validate", "/dev/zero", fifo_config)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "Error: config /dev/zero is not a regular file." in result.stderr
    assert f"Error: config {fifo_config} is not a regular file." in result.stderr
    refused(run_cli("run", fifo_notebook), home, f"notebook {fifo_notebook} is not a regular file.")
    config = tmp_path / "zero.yaml"
    config.write_text("notebook: /dev/zero\n")
    refused(run_cli("run", config), home, f"{config}, line 1: notebook /dev/zero is not a regular file.")


def test_path_that_is_a_symlink_loop(run_cli: Callable[..., CliResult], home: Path, project: Path) -> None:
    """Python 3.11's Path.resolve raises RuntimeError on a loop: one clear error instead."""
    data = project.parent / "data"
    (data / "loop").symlink_to("loop")
    (data / "a").symlink_to("b")
    (data / "b").symlink_to("a")
    for value in ("data/loop", "data/a", "data/loop/x.csv"):
        refused(run_cli("run", project, "-p", f"data_file={value}", cwd=project.parent), home,
                f"parameter 'data_file' expects a path inside {data.resolve()}, got '{value}' (a symbolic link that loops).")
    project.write_text(project.read_text().replace("within: data", "within: data/loop"))
    refused(run_cli("run", project), home, f"{project}, line 3: parameter 'data_file': 'within' folder 'data/loop' does not exist")
