"""Scenario configs: loading, refinements, sweeps, selection, YAML line numbers, dates."""

from __future__ import annotations

from pathlib import Path

import pytest

from livedocs_runner.errors import ConfigError, InputError, ParameterError
from livedocs_runner.plan import parse_overrides, plan_runs
from livedocs_runner.scenarios import load_config, load_target
from livedocs_runner.yamlfile import load_yaml
from tests.conftest import CONFIGS, NOTEBOOKS, write_notebook


def write_config(folder: Path, text: str, notebook: Path = NOTEBOOKS / "simple.ipynb") -> Path:
    """A config in ``folder`` whose ``notebook:`` points at ``notebook``; ``text`` follows that line."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(f"notebook: {notebook}\n{text}", encoding="utf-8")
    return path


def test_load_simple_config() -> None:
    config = load_config(CONFIGS / "simple.yaml")
    assert config.title == "Simple"
    assert config.description == "The smallest valid config, with two scenarios and a sweep."
    assert config.baseline == "one"
    assert config.notebook.path == NOTEBOOKS / "simple.ipynb"
    assert [s.name for s in config.scenarios] == ["one", "two", "over_a[a=1]", "over_a[a=2]", "over_a[a=3]"]
    assert [s.sweep for s in config.scenarios] == [None, None, "over_a", "over_a", "over_a"]
    a = config.schema.get("a")
    assert (a.type, a.min, a.max, a.help) == ("int", 0, 10, "an int")
    assert config.schema.get("name").pattern == "^[a-z]+$"


def test_notebook_is_relative_to_the_config(tmp_path: Path) -> None:
    write_notebook(tmp_path / "nbs" / "n.ipynb", [("x = 1", ["parameters"])])
    path = tmp_path / "cfg" / "c.yaml"
    path.parent.mkdir()
    path.write_text("notebook: ../nbs/n.ipynb\n")
    config = load_config(path)
    assert config.notebook.path.resolve() == (tmp_path / "nbs" / "n.ipynb").resolve()
    assert [s.name for s in config.scenarios] == ["default"]


def test_sweep_expands_a_grid_on_top_of_its_base(tmp_path: Path) -> None:
    path = write_config(tmp_path, """
parameters:
  b: {type: float}
scenarios:
  base: {name: earth}
sweeps:
  grid2:
    base: base
    grid:
      a: [1, 2]
      name: [x, "y z"]
      b: [0.5]
""")
    config = load_config(path)
    sweep = [s for s in config.scenarios if s.sweep == "grid2"]
    assert [s.name for s in sweep] == ["grid2[a=1,name=x,b=0.5]", "grid2[a=1,name=y z,b=0.5]",
                                       "grid2[a=2,name=x,b=0.5]", "grid2[a=2,name=y z,b=0.5]"]
    assert dict(sweep[3].values) == {"name": "y z", "a": 2, "b": 0.5}
    plans = plan_runs(config, scenarios=["grid2"])
    assert [p.parameters for p in plans][0] == {"a": 1, "b": 0.5, "name": "x", "flag": False}


def test_plan_runs_types_values_by_schema() -> None:
    [plan] = plan_runs(CONFIGS / "simple.yaml", scenarios=["two"], overrides=parse_overrides(["b=3", "name=abc"]))
    assert plan.parameters == {"a": 2, "b": 3.0, "name": "abc", "flag": True}
    assert type(plan.parameters["b"]) is float
    assert plan.scenario == "two" and plan.config == (CONFIGS / "simple.yaml").resolve()


def test_parse_overrides() -> None:
    assert parse_overrides(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ParameterError, match="is not NAME=VALUE"):
        parse_overrides(["novalue"])


# --- selection ---------------------------------------------------------------------------------

@pytest.mark.parametrize("names, expected", [
    (None, ["one", "two", "over_a[a=1]", "over_a[a=2]", "over_a[a=3]"]),
    ([], ["one", "two", "over_a[a=1]", "over_a[a=2]", "over_a[a=3]"]),
    (["two", "one"], ["two", "one"]),
    (["over_a"], ["over_a[a=1]", "over_a[a=2]", "over_a[a=3]"]),
    (["over_a[a=2]"], ["over_a[a=2]"]),
    (["one", "one"], ["one"]),
])
def test_select(names: list[str] | None, expected: list[str]) -> None:
    config = load_config(CONFIGS / "simple.yaml")
    assert [s.name for s in config.select(names)] == expected


@pytest.mark.parametrize("name, hint", [
    ("onee", "Did you mean 'one'?"),
    ("over", "Did you mean 'over_a'?"),
    ("zzz", "Available: one, over_a, two."),
])
def test_select_unknown_scenario(name: str, hint: str) -> None:
    config = load_config(CONFIGS / "simple.yaml")
    with pytest.raises(ConfigError) as info:
        config.select([name])
    assert info.value.message == f"no scenario '{name}' in {CONFIGS / 'simple.yaml'}."
    assert info.value.hint == hint


def test_a_notebook_target_has_one_default_scenario() -> None:
    config = load_target(NOTEBOOKS / "simple.ipynb")
    assert [s.name for s in config.scenarios] == ["default"]
    [plan] = plan_runs(config)
    assert plan.parameters == {"a": 1, "b": 2.5, "name": "world", "flag": False}


# --- errors point at the file and line ------------------------------------------------------------

@pytest.mark.parametrize("config, expected, hint", [
    ("bad_yaml.yaml", "bad_yaml.yaml, line 6: malformed YAML", "Fix the syntax there"),
    ("bad_value.yaml", "bad_value.yaml, line 8: parameter 'a' expects an int between 0 and 10, got 'high'.", None),
    ("out_of_range.yaml", "out_of_range.yaml, line 8: parameter 'a' expects an int between 0 and 10, got 99.", None),
    ("unknown_param.yaml", "unknown_param.yaml, line 6: unknown parameter 'nmae'", "Did you mean 'name'?"),
    ("missing_notebook.yaml", "missing_notebook.yaml, line 2: notebook ", "relative to the config's folder"),
])
def test_config_errors_name_file_and_line(config: str, expected: str, hint: str | None) -> None:
    with pytest.raises(InputError) as info:
        load_config(CONFIGS / config)
    assert expected in info.value.message
    assert str(CONFIGS) in info.value.message
    if hint:
        assert hint in (info.value.hint or "")


@pytest.mark.parametrize("text, message, hint", [
    ("scenario:\n  one: {}\n", "line 2: unknown key 'scenario'.", "Did you mean 'scenarios'?"),
    ("parameters:\n  a: {typ: int}\n", "line 3: parameter 'a': unknown key 'typ'.", "Did you mean 'type'?"),
    ("parameters:\n  a: {type: integer}\n", "line 3: parameter 'a': unknown type 'integer'.", None),
    ("parameters:\n  nmae: {type: str}\n", "line 3: unknown parameter 'nmae' in 'parameters'", "Did you mean 'name'?"),
    ("parameters:\n  name: {pattern: '['}\n", "line 3: parameter 'name': 'pattern' '[' is not a valid regular expression", None),
    ("parameters:\n  a: {within: data}\n", "line 3: parameter 'a': 'within' only applies to type: path.", "Add `type: path`."),
    ("parameters:\n  a: {type: path, within: nowhere}\n", "line 3: parameter 'a': 'within' folder 'nowhere' does not exist", None),
    ("parameters:\n  a: {choices: []}\n", "line 3: parameter 'a': 'choices' must be a non-empty list.", None),
    ("parameters:\n  a: {min: low}\n", "line 3: parameter 'a': 'min' expects an int, got 'low'.", None),
    ("scenarios:\n  one: 5\n", "line 3: scenario 'one' must map parameter names to values, got 5.", None),
    ("scenarios:\n  one:\n    1abc: 3\n", "line 4: parameter name '1abc' is not a valid Python identifier.", None),
    ("scenarios:\n  one:\n    'x; import os': 3\n", "line 4: parameter name 'x; import os' is not a valid Python identifier.", None),
    ("scenarios:\n  one: {a: 1}\nsweeps:\n  s: {grid: {a: 3}}\n", "line 5: sweep 's': 'a' must be a non-empty list of values, got 3.", None),
    ("scenarios:\n  one: {a: 1}\nsweeps:\n  s: {base: onee, grid: {a: [1]}}\n", "line 5: sweep 's': base 'onee' is not a scenario.", "Did you mean 'one'?"),
    ("sweeps:\n  s: {a: [1, 2]}\n", "line 3: sweep 's' needs a 'grid:' mapping", None),
    ("baseline: nope\nscenarios:\n  one: {}\n", "line 2: baseline 'nope' is not a scenario.", None),
    ("scenarios:\n  one:\n    flag: maybe\n", "line 4: parameter 'flag' expects a bool, got 'maybe'.", None),
])
def test_config_mistakes(tmp_path: Path, text: str, message: str, hint: str | None) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError if "expects a bool" not in message else ParameterError) as info:
        load_config(path)
    assert info.value.message.startswith(f"{path}, ")
    assert message in info.value.message
    if hint:
        assert hint in (info.value.hint or "")
    assert info.value.exit_code == 2


def test_refinements_for_a_notebook_without_parameters_cell(tmp_path: Path) -> None:
    path = write_config(tmp_path, "parameters:\n  x: {type: int}\n", notebook=NOTEBOOKS / "no_parameters.ipynb")
    with pytest.raises(ConfigError, match="has no cell tagged 'parameters'"):
        load_config(path)


def test_required_parameter_without_value(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "n.ipynb", [("x = None", ["parameters"])])
    path = write_config(tmp_path, "parameters:\n  x: {type: int, required: true}\n", notebook=nb)
    with pytest.raises(ParameterError, match="'x' is required and has no value") as info:
        load_config(path)
    assert "-p x=VALUE" in (info.value.hint or "")


def test_refinement_retypes_default_and_label(tmp_path: Path) -> None:
    path = write_config(tmp_path, "parameters:\n  a: {type: float, label: The A, help: why}\n  b: {default: 4.5}\n")
    schema = load_config(path).schema
    a = schema.get("a")
    assert (a.type, a.default, a.title, a.help) == ("float", 1.0, "The A", "why")
    assert schema.get("b").default == 4.5
    assert schema.resolve()["a"] == 1.0


# --- dates stay strings ------------------------------------------------------------------------

def test_yaml_dates_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("a: 2025-05-05\nb: 2025-05-05 10:00:00\nc: [2024-01-01]\n")
    doc = load_yaml(path)
    assert doc.data == {"a": "2025-05-05", "b": "2025-05-05 10:00:00", "c": ["2024-01-01"]}
    assert (doc.line("a"), doc.line("b"), doc.line("c", 0)) == (1, 2, 3)


@pytest.fixture
def dated(tmp_path: Path) -> Path:
    nb = write_notebook(tmp_path / "dated.ipynb", [('start = "2024-01-01"\nlabel = "2024-01-01"\nwhen = None', ["parameters"])])
    return nb


def test_date_type_from_yaml(tmp_path: Path, dated: Path) -> None:
    path = write_config(tmp_path, """
parameters:
  start: {type: date, min: 2024-01-01, max: "2025-12-31"}
  when: {type: datetime}
scenarios:
  one: {start: 2025-05-05, label: 2025-06-06, when: 2025-05-05 10:30:00}
""", notebook=dated)
    config = load_config(path)
    start = config.schema.get("start")
    assert (start.type, start.min, start.max) == ("date", "2024-01-01", "2025-12-31")
    [plan] = plan_runs(config)
    assert plan.parameters == {"start": "2025-05-05", "label": "2025-06-06", "when": "2025-05-05T10:30:00"}
    assert all(isinstance(v, str) for v in plan.parameters.values())


@pytest.mark.parametrize("value, fragment", [
    ("2023-12-31", "expects a date between 2024-01-01 and 2025-12-31, got '2023-12-31'."),
    ("2025-02-30", "expects a date between 2024-01-01 and 2025-12-31, got '2025-02-30'."),
    ("tomorrow", "got 'tomorrow'."),
])
def test_date_out_of_range_or_invalid(tmp_path: Path, dated: Path, value: str, fragment: str) -> None:
    path = write_config(tmp_path, f"""
parameters:
  start: {{type: date, min: 2024-01-01, max: 2025-12-31}}
scenarios:
  one:
    start: {value}
""", notebook=dated)
    with pytest.raises(ParameterError) as info:
        load_config(path)
    assert info.value.message.startswith(f"{path}, line 7: parameter 'start' ")
    assert fragment in info.value.message


def test_refinement_errors_are_not_repeated(tmp_path: Path) -> None:
    path = write_config(tmp_path, "parameters:\n  a: {choices: []}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message == f"{path}, line 3: parameter 'a': 'choices' must be a non-empty list."
    path = write_config(tmp_path, "parameters:\n  a: {choices: [1, x]}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message == f"{path}, line 3: parameter 'a': 'choices' expects an int, got 'x'."


@pytest.mark.parametrize("name", ["pandas", "matplotlib.pyplot", "_private", "sklearn.linear_model", "café", "a1.b2"])
def test_module_names_accepted_as_warm_imports(name: str) -> None:
    from livedocs_runner.notebook import check_module_name
    assert check_module_name(name) == name


@pytest.mark.parametrize("name", ["os; open('/tmp/x','w')", "os.", ".os", "1os", "os path", "import", "os.class",
                                  "os\n", "os\nimport sys", "", "os\\", "__import__('os')", 5, None, ["os"]])
def test_anything_but_a_module_name_is_refused_as_warm_import(tmp_path: Path, name: object) -> None:
    from livedocs_runner.notebook import check_module_name
    with pytest.raises(ValueError, match="is not a module name"):
        check_module_name(name)
    import json
    path = write_config(tmp_path, f"warm_imports: [pandas, {json.dumps(name)}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message.startswith(f"{path}, line 2: 'warm_imports': ")


def test_warm_imports_from_the_notebook_are_module_names_only(tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "n.ipynb", [("x = 1", ["parameters"]),
                                               "import os, numpy.linalg as la\nfrom collections import abc\n"
                                               "from . import sibling\n%matplotlib inline\nimport ñu"])
    config = load_target(nb)
    assert config.notebook.top_level_imports() == ("os", "numpy.linalg", "collections")
    (plan,) = plan_runs(config)
    assert plan.warm_imports == ("os", "numpy.linalg", "collections")


# --- plain words for the form: labels, examples, item counts, descriptions (issue 10 item 2) -------

@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """A notebook with a list, a text code and a data file, next to a data folder of quarterly CSVs."""
    for name in ("loans_2025Q3.csv", "loans_2025Q4.csv", "notes.txt"):
        (tmp_path / "data" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "data" / name).write_text("x\n", encoding="utf-8")
    return write_notebook(tmp_path / "labelled.ipynb", [(
        'regions = ["north", "south"]\ncode = "EU-1"\ndata_file = "data/loans_2025Q4.csv"\ndescription = "x"',
        ["parameters"])])


PATTERN = r"'.*/loans_(?P<year>\d{4})Q(?P<quarter>\d)\.csv'"


@pytest.mark.parametrize("text, message, hint", [
    ("parameters:\n  regions: {type: list, min_items: 0.5}\n",
     "line 3: parameter 'regions': 'min_items' must be a whole number of items (0 or more), got 0.5.", "`min_items: 1`"),
    ("parameters:\n  regions: {type: list, max_items: -1}\n",
     "line 3: parameter 'regions': 'max_items' must be a whole number of items (0 or more), got -1.", None),
    ("parameters:\n  regions: {type: list, min_items: true}\n",
     "line 3: parameter 'regions': 'min_items' must be a whole number of items (0 or more), got True.", None),
    ("parameters:\n  regions: {type: list, min_items: 3, max_items: 2}\n",
     "line 3: parameter 'regions': 'min_items' (3) is more than 'max_items' (2).", None),
    ("parameters:\n  code: {min_items: 1}\n", "line 3: parameter 'code': 'min_items' only applies to type: list.", "Add `type: list`."),
    ("parameters:\n  regions: {type: list, choices: [north, south], min_items: 3}\n",
     "line 3: parameter 'regions': 'min_items' is 3, but there are only 2 choices.", None),
    ("parameters:\n  regions: {type: list, min_items: 1}\nscenarios:\n  none: {regions: []}\n",
     "line 5: Regions (parameter 'regions'): choose at least one item; got none.", None),
    ("parameters:\n  regions: {type: list, max_items: 1}\n",  # the notebook's default has two
     "the default of Regions (parameter 'regions'): choose at most one item; got 2.", None),
    ("parameters:\n  code: {choices: {EU-1: Europe, US-1: Europe}}\n",
     "line 3: parameter 'code': 'choices': the label 'Europe' is used twice.", "its own label"),
    ("parameters:\n  code: {choices: {EU-1: 5}}\n",
     "line 3: parameter 'code': 'choices': the label of 'EU-1' must be text, got 5.", "Quote it"),
    ("parameters:\n  code: {choices: [{value: EU-1, label: Europe}, US-1]}\n",
     "line 3: parameter 'code': 'choices': every item of a labelled list is {value: ..., label: ...}, got 'US-1'.", None),
    ("parameters:\n  code: {choices: [{value: EU-1, name: Europe}]}\n",
     "line 3: parameter 'code': 'choices': every item of a labelled list is {value: ..., label: ...}", None),
    ("parameters:\n  code: {choices: {}}\n", "line 3: parameter 'code': 'choices' must be a non-empty mapping.", None),
    ("parameters:\n  code: {choices: {EU-1: '" + "x" * 81 + "'}}\n",
     "characters long; the limit is 80.", None),
    ("parameters:\n  code: {example: EU-1}\n",
     "line 3: parameter 'code': 'example' shows people a value that fits the 'pattern'; add a `pattern:`", None),
    ("parameters:\n  code: {pattern: '[A-Z]{2}-\\d', example: eu-1}\n",
     "line 3: parameter 'code': 'example' 'eu-1' does not fit the pattern.", "Give a value the pattern accepts."),
    ("parameters:\n  code: {pattern: '[A-Z]{2}-\\d', example: 7}\n",
     "line 3: parameter 'code': 'example' must be text, got 7.", None),
    ("parameters:\n  data_file: {type: path, pattern: " + PATTERN + ", example: notes.txt}\n",
     "line 3: parameter 'data_file': 'example' 'notes.txt' does not fit the pattern.", None),
    ("parameters:\n  data_file: {type: path, file_label: '{year}'}\n",
     "line 3: parameter 'data_file': 'file_label' fills its {fields} from the named groups of 'pattern'; add a `pattern:`.", None),
    ("parameters:\n  data_file: {type: path, pattern: " + PATTERN + ", file_label: '{yaer} Q{quarter}'}\n",
     "line 3: parameter 'data_file': 'file_label' '{yaer} Q{quarter}' uses {yaer}, which is not a named group of the pattern.",
     "Named groups: year, quarter."),
    ("parameters:\n  data_file: {type: path, pattern: " + PATTERN + ", file_label: '{year.__class__}'}\n",
     "line 3: parameter 'data_file': 'file_label' '{year.__class__}' has the field {year.__class__}; a field is a "
     "group name of the pattern, like {year}.", None),
    ("parameters:\n  data_file: {type: path, pattern: " + PATTERN + ", file_label: '{year[0]}'}\n",
     "has the field {year[0]}", None),
    ("parameters:\n  data_file: {type: path, pattern: " + PATTERN + ", file_label: 'Q{quarter'}\n",
     "'file_label' 'Q{quarter' has a lone '{'; write {{ for a brace.", None),
    ("parameters:\n  code: {file_label: '{x}'}\n", "line 3: parameter 'code': 'file_label' only applies to type: path.", None),
    ("parameters:\n  data_file: {type: path, file_labels: {data/missing.csv: Missing}}\n",
     "line 3: parameter 'data_file': 'file_labels': expects a path, got 'data/missing.csv' (no such file).", None),
    ("parameters:\n  data_file: {type: path, within: data, file_labels: {labelled.ipynb: Me}}\n",
     "line 3: parameter 'data_file': 'file_labels': expects a path inside ", None),
    ("parameters:\n  data_file: {type: path, file_labels: [a, b]}\n",
     "line 3: parameter 'data_file': 'file_labels' must map files to labels, got ['a', 'b'].", "relative to this file"),
    # this notebook has a 'description' parameter: in a scenario, that key sets it (as before), checked as a str
    ("scenarios:\n  one:\n    description: [not, text]\n", None, None),
    ("parameters:\n  code: {}\nsweeps:\n  s: {description: 5, grid: {code: [a]}}\n",
     "line 5: 'description:' must be text, got 5.", "Quote it in YAML."),
    ("sweeps:\n  s: {describe: x, grid: {code: [a]}}\n", "line 3: sweep 's': unknown key 'describe'.",
     "'base:' and 'description:'"),
])
def test_label_example_and_count_mistakes(labelled: Path, tmp_path: Path, text: str, message: str | None,
                                          hint: str | None) -> None:
    path = write_config(tmp_path, text, notebook=labelled)
    if message is None:
        with pytest.raises(ParameterError, match="parameter 'description' expects a str"):
            load_config(path)
        return
    with pytest.raises(InputError) as info:
        load_config(path)
    assert message in info.value.message
    assert info.value.message.startswith(str(path)) or "default of" in info.value.message
    if hint:
        assert hint in (info.value.hint or "")


def test_labels_examples_counts_and_descriptions_load(labelled: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path, f"""parameters:
  regions: {{type: list, choices: [{{value: north, label: North}}, {{value: south, label: South}}], min_items: 1, max_items: 2}}
  code: {{pattern: '[A-Z]{{2}}-\\d', example: EU-1, choices: {{EU-1: Europe, US-1: United States}}}}
  data_file:
    type: path
    within: data
    pattern: {PATTERN}
    file_label: "{{year}} Q{{quarter}}"
    file_labels: {{data/loans_2025Q3.csv: Summer 2025}}
scenarios:
  base:
    description: "  Both regions,\\n   the latest quarter. "
  north: {{regions: [north]}}
sweeps:
  by_region:
    description: One region at a time.
    grid: {{regions: [[north], [south]]}}
""", notebook=write_notebook(tmp_path / "nb.ipynb", [(
        'regions = ["north", "south"]\ncode = "EU-1"\ndata_file = "data/loans_2025Q4.csv"', ["parameters"])]))
    (tmp_path / "data").mkdir(exist_ok=True)
    for name in ("loans_2025Q3.csv", "loans_2025Q4.csv"):
        (tmp_path / "data" / name).write_text("x\n", encoding="utf-8")
    config = load_config(path)
    regions, code, data_file = (config.schema.get(n) for n in ("regions", "code", "data_file"))
    assert (regions.choices, regions.choice_labels, regions.min_items, regions.max_items) == (
        ("north", "south"), ("North", "South"), 1, 2)
    assert (code.choices, code.choice_labels, code.example) == (("EU-1", "US-1"), ("Europe", "United States"), "EU-1")
    assert data_file.file_label == "{year} Q{quarter}"
    assert data_file.file_labels == ((str(tmp_path / "data" / "loans_2025Q3.csv"), "Summer 2025"),)
    assert [(s.name, s.description) for s in config.scenarios] == [
        ("base", "Both regions, the latest quarter."), ("north", ""),
        ('by_region[regions=["north"]]', "One region at a time."), ('by_region[regions=["south"]]', "One region at a time.")]
    assert config.scenarios[0].values == {}  # the description is not a parameter value
    assert config.schema.to_json()["parameters"][0]["choice_labels"] == ["North", "South"]


def test_min_items_refused_on_the_command_line_before_running(labelled: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path, "parameters:\n  regions: {type: list, choices: [north, south], min_items: 1}\n",
                        notebook=labelled)
    with pytest.raises(ParameterError) as info:
        plan_runs(path, overrides=parse_overrides(["regions=[]"]))
    assert info.value.message.endswith("Regions (parameter 'regions'): choose at least one item; got none.")


def test_min_items_refused_by_the_real_cli_before_running(run_cli, home: Path) -> None:
    from tests.conftest import REPO, run_records
    result = run_cli("run", REPO / "configs" / "credit_risk.yaml", "-s", "baseline", "-p", "segments=[]")
    assert (result.code, result.stdout) == (2, ""), result.stderr
    assert result.stderr.splitlines()[0].endswith("Regions (parameter 'segments'): choose at least one item; got none.")
    assert run_records(home) == []  # nothing ran, nothing was recorded
