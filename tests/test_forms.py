"""Schema -> form description, and form values -> parameters, without any UI."""

from __future__ import annotations

import datetime as dt
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
    (ParamSpec(name="x", type="list", default=[1, 2]), "json", {}),
    (ParamSpec(name="x", type="dict", default={"k": 1}), "json", {}),
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
    assert "^[a-z]+$" in form.field("name").help
    credit = build_form(load_config(CREDIT).schema)
    assert credit.field("threshold").label == "Approval threshold"
    assert credit.field("threshold").help.startswith("approve when")


def test_path_within_is_a_picker_of_the_folder_files(credit):
    field = build_form(credit.schema).field("data_file")
    data = ROOT / "data"
    assert field.widget == "file"
    # the config's pattern keeps the picker to the quarterly CSVs (no README.md, no make_data.py)
    assert field.choices == tuple(sorted(str(p.resolve()) for p in data.glob("loans_*.csv")))
    assert "loans_2025Q1.csv" in field.choice_labels
    assert field.default == str(data / "loans_2026Q3.csv")
    assert field.label_of(str(data / "loans_2025Q1.csv")) == "loans_2025Q1.csv"


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
    ({"product": "tea"}, "parameter 'product' expects a str from 'espresso_beans', 'filter_coffee', 'cold_brew', 'hot_chocolate', got 'tea' ('tea' is not one of the choices)."),
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
    assert shown == cli  # the CLI only adds which target the -p value was given for


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
