"""Schema -> form description, and form values -> parameters, without any UI."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from livedocs_runner.errors import ConfigError, ParameterError
from livedocs_runner.forms import Field, build_form, field_for, form_values_to_params, scenario_params
from livedocs_runner.params import ParamSpec
from livedocs_runner.scenarios import load_config

ROOT = Path(__file__).resolve().parent.parent
CREDIT = ROOT / "configs" / "credit_risk.yaml"
PRICING = ROOT / "configs" / "pricing_whatif.yaml"
SIMPLE = ROOT / "tests" / "data" / "configs" / "simple.yaml"


@pytest.fixture(scope="module")
def credit():
    return load_config(CREDIT)


@pytest.mark.parametrize("spec, widget, extra", [
    (ParamSpec(name="x", type="float", default=0.5, min=0.0, max=1.0), "slider", {"step": 0.01, "min": 0.0, "max": 1.0}),
    (ParamSpec(name="x", type="float", default=0.5, min=-4.0, max=0.0), "slider", {"step": 0.01}),
    (ParamSpec(name="x", type="float", default=0.5, min=-50.0, max=50.0), "slider", {"step": 1.0}),
    (ParamSpec(name="x", type="float", default=0.5, min=0.0), "number", {"min": 0.0, "max": None, "step": 0.01}),
    (ParamSpec(name="x", type="int", default=3), "number", {"step": 1}),
    (ParamSpec(name="x", type="int", default=300, min=300, max=850), "slider", {"step": 1}),
    (ParamSpec(name="x", type="bool", default=True), "toggle", {}),
    (ParamSpec(name="x", type="str", default="a", choices=("a", "b")), "select", {"choices": ("a", "b")}),
    (ParamSpec(name="x", type="list", default=["a"], choices=("a", "b")), "multiselect", {"choices": ("a", "b")}),
    (ParamSpec(name="x", type="date", default="2025-01-06", min="2024-01-01"), "date", {"min": "2024-01-01"}),
    (ParamSpec(name="x", type="str", default="w"), "text", {}),
    (ParamSpec(name="x", type="datetime", default="2025-01-06T10:00:00"), "text", {}),
    (ParamSpec(name="x", type="list", default=[1, 2]), "lines", {"item_type": "int"}),
    (ParamSpec(name="x", type="list", default=["a b", "c"]), "lines", {"item_type": "str"}),
    (ParamSpec(name="x", type="list", default=[1, 2.5]), "lines", {"item_type": "float"}),
    (ParamSpec(name="x", type="list", default=None), "lines", {"item_type": "str"}),
    (ParamSpec(name="x", type="list", default=[[1], 2]), "json", {}),  # nested: no one line per item
    (ParamSpec(name="x", type="list", default=[" padded"]), "json", {}),  # a line would lose the space
    (ParamSpec(name="x", type="list", default=[True]), "json", {}),
    (ParamSpec(name="x", type="dict", default={"k": 1}), "pairs", {"item_type": "int"}),
    (ParamSpec(name="x", type="dict", default={"a:b": 1}), "json", {}),  # the key holds the separator
    (ParamSpec(name="x", type="dict", default={"k": {"n": 1}}), "json", {}),
    (ParamSpec(name="x", type="any", default=None), "json", {}),
    (ParamSpec(name="x", type="path", default="/etc/passwd"), "fixed", {}),
])
def test_widget_for_each_type(spec, widget, extra):
    field = field_for(spec, spec.default)
    assert field.widget == widget
    for key, value in extra.items():
        assert getattr(field, key) == value, key


def test_labels_and_help_come_from_config_and_comment():
    form = build_form(load_config(SIMPLE).schema)
    assert form.field("a").label == "A" and form.field("a").help == "an int"
    assert "^[a-z]+$" not in form.field("name").help  # a pattern is shown as an example value
    assert form.field("name").help.endswith("Use a value like a.")
    credit = build_form(load_config(CREDIT).schema)
    assert credit.field("threshold").label == "Approval threshold"
    assert credit.field("threshold").help.startswith("approve when")


def test_path_within_is_a_picker_of_the_folder_files(credit):
    field = build_form(credit.schema).field("data_file")
    data = ROOT / "data"
    assert field.widget == "file"
    # the config's pattern keeps the picker to the quarterly CSVs (no README.md, no make_data.py)
    assert field.choices == tuple(sorted(str(p.resolve()) for p in data.glob("loans_*.csv")))
    assert "loans_2025Q1.csv" in field.choice_keys  # what a shared link carries
    assert field.default == str(data / "loans_2026Q3.csv")
    assert field.label_of(str(data / "loans_2025Q1.csv")) == "2025 Q1"  # the config's file_label template
    assert field.key_of(str(data / "loans_2025Q1.csv")) == "loans_2025Q1.csv"


def test_form_order_and_defaults_follow_the_parameters_cell(credit):
    form = build_form(credit.schema)
    assert form.names == ["data_file", "threshold", "unemployment_shock", "min_credit_score", "segments"]
    assert form.field("segments").default == ["north", "south", "east", "west"]


@pytest.mark.parametrize("field, params_value, widget_value", [
    (Field(name="d", label="D", help="", widget="date", type="date"), "2025-05-05", dt.date(2025, 5, 5)),
    (Field(name="j", label="J", help="", widget="json", type="list"), [1, "a"], '[1, "a"]'),
    (Field(name="j", label="J", help="", widget="json", type="any"), None, "null"),
    (Field(name="m", label="M", help="", widget="multiselect", type="list", choices=("a", "b")), ["b", "z"], ["b"]),
    (Field(name="t", label="T", help="", widget="text", type="str"), None, ""),
    (Field(name="n", label="N", help="", widget="slider", type="float"), 0.4, 0.4),
])
def test_to_widget(field, params_value, widget_value):
    assert field.to_widget(params_value) == widget_value


@pytest.mark.parametrize("values, expected", [
    ({"threshold": 0.4}, {"threshold": 0.4}),
    ({"threshold": 0.39999999999999997}, {"threshold": 0.4}),  # slider step noise
    ({"threshold": "0.45"}, {"threshold": 0.45}),  # a shared link carries text
    ({"min_credit_score": 500}, {"min_credit_score": 500}),
    ({"segments": ["north"]}, {"segments": ["north"]}),
    ({"segments": "north,east"}, {"segments": ["north", "east"]}),
    ({"segments": '["south"]'}, {"segments": ["south"]}),
    ({"data_file": "loans_2025Q1.csv"}, {"data_file": str(ROOT / "data" / "loans_2025Q1.csv")}),
    ({"data_file": str(ROOT / "data" / "loans_2024Q2.csv")}, {"data_file": str(ROOT / "data" / "loans_2024Q2.csv")}),
])
def test_form_values_to_params(credit, values, expected):
    params = form_values_to_params(credit, values)
    for key, value in expected.items():
        assert params[key] == value
    assert set(params) == set(credit.schema.names)


@pytest.mark.parametrize("values, message", [
    ({"include_promo": False, "start_date": dt.date(2025, 3, 3)}, None),
    ({"start_date": dt.date(2023, 1, 1)}, "parameter 'start_date' expects a date between 2024-01-01 and 2025-12-22, got '2023-01-01'."),
    ({"product": "tea"}, "parameter 'product' expects a str from 'Espresso beans' ('espresso_beans'), 'Filter coffee' "
                         "('filter_coffee'), 'Cold brew' ('cold_brew'), 'Hot chocolate' ('hot_chocolate'), got 'tea' "
                         "('tea' is not one of the choices)."),
    ({"price_change_pct": 80.0}, "parameter 'price_change_pct' expects a float between -50.0 and 50.0, got '80.0'."),
])
def test_pricing_values(values, message):
    config = load_config(PRICING)
    if message is None:
        params = form_values_to_params(config, values)
        assert params["start_date"] == "2025-03-03" and params["include_promo"] is False
        return
    with pytest.raises(ParameterError) as err:
        form_values_to_params(config, values)
    assert err.value.message == message


def _cli_error(*args: str, tmp_path: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "livedocs_runner.cli", "--home", str(tmp_path), *args],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    return done.stderr.strip()


@pytest.mark.parametrize("name, text", [
    ("threshold", "high"),
    ("threshold", "1.5"),
    ("min_credit_score", "12.5"),
    ("treshold", "0.4"),
    ("data_file", "/etc/passwd"),
    ("segments", '["north", "middle"]'),
])
def test_refused_with_exactly_the_cli_message(credit, tmp_path, name, text):
    cli = _cli_error("run", str(CREDIT), "-p", f"{name}={text}", tmp_path=tmp_path)
    with pytest.raises(ParameterError) as err:
        form_values_to_params(credit, {name: text})
    shown = f"Error: {CREDIT} (-p): {err.value.message}" + (f"\n{err.value.hint}" if err.value.hint else "")
    # the one difference: the form shows a pattern as an example value (here the default file's name)
    regex = "matching '.*/loans_(?P<year>\\d{4})Q(?P<quarter>\\d)\\.csv'"
    assert shown == cli.replace(regex, "named like 'loans_2026Q3.csv'")  # the CLI only adds the -p target
    assert "(?P" not in shown


def test_widget_values_are_refused_like_their_cli_text(credit, tmp_path):
    cli = _cli_error("run", str(CREDIT), "-p", "threshold=1.5", tmp_path=tmp_path)
    with pytest.raises(ParameterError) as err:
        form_values_to_params(credit, {"threshold": 1.5})
    assert f"Error: {CREDIT} (-p): {err.value.message}" == cli


def test_scenario_params_prefill(credit):
    assert scenario_params(credit, "stress")["threshold"] == 0.4
    assert scenario_params(credit, "q1_2025")["data_file"] == str(ROOT / "data" / "loans_2025Q1.csv")
    assert scenario_params(credit, "threshold_sweep[threshold=0.3]")["threshold"] == 0.3
    with pytest.raises(ConfigError, match="Did you mean 'stress'"):
        scenario_params(credit, "stres")


def test_base_values_then_form_values(credit):
    params = form_values_to_params(credit, {"threshold": "0.6"}, base=scenario_params(credit, "stress"))
    assert params["threshold"] == 0.6 and params["unemployment_shock"] == 3.0


def test_core_does_not_import_ui_libraries():
    code = ("import sys, livedocs_runner.forms, livedocs_runner.jobs; "
            "bad = [m for m in ('streamlit', 'click') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


# --- item 12: values the form used to get wrong -----------------------------------------------

@pytest.fixture
def any_and_path(tmp_path):
    """A notebook with an ``any`` parameter and a ``path`` without ``within:`` (a fixed field)."""
    from tests.conftest import write_notebook
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("x\n2\n")
    write_notebook(tmp_path / "nb.ipynb", [('x = None  # anything\nsrc = "a.csv"\nlimit = 3', ["parameters"]), "print(x)"])
    config = tmp_path / "c.yaml"
    config.write_text("notebook: nb.ipynb\nparameters:\n  src: {type: path}\n"
                      "scenarios:\n  base: {}\n  other_file: {src: b.csv}\n", encoding="utf-8")
    return load_config(config)


def test_untouched_any_parameter_stays_none(any_and_path):
    form = build_form(any_and_path.schema)
    field = form.field("x")
    assert (field.widget, field.type) == ("json", "any")
    widget = field.to_widget(None)  # what the untouched text area holds
    assert form_values_to_params(any_and_path, {"x": widget})["x"] is None


@pytest.mark.parametrize("text, value", [
    ("null", None), ("", None), ("  ", None), ("3", 3), ("2.5", 2.5), ("true", True), ('"null"', "null"),
    ('"hello"', "hello"), ('[1, "a", null]', [1, "a", None]), ('{"k": {"n": [1]}}', {"k": {"n": [1]}}),
])
def test_typed_json_for_an_any_parameter_is_parsed(any_and_path, text, value):
    assert form_values_to_params(any_and_path, {"x": text})["x"] == value


@pytest.mark.parametrize("text", ["hello", "[1, 2", "{'k': 1}", "NaN", "[" * 5000 + "]" * 5000, "x" * 500])
def test_bad_json_for_an_any_parameter_is_refused(any_and_path, text):
    with pytest.raises(ParameterError) as err:
        form_values_to_params(any_and_path, {"x": text})
    assert err.value.message.startswith('parameter \'x\' expects a number, "text in double quotes", true, false, '
                                        'null, a list like [1, 2] or a dict like {"a": 1}, got ')
    assert "JSON" not in str(err.value)
    assert len(err.value.message) < 200  # a long value is quoted truncated
    assert "double quotes" in err.value.hint


def test_any_value_round_trips_through_a_shared_link(any_and_path):
    field = build_form(any_and_path.schema).field("x")
    for value in (None, "null", "text", 3, [1, {"a": None}], True):
        assert form_values_to_params(any_and_path, {"x": field.to_text(value)})["x"] == value


def test_scenario_path_without_within_is_kept(any_and_path):
    """The form never shows a server path to edit, so the scenario's file must reach the run."""
    form = build_form(any_and_path.schema)
    assert form.field("src").widget == "fixed"
    base = scenario_params(any_and_path, "other_file")
    assert base["src"].endswith("b.csv")
    values = {f.name: f.to_widget(base[f.name]) for f in form.fields if f.widget != "fixed"}
    params = form_values_to_params(any_and_path, values, base=base)
    assert params == base  # untouched: the run is the scenario, not "(edited)"
    assert form_values_to_params(any_and_path, {**values, "limit": 4}, base=base)["src"].endswith("b.csv")


@pytest.mark.parametrize("value", ["/etc/passwd", "b.csv", "a.csv"])
def test_a_fixed_path_cannot_be_set_from_the_form(any_and_path, value):
    with pytest.raises(ParameterError, match="parameter 'src' cannot be set from the web form"):
        form_values_to_params(any_and_path, {"src": value}, base=scenario_params(any_and_path, "base"))


# --- the file picker --------------------------------------------------------------------------

def test_file_picker_lists_only_files_inside_the_folder(tmp_path):
    from livedocs_runner.forms import list_files
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("1")
    (data / "sub" / "b.csv").write_text("2")
    (data / ".hidden.csv").write_text("3")
    (data / ".git").mkdir()
    (data / ".git" / "c.csv").write_text("4")
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.csv").write_text("x")
    (data / "link_out.txt").symlink_to(secret)  # a link to a file outside: never listed
    (data / "link_etc").symlink_to("/etc/passwd")
    (data / "link_dir").symlink_to(tmp_path / "elsewhere", target_is_directory=True)  # not entered
    (data / "dangling").symlink_to(tmp_path / "nope")
    (data / "loop").symlink_to(data / "loop")
    (data / "link_in.csv").symlink_to(data / "sub" / "b.csv")  # inside: listed as its target
    (data / "fifo").mkfifo() if hasattr(Path, "mkfifo") else __import__("os").mkfifo(data / "fifo")
    assert list_files(data) == [str(data / "a.csv"), str(data / "sub" / "b.csv")]
    assert list_files(data / "link_dir") == [str(tmp_path / "elsewhere" / "x.csv")]  # the folder itself may be a link
    assert list_files(tmp_path / "missing") == []


def test_file_picker_is_bounded(tmp_path, monkeypatch):
    from livedocs_runner import forms
    for n in range(30):
        (tmp_path / f"f{n:02}.csv").write_text("1")
    monkeypatch.setattr(forms, "MAX_FILES", 5)
    assert len(forms.list_files(tmp_path)) == 5
    monkeypatch.setattr(forms, "MAX_FILES", 500)
    monkeypatch.setattr(forms, "MAX_ENTRIES", 10)
    assert len(forms.list_files(tmp_path)) == 10


@pytest.mark.skipif(hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
                    reason="root can read every file")
def test_file_picker_skips_unreadable_files(tmp_path):
    from livedocs_runner.forms import list_files
    (tmp_path / "ok.csv").write_text("1")
    locked = tmp_path / "locked.csv"
    locked.write_text("2")
    locked.chmod(0)
    assert list_files(tmp_path) == [str(tmp_path / "ok.csv")]


def test_picker_default_outside_the_folder_is_not_offered(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.csv").write_text("1")
    (tmp_path / "out.csv").write_text("2")
    spec = ParamSpec(name="f", type="path", default=str(tmp_path / "out.csv"), within=str(data))
    field = field_for(spec, spec.default)
    assert field.choices == (str(data / "in.csv"),) and field.choice_labels == ("in.csv",)


def test_picker_labels_are_relative_when_within_is_reached_through_a_link(tmp_path):
    data = tmp_path / "real"
    (data / "q").mkdir(parents=True)
    (data / "q" / "a.csv").write_text("1")
    (tmp_path / "alias").symlink_to(data, target_is_directory=True)
    spec = ParamSpec(name="f", type="path", within=str(tmp_path / "alias"))
    field = field_for(spec)
    assert field.choices == (str(data / "q" / "a.csv"),) and field.choice_labels == ("q/a.csv",)


def test_file_picker_pattern_that_backtracks_ends_the_listing(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    slow = "2" + "a" * 40 + "!"  # "(a|aa)+b" backtracks exponentially on this name
    for name in ("0ab", "1aab", slow, "3ab"):
        (folder / name).write_text("x", encoding="utf-8")
    spec = ParamSpec(name="f", type="path", within=str(folder), pattern=r".*/\d(a|aa)+b")
    field = field_for(spec)  # returns: the slow name ends the listing instead of hanging the page
    assert [Path(f).name for f in field.choices] == ["0ab", "1aab"]


# --- plain words: labels, lines, examples (issue 10 item 2) -----------------------------------------

QUARTERS = r".*/loans_(?P<year>\d{4})Q(?P<quarter>\d)\.csv"


@pytest.fixture
def quarters(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("loans_2025Q3.csv", "loans_2025Q4.csv", "old/loans_2025Q4.csv", "notes.txt"):
        (data / name).parent.mkdir(exist_ok=True)
        (data / name).write_text("x\n")
    return data


def test_file_labels_from_a_template_and_one_by_one(quarters):
    spec = ParamSpec(name="f", type="path", within=str(quarters), pattern=QUARTERS, file_label="{year} Q{quarter}",
                     file_labels=((str(quarters / "loans_2025Q3.csv"), "Summer 2025"),))
    field = field_for(spec)
    assert field.choice_keys == ("loans_2025Q3.csv", "loans_2025Q4.csv", "old/loans_2025Q4.csv")
    # a label given for the file wins; two files with the same label are told apart by their path
    assert field.choice_labels == ("Summer 2025", "2025 Q4 (loans_2025Q4.csv)", "2025 Q4 (old/loans_2025Q4.csv)")
    for choice, key, label in zip(field.choices, field.choice_keys, field.choice_labels):
        assert field.link_text(choice) == key
        assert field.from_widget(key) == choice and field.from_widget(label) == choice  # old and labelled links


def test_path_choices_with_labels_are_a_picker_without_paths(quarters, tmp_path):
    write = tmp_path / "c.yaml"
    from tests.conftest import write_notebook
    write_notebook(tmp_path / "n.ipynb", [('f = "data/loans_2025Q4.csv"', ["parameters"])])
    write.write_text("notebook: n.ipynb\nparameters:\n  f:\n    type: path\n    choices:\n"
                     "      data/loans_2025Q4.csv: '2025 Q4'\n      data/old/loans_2025Q4.csv: 'Q4, first delivery'\n")
    config = load_config(write)
    field = build_form(config.schema).field("f")
    assert field.widget == "file"
    assert [field.label_of(c) for c in field.choices] == ["2025 Q4", "Q4, first delivery"]
    assert field.choice_keys == ("loans_2025Q4.csv", "old/loans_2025Q4.csv")
    params = form_values_to_params(config, {"f": "old/loans_2025Q4.csv"})  # a shared link's text
    assert params["f"] == str(quarters / "old" / "loans_2025Q4.csv")
    assert form_values_to_params(config, {"f": "Q4, first delivery"})["f"] == params["f"]


def test_labelled_choices_show_labels_and_links_carry_values(credit):
    field = build_form(credit.schema).field("segments")
    assert [field.label_of(c) for c in field.choices] == ["North", "South", "East", "West"]
    assert field.link_text(["north", "east"]) == '["north", "east"]'
    assert form_values_to_params(credit, {"segments": field.link_text(["north", "east"])})["segments"] == ["north", "east"]


@pytest.mark.parametrize("spec, text, value", [
    (ParamSpec(name="x", type="list", default=["a"]), "north\n  south  \n\n", ["north", "south"]),
    (ParamSpec(name="x", type="list", default=["a"]), "007\n1.5", ["007", "1.5"]),  # text stays text
    (ParamSpec(name="x", type="list", default=[1]), "1\n-2\n", [1, -2]),
    (ParamSpec(name="x", type="list", default=[1.5]), "1\n2.5", [1, 2.5]),
    (ParamSpec(name="x", type="list", default=[1]), "", []),
    (ParamSpec(name="x", type="list", default=["a"]), '["a", "b c"]', ["a", "b c"]),  # a whole list still reads
    (ParamSpec(name="x", type="dict", default={"north": 0.2}), "north: 0.25\nsouth:1", {"north": 0.25, "south": 1}),
    (ParamSpec(name="x", type="dict", default={"n": "a"}), "n: a: b", {"n": "a: b"}),
    (ParamSpec(name="x", type="dict", default={"n": 1}), '{"k": 2}', {"k": 2}),
])
def test_lines_and_pairs_read_like_a_person_writes(spec, text, value):
    field = field_for(spec, spec.default)
    assert field.widget in ("lines", "pairs")
    assert spec.convert(field.from_widget(text)) == value
    assert spec.convert(field.from_widget(field.to_widget(value))) == value  # and round-trip


@pytest.mark.parametrize("spec, text, message", [
    (ParamSpec(name="x", type="list", label="Limits", default=[1]), "1\nten", "Limits: line 2 ('ten') is not a whole number."),
    (ParamSpec(name="x", type="list", label="Rates", default=[0.5]), "0.5\nnan", "Rates: line 2 ('nan') is not a number."),
    (ParamSpec(name="x", type="dict", label="Weights", default={"a": 1}), "a 1", "Weights: line 1 ('a 1') is not written as name: value."),
    (ParamSpec(name="x", type="dict", label="Weights", default={"a": 1}), ": 1", "Weights: line 1 (': 1') is not written as name: value."),
])
def test_lines_and_pairs_refuse_plainly(spec, text, message):
    with pytest.raises(ParameterError) as err:
        field_for(spec, spec.default).from_widget(text)
    assert err.value.message == message


REGEX_OR_CODE = re.compile(r"JSON|\\d|\(\?P|\[\^|\.\*|\^\[|\$'|regular expression|pattern")


@pytest.mark.parametrize("spec", [
    ParamSpec(name="x", type="str", pattern=r"[A-Z]{2}-\d", help="Region code."),
    ParamSpec(name="x", type="str", pattern=r"[A-Z]{2}-\d", example="EU-1"),
    ParamSpec(name="x", type="str", pattern=r"\p{Lu}+"),  # no example can be made: the help says nothing of it
    ParamSpec(name="x", type="path", within="/tmp", pattern=QUARTERS),
    ParamSpec(name="x", type="list", default=[1]),
    ParamSpec(name="x", type="list", default=[[1]]),
    ParamSpec(name="x", type="dict", default={"a": {"b": 1}}),
    ParamSpec(name="x", type="any"),
    ParamSpec(name="x", type="datetime", default="2025-01-01T00:00:00"),
])
def test_help_never_shows_a_regex_or_json(spec):
    field = field_for(spec, spec.default)
    assert not REGEX_OR_CODE.search(field.help), field.help


def test_help_gives_an_example_and_the_item_count():
    assert field_for(ParamSpec(name="x", type="str", pattern=r"[A-Z]{2}-\d", example="EU-1", help="Region.")).help == (
        "Region. Use a value like EU-1.")
    assert field_for(ParamSpec(name="x", type="str", pattern=r"[A-Z]{2}-\d")).help == "Use a value like AA-0."
    spec = ParamSpec(name="x", type="list", choices=("a", "b"), min_items=1, max_items=2, help="Pick.")
    field = field_for(spec, ["a"])
    assert field.help == "Pick. Choose at least one. Choose at most 2." and field.max_items == 2


def test_the_form_refuses_a_pattern_with_an_example_never_the_regex(tmp_path):
    from tests.conftest import write_notebook
    write_notebook(tmp_path / "n.ipynb", [('code = "EU-1"\nother = "x"', ["parameters"])])
    (tmp_path / "c.yaml").write_text("notebook: n.ipynb\nparameters:\n  code: {pattern: '[A-Z]{2}-\\d', example: EU-1}\n"
                                     "  other: {pattern: '\\p{Lu}+', default: X}\n")
    config = load_config(tmp_path / "c.yaml")
    for values, message in [({"code": "eu"}, "parameter 'code' expects a str like 'EU-1', got 'eu'."),
                            ({"other": "x"}, "parameter 'other' expects a str in the format its help describes, got 'x'.")]:
        with pytest.raises(ParameterError) as err:
            form_values_to_params(config, values)
        assert err.value.message == message


def test_every_field_of_the_demo_configs_reads_plainly(credit):
    for config in (credit, load_config(PRICING)):
        for field in build_form(config.schema).fields:
            assert not REGEX_OR_CODE.search(field.help), field.help
            for label in field.choice_labels:
                assert "/" not in label and not label.endswith(".csv"), label  # labels, not paths
