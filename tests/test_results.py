"""Result formatting: labels, units, formats, deltas and tones (livedocs_runner.results)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livedocs_runner.result_format import NO_DELTA, Delta, format_delta, format_value, metric_color
from livedocs_runner.results import (PLAIN, ResultSpec, SpecProblem, check_format, make_spec, spec_from_config,
                                     specs_for, specs_from_json, specs_to_json, title)


def spec(**kw) -> ResultSpec:
    return make_spec(**kw)


@pytest.mark.parametrize("value, fmt, unit, expected", [
    # plain (the default): separators, ~4 significant digits, no scientific notation for ordinary magnitudes
    (12345, None, None, "12,345"),
    (-12345, None, None, "-12,345"),
    (0, None, None, "0"),
    (0.123, None, None, "0.123"),
    (0.1234567, None, None, "0.1235"),
    (53.1, None, None, "53.1"),
    (12345.678, None, None, "12,346"),
    (3290000.0, None, None, "3,290,000"),
    (123456789012.0, None, None, "123,456,789,012"),
    (0.000123, None, None, "0.000123"),
    (-0.0, None, None, "0"),
    (0.30000000000000004, None, None, "0.3"),
    (1e20, None, None, "1e+20"),
    (float("nan"), None, None, "—"),
    (float("nan"), "percent", "loans", "—"),
    (float("inf"), None, None, "∞"),
    (float("-inf"), None, None, "-∞"),
    (10**400, None, None, "(a 401-digit number)"),
    # percent: a fraction, shown times 100
    (0.531, "percent", None, "53.1 %"),
    (0.531, "percent:0", None, "53 %"),
    (0.05312, "percent:2", None, "5.31 %"),
    (1, "percent", None, "100.0 %"),
    (-0.0001, "percent", None, "0.0 %"),
    # currency: in full below 100,000, compact above; never scientific for ordinary money
    (3290000, "currency:EUR", None, "€3.29 M"),
    (3290000, "€", None, "€3.29 M"),
    (12400, "currency:EUR", None, "€12,400"),
    (3.29, "currency:EUR", None, "€3.29"),
    (999.995, "€", None, "€1,000"),
    (124000, "$", None, "$124 k"),
    (999999, "€", None, "€1.00 M"),
    (12_400_000, "€", None, "€12.4 M"),
    (1.23e9, "£", None, "£1.23 bn"),
    (4.5e12, "€", None, "€4.50 tn"),
    (-3290000, "€", None, "-€3.29 M"),
    (3290000, "currency:chf", None, "CHF 3.29 M"),
    (0, "€", None, "€0.00"),
    # integer and decimals
    (12345.4, "integer", None, "12,345"),
    (12345, "integer", None, "12,345"),
    (0.5, "decimals:2", None, "0.50"),
    (1234.5678, "decimals:1", None, "1,234.6"),
    (-0.001, "decimals:2", None, "0.00"),
    # units follow numbers
    (12345, None, "loans", "12,345 loans"),
    (0.531, "percent", "of applications", "53.1 % of applications"),
    # anything but a number passes through as text
    ("AAA", "percent", None, "AAA"),
    (True, "percent", None, "True"),
    (None, "€", "loans", "—"),
    ([1, 2], None, None, "[1, 2]"),
    ({"type": "table", "columns": ["a"], "data": [[1], [2]]}, None, None, "(table, 2 rows)"),
])
def test_format_value(value, fmt, unit, expected) -> None:
    assert format_value(value, spec(format=fmt, unit=unit)) == expected


def test_format_value_without_a_spec_is_plain() -> None:
    assert format_value(0.531) == format_value(0.531, PLAIN) == "0.531"


@pytest.mark.parametrize("value, baseline, kw, text, relative, tone", [
    (0.531, 0.51, {"format": "percent", "better": "lower"}, "+2.1 pp", "+4.1 %", "bad"),
    (0.49, 0.51, {"format": "percent", "better": "lower"}, "-2.0 pp", "-3.9 %", "good"),
    (0.5004, 0.5, {"format": "percent"}, "+0.04 pp", "+0.1 %", "neutral"),
    (0.5, 0.5, {"format": "percent", "better": "higher"}, "0.0 pp", "0.0 %", "neutral"),
    (3_410_000, 3_290_000, {"format": "€", "better": "higher"}, "+€0.12 M", "+3.6 %", "good"),
    (3_170_000, 3_290_000, {"format": "€", "better": "lower"}, "-€0.12 M", "-3.6 %", "good"),
    (3_290_500, 3_290_000, {"format": "€"}, "+€500.00", "0.0 %", "neutral"),
    (124_000, 120_000, {"format": "€"}, "+€4 k", "+3.3 %", "neutral"),
    (12_400, 12_000, {"format": "€", "better": "higher"}, "+€400", "+3.3 %", "good"),
    (12, 10, {}, "+2", "+20.0 %", "neutral"),
    (10, 12, {"better": "lower"}, "-2", "-16.7 %", "good"),
    (1200, 1000, {"format": "integer", "unit": "loans", "better": "higher"}, "+200 loans", "+20.0 %", "good"),
    (0.3, 0.1, {}, "+0.2", "+200.0 %", "neutral"),
    (1.0, 0, {}, "+1", None, "neutral"),
    (0.52, 0.5, {"format": "decimals:1"}, "+0.02", "+4.0 %", "neutral"),
])
def test_format_delta(value, baseline, kw, text, relative, tone) -> None:
    delta = format_delta(value, baseline, spec(**kw))
    assert (delta.text, delta.relative, delta.tone) == (text, relative, tone)


@pytest.mark.parametrize("value, baseline", [("a", 1), (1, None), (True, 1), (float("nan"), 1.0),
                                             (1.0, float("inf")), (None, None), ({"type": "table"}, 1)])
def test_no_delta_for_what_is_not_a_number(value, baseline) -> None:
    delta = format_delta(value, baseline, spec(format="percent", better="higher"))
    assert delta == NO_DELTA and not delta


@pytest.mark.parametrize("delta, color", [
    (Delta("+1", None, "good", "up"), "normal"), (Delta("-1", None, "good", "down"), "inverse"),
    (Delta("+1", None, "bad", "up"), "inverse"), (Delta("-1", None, "bad", "down"), "normal"),
    (Delta("+1", None, "neutral", "up"), "off"), (Delta("0", None, "neutral", "none"), "off"),
])
def test_metric_color(delta, color) -> None:
    assert metric_color(delta) == color


@pytest.mark.parametrize("fmt, canonical", [
    (None, None), ("plain", "plain"), ("percent", "percent:1"), ("Percent:2", "percent:2"),
    ("decimals:0", "decimals:0"), ("integer", "integer"), ("€", "currency:EUR"), ("$", "currency:USD"),
    ("currency:eur", "currency:EUR"), ("currency:€", "currency:EUR"), (" currency : GBP ", "currency:GBP"),
])
def test_check_format(fmt, canonical) -> None:
    assert check_format(fmt) == canonical


@pytest.mark.parametrize("kw, message", [
    ({"format": "percnt"}, "format 'percnt' is not a known format. Did you mean 'percent'? Use one of: plain, "),
    ({"format": "percent:x"}, "format 'percent:x': the number of decimals must be 0 to 10"),
    ({"format": "decimals"}, "format 'decimals' is not a known format"),
    ({"format": "decimals:11"}, "must be 0 to 10"),
    ({"format": "currency"}, "name the currency with its 3-letter code or symbol, e.g. 'currency:EUR' or '€'"),
    ({"format": "currency:euro"}, "name the currency with its 3-letter code"),
    ({"format": 3}, "format 3 is not text"),
    ({"better": "up"}, "better 'up' is not allowed. Use 'higher' or 'lower'"),
    ({"better": "hihger"}, "Did you mean 'higher'?"),
    ({"better": True}, "better True is not allowed"),
    ({"label": ""}, "label '' must be non-empty text"),
    ({"unit": 5}, "unit 5 must be non-empty text"),
    ({"label": "x" * 201}, "longer than 200 characters"),
    ({"unit": "a\nb"}, "unit 'a\\nb' must be one line of printable text"),
])
def test_make_spec_refuses_bad_keywords(kw, message) -> None:
    with pytest.raises(SpecProblem) as info:
        make_spec(**kw)
    assert message in str(info.value)
    assert info.value.key == next(iter(kw))
    assert isinstance(info.value, ValueError)


def test_spec_from_config() -> None:
    assert spec_from_config("dr", {"label": "Default rate", "format": "percent", "better": "lower"}) == \
        ResultSpec(label="Default rate", format="percent:1", better="lower")
    assert spec_from_config("dr", None) == PLAIN
    with pytest.raises(SpecProblem, match="unknown key 'formt'. Did you mean 'format'") as info:
        spec_from_config("dr", {"formt": "percent"})
    assert info.value.key == "formt"
    with pytest.raises(SpecProblem, match="results 'dr' must be a mapping"):
        spec_from_config("dr", "percent")


def test_specs_for_merges_the_config_over_the_record_key_by_key() -> None:
    class Record:  # what specs_for reads of a RunRecord
        metrics = {"dr": 0.05, "loss": 3e6, "n": 10}
        environment = {"results": {"dr": {"label": "DR", "format": "percent:2"}, "loss": {"format": "€"},
                                   "bad": {"format": "nope"}, "junk": 3}}

    config = {"dr": ResultSpec(label="Default rate", better="lower")}
    specs = specs_for(Record(), config)
    assert specs["dr"] == ResultSpec(label="Default rate", format="percent:2", better="lower")
    assert specs["loss"] == ResultSpec(format="currency:EUR")
    assert specs["n"] == PLAIN
    assert "junk" not in specs and specs.get("bad", PLAIN) == PLAIN  # unreadable stored entries: shown plain
    assert title("dr", specs) == "Default rate" and title("n", specs) == "n" and title("x", None) == "x"
    assert specs_for({"a": 1}) == {"a": PLAIN}
    assert specs_for(None, config) == config


def test_specs_json_round_trip() -> None:
    specs = {"dr": make_spec(label="Default rate", format="percent", better="lower"), "n": PLAIN}
    assert specs_to_json(specs) == {"dr": {"label": "Default rate", "format": "percent:1", "better": "lower"}}
    assert specs_from_json(specs_to_json(specs)) == {"dr": specs["dr"]}
    assert specs_from_json(None) == {} and specs_from_json([1]) == {}


SPECS = st.builds(ResultSpec, label=st.none() | st.text(max_size=5), unit=st.none() | st.text(max_size=5),
                  format=st.sampled_from([None, "plain", "integer", "decimals:0", "decimals:10", "percent:1",
                                          "percent:0", "currency:EUR", "currency:CHF", "nonsense:x", "percent:x"]),
                  better=st.sampled_from([None, "higher", "lower", "sideways"]))
NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers() | \
    st.integers(min_value=10**300, max_value=10**400)


@settings(max_examples=400, deadline=None)
@given(NUMBERS, SPECS)
def test_format_value_never_raises(value, result_spec) -> None:
    text = format_value(value, result_spec)
    assert isinstance(text, str) and text
    if isinstance(value, float) and math.isfinite(value) and 1e-6 <= abs(value) < 1e13 and \
            (result_spec.format or "plain").startswith(("plain", "integer", "decimals", "currency")):
        assert "e+" not in text and "e-" not in text  # ordinary magnitudes: never scientific notation


@settings(max_examples=400, deadline=None)
@given(NUMBERS, NUMBERS, SPECS)
def test_format_delta_never_raises(value, baseline, result_spec) -> None:
    delta = format_delta(value, baseline, result_spec)
    assert delta.tone in ("good", "bad", "neutral") and delta.direction in ("up", "down", "none")
    assert metric_color(delta) in ("normal", "inverse", "off")
    if delta:
        assert delta.text.startswith("-") == (delta.direction == "down")


# --- a config's results: block ------------------------------------------------------------------

def _config(tmp_path, text: str):
    from tests.conftest import NOTEBOOKS

    path = tmp_path / "config.yaml"
    path.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\n{text}", encoding="utf-8")
    return path


def test_config_results_block(tmp_path) -> None:
    from livedocs_runner.plan import plan_runs
    from livedocs_runner.scenarios import load_config

    path = _config(tmp_path, """results:
  default_rate: {label: Default rate, format: percent, better: lower}
  loss:
    format: €
    unit: per year
  plain_one:
""")
    config = load_config(path)
    assert config.results == {"default_rate": ResultSpec("Default rate", None, "percent:1", "lower"),
                              "loss": ResultSpec(None, "per year", "currency:EUR", None), "plain_one": PLAIN}
    assert plan_runs(config)[0].results == config.results  # travels with every run of the config
    assert load_config(_config(tmp_path, "title: x\n")).results == {}


@pytest.mark.parametrize("block, line, message", [
    ("results: [a, b]\n", 2, "'results:' must map result names to how they are shown, got ['a', 'b']"),
    ("results:\n  dr: percent\n", 3, "results 'dr' must be a mapping of label/unit/format/better, got 'percent'"),
    ("results:\n  dr:\n    label: Default rate\n    formt: percent\n", 5, "results 'dr': unknown key 'formt'. "
     "Did you mean 'format'? Allowed keys: label, unit, format, better."),
    ("results:\n  dr:\n    format: percnt\n", 4, "format 'percnt' is not a known format. Did you mean 'percent'?"),
    ("results:\n  dr: {better: up}\n", 3, "better 'up' is not allowed. Use 'higher' or 'lower'"),
    ("results:\n  dr:\n    label: ''\n", 4, "label '' must be non-empty text"),
    ("results:\n  dr: {format: 'currency:euro'}\n", 3, "e.g. 'currency:EUR' or '€'"),
    ("results:\n  '': {label: One}\n", 3, "result name '' must be the non-empty name the notebook passes to record()"),
])
def test_config_results_errors_name_the_line_and_the_fix(tmp_path, block, line, message) -> None:
    from livedocs_runner.errors import ConfigError
    from livedocs_runner.scenarios import load_config

    path = _config(tmp_path, block)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}, line {line}: ") or f"{path}, line {line}: " in str(info.value)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_demo_configs_format_their_headline_results() -> None:
    from livedocs_runner.scenarios import load_config
    from tests.conftest import REPO as ROOT

    credit = load_config(ROOT / "configs" / "credit_risk.yaml").results
    assert format_value(0.0531, credit["default_rate"]) == "5.31 %"
    assert format_value(3_290_000.5, credit["expected_loss"]) == "€3.29 M"
    assert format_delta(0.0531, 0.05, credit["default_rate"]).tone == "bad"
    pricing = load_config(ROOT / "configs" / "pricing_whatif.yaml").results
    assert format_value(-1234.5, pricing["units_change"]) == "-1,234 units"
    assert format_delta(12_000.0, 10_000.0, pricing["revenue_change"]).text == "+€2,000"


# --- what runs store, and the CLI's line ----------------------------------------------------------

def test_result_specs_put_the_config_over_record_keywords() -> None:
    from livedocs_runner.results import kept_specs, result_specs

    recorded = {"dr": make_spec(label="DR", format="percent", better="lower"), "n": make_spec(unit="loans")}
    configured = {"dr": make_spec(label="Default rate"), "loss": make_spec(format="€")}
    stored = result_specs(recorded, configured)
    assert stored == {"results": {"dr": {"label": "Default rate", "format": "percent:1", "better": "lower"},
                                  "n": {"unit": "loans"}, "loss": {"format": "currency:EUR"}}}
    assert result_specs({}, None) == {} and result_specs({"n": PLAIN}, {}) == {}
    assert kept_specs({"python": "3.11", **stored}) == stored
    assert kept_specs({"results": {}}) == {} and kept_specs(None) == {} and kept_specs({"results": [1]}) == {}


def test_summary_line() -> None:
    from livedocs_runner.result_format import summary

    metrics = {"dr": 0.0531, "by_region": {"type": "table", "columns": [], "data": []}, "loss": 3_290_000.0,
               "note": "x" * 40, "n": 5, "late": 1}
    specs = {"dr": make_spec(label="Default rate", format="percent:2"), "loss": make_spec(format="€")}
    assert summary(metrics, specs) == f"Default rate: 5.31 %  loss: €3.29 M  note: {'x' * 21}...  n: 5"
    assert summary({"a": 0.5}) == "a: 0.5"
    assert summary({}) == ""


def test_record_refuses_a_bad_keyword_outside_a_kernel_too() -> None:
    from livedocs_runner import record

    with pytest.raises(ValueError, match=r"record\('dr', \.\.\.\): better 'worse' is not allowed"):
        record("dr", 0.1, better="worse")
    with pytest.raises(TypeError):
        record("dr", 0.1, "Default rate")  # keywords only: a positional label is a mistake
