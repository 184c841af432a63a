"""Property tests (Hypothesis) for value conversion and literal injection.

* ``ParamSpec.convert`` of any input returns a value or raises ParameterError, never anything
  else; valid inputs of each type round-trip (also through their text form, as ``-p`` gives them).
* Injecting any plain value (full Unicode but lone surrogates, nesting up to the limit, ints up
  to the digit limit, any finite float) gives a cell of assignments of literals only, whose
  ``ast.literal_eval`` gives back exactly the value (types, float bits and all).
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import os
import keyword
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livedocs_runner.errors import ParameterError
from livedocs_runner.inject import injected_source
from livedocs_runner.params import MAX_DEPTH, MAX_INT_DIGITS, TYPES, ParamSpec, check_plain

SETTINGS = settings(max_examples=int(os.environ.get("LIVEDOCS_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
# built at draw time: Hypothesis reprs its strategies, and Python cannot even print such ints
huge_ints = st.builds(lambda digits, sign: sign * (10 ** digits - 1), st.integers(0, MAX_INT_DIGITS), st.sampled_from([1, -1]))
too_big_ints = st.builds(lambda digits: 10 ** digits, st.integers(MAX_INT_DIGITS, MAX_INT_DIGITS + 2000))
ints = st.integers() | huge_ints
floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | ints | floats | text
plain = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                     max_leaves=12)


def nested(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def depth(value: Any) -> int:
    """Levels of lists/dicts: ``1`` for ``[1]``, ``2`` for ``[[]]``."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
    return 0 if items is None else 1 + max((depth(v) for v in items), default=0)


deep_plain = st.builds(nested, plain, st.integers(0, MAX_DEPTH)).filter(lambda v: depth(v) <= MAX_DEPTH)

anything = st.recursive(
    scalars | st.floats() | st.integers() | st.binary(max_size=5) | st.dates() | st.datetimes()
    | st.text(max_size=10) | too_big_ints | st.sampled_from([object(), math.inf, -math.inf, math.nan, (1, 2), {1, 2}]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(inner.filter(lambda k: isinstance(k, str | int)), inner, max_size=3)
    | st.tuples(inner), max_leaves=8)
strings = st.text(max_size=40) | st.sampled_from(["1e999", "nan", "-inf", "0x10", "1_000", " 7 ", "٣", "true", "Off",
                                                   "2024-02-30", "2024-02-29T25:00", "[1, 2", '{"a": NaN}', "\x00",
                                                   "9" * 5000, "[" * 3000, '{"a": ' * 2000])


def identical(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (``1 == 1.0 == True`` is not enough); -0.0 is not 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    return a == b


# --- conversion -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", TYPES)
@SETTINGS
@given(value=anything | strings)
def test_convert_returns_or_raises_parameter_error(kind: str, value: Any) -> None:
    spec = ParamSpec(name="p", type=kind)
    try:
        spec.convert(value, base=Path("/nonexistent-base"))
    except ParameterError as exc:
        assert len(exc.message) < 400, exc.message  # the value is quoted shortened


@SETTINGS
@given(value=anything | strings, bound=ints | floats | text)
def test_bounds_and_choices_never_crash_on_other_types(value: Any, bound: Any) -> None:
    for spec in (ParamSpec(name="p", type="any", min=bound), ParamSpec(name="p", type="any", max=bound),
                 ParamSpec(name="p", type="any", choices=(bound,)), ParamSpec(name="p", type="list", choices=(bound,))):
        try:
            spec.convert(value)
        except ParameterError:
            pass


@SETTINGS
@given(value=st.text(max_size=60), pattern=st.sampled_from(["^[a-z]+$", "(a|aa)+$", "(a+)+b", r"\d{4}-\d{2}", ".*"]))
def test_patterns_match_or_refuse_with_parameter_error(value: str, pattern: str) -> None:
    try:
        ParamSpec(name="p", type="str", pattern=pattern).convert(value)
    except ParameterError:
        pass


@SETTINGS
@given(value=ints)
def test_int_round_trips(value: int) -> None:
    spec = ParamSpec(name="p", type="int")
    assert identical(spec.convert(value), value)
    assert identical(spec.convert(str(value)), value)
    assert identical(spec.convert(f" {value} "), value)


@SETTINGS
@given(value=floats)
def test_float_round_trips(value: float) -> None:
    spec = ParamSpec(name="p", type="float")
    assert identical(spec.convert(value), value)
    assert identical(spec.convert(repr(value)), value)


@SETTINGS
@given(value=text)
def test_str_round_trips(value: str) -> None:
    assert identical(ParamSpec(name="p", type="str").convert(value), value)


@SETTINGS
@given(value=st.booleans(), spelling=st.sampled_from([str, lambda b: str(b).lower(), lambda b: "yes" if b else "no",
                                                      lambda b: "ON" if b else "off", lambda b: str(int(b))]))
def test_bool_round_trips(value: bool, spelling: Any) -> None:
    spec = ParamSpec(name="p", type="bool")
    assert spec.convert(value) is value
    assert spec.convert(spelling(value)) is value


@SETTINGS
@given(value=st.dates())
def test_date_round_trips(value: dt.date) -> None:
    spec = ParamSpec(name="p", type="date")
    assert spec.convert(value) == value.isoformat() == spec.convert(value.isoformat())


@SETTINGS
@given(value=st.datetimes())
def test_datetime_round_trips(value: dt.datetime) -> None:
    spec = ParamSpec(name="p", type="datetime")
    assert spec.convert(value) == value.isoformat() == spec.convert(value.isoformat())


@SETTINGS
@given(value=deep_plain)
def test_plain_values_round_trip_through_any_and_json(value: Any) -> None:
    assert identical(ParamSpec(name="p", type="any").convert(value), value)
    kind = {list: "list", dict: "dict"}.get(type(value))
    if kind:
        spec = ParamSpec(name="p", type=kind)
        assert identical(spec.convert(value), value)
        assert identical(spec.convert(json.dumps(value, ensure_ascii=False)), value)


@SETTINGS
@given(value=plain, depth=st.integers(MAX_DEPTH + 1, 3 * MAX_DEPTH))
def test_nesting_past_the_limit_is_refused(value: Any, depth: int) -> None:
    with pytest.raises(ParameterError, match="nested at most"):
        ParamSpec(name="p", type="any").convert(nested([], depth))
    with pytest.raises(ParameterError, match="nested at most"):
        ParamSpec(name="p", type="list").convert("[" * depth + "]" * depth)


# --- injection ------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True).filter(lambda n: not keyword.iskeyword(n))
LITERAL_NODES = (ast.Constant, ast.List, ast.Dict, ast.UnaryOp, ast.USub, ast.Load)


@SETTINGS
@given(params=st.dictionaries(names, deep_plain, max_size=5))
def test_injection_gives_back_exactly_the_values_as_literal_assignments(params: dict[str, Any]) -> None:
    source = injected_source(params)
    tree = ast.parse(source)
    assert len(tree.body) == len(params)
    for statement, (name, value) in zip(tree.body, params.items()):
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1
        assert isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == name
        kinds = {type(node) for node in ast.walk(statement.value)}
        assert kinds <= set(LITERAL_NODES), kinds
        assert identical(ast.literal_eval(statement.value), value)
    assert all(identical(check_plain(v), v) for v in params.values())  # what is injected is what conversion accepts


@SETTINGS
@given(value=anything)
def test_injecting_anything_gives_literals_or_a_refusal(value: Any) -> None:
    """Whatever reaches injection (a bug upstream, a hand-edited record) never becomes anything but a literal."""
    try:
        source = injected_source({"x": value})
    except (ValueError, TypeError):
        return
    (statement,) = ast.parse(source).body
    assert {type(node) for node in ast.walk(statement.value)} <= set(LITERAL_NODES)
    assert ast.literal_eval(statement.value) == value


@pytest.mark.parametrize("value, problem", [
    (nested([], MAX_DEPTH + 1), "nested deeper"), (10 ** MAX_INT_DIGITS, "digits"), ("\ud800", "surrogate"),
    (math.nan, "finite"), ({"k": math.inf}, "finite"),
], ids=["deep", "huge-int", "surrogate", "nan", "inf-in-dict"])
def test_literal_refuses_what_cannot_round_trip(value: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        injected_source({"x": value})


def test_names_are_checked_before_injection() -> None:
    for name in ("a b", "class", "x=1;import os", "", "1x"):
        with pytest.raises(ParameterError):
            injected_source({name: 1})


# --- the command line: any -p pairs plan or are refused --------------------------------------------

@SETTINGS
@given(pairs=st.lists(st.sampled_from(["i", "f", "s", "b", "l", "d", "n", "ann", "tc", "zz", "1x", "", " i "]).flatmap(
    lambda name: (strings | text).map(lambda value: f"{name}={value}")) | st.text(max_size=20), max_size=4))
def test_any_overrides_plan_or_raise_input_error(pairs: list[str]) -> None:
    from livedocs_runner.errors import InputError
    from livedocs_runner.plan import parse_overrides, plan_runs
    from tests.conftest import NOTEBOOKS

    try:
        (plan,) = plan_runs(NOTEBOOKS / "all_types.ipynb", overrides=parse_overrides(pairs))
    except InputError as exc:
        assert "\n" not in exc.message and len(exc.message) < 600
        return
    injected_source(plan.parameters)  # whatever planned can be injected
    json.dumps(plan.parameters)  # and recorded


@pytest.fixture(scope="module")
def tricky_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a file, a subfolder, symlink loops, a link out and a dangling link."""
    root = tmp_path_factory.mktemp("tricky")
    (root / "data").mkdir()
    (root / "data" / "f.csv").write_text("x\n1\n")
    (root / "outside.csv").write_text("x\n")
    (root / "data" / "loop").symlink_to("loop")
    (root / "data" / "a").symlink_to("b")
    (root / "data" / "b").symlink_to("a")
    (root / "data" / "out").symlink_to(root / "outside.csv")
    (root / "data" / "dangling").symlink_to(root / "nope")
    return root


PATH_PIECES = ["data", "f.csv", "loop", "a", "b", "out", "dangling", "..", ".", "/", "~", "~nobody-here", "\x00", "x" * 300,
               "outside.csv", "/etc/passwd", "\ud800"]


@settings(max_examples=int(os.environ.get("LIVEDOCS_EXAMPLES", 150)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.sampled_from(PATH_PIECES), min_size=1, max_size=5), sep=st.sampled_from(["/", "", "//"]))
def test_path_values_inside_a_tricky_folder(tricky_folder: Path, pieces: list[str], sep: str) -> None:
    value = sep.join(pieces)
    for spec in (ParamSpec(name="p", type="path", within=str(tricky_folder / "data")), ParamSpec(name="p", type="path")):
        try:
            path = Path(spec.convert(value, base=tricky_folder))
        except ParameterError:
            continue
        assert path.exists()
        if spec.within:
            assert path.resolve().is_relative_to((tricky_folder / "data").resolve())
