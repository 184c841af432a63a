"""The parameter schema: inference from a ``parameters`` cell, and ``ParamSpec.convert`` per type."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner.errors import ParameterError
from livedocs_runner.inference import infer
from livedocs_runner.params import ParamSpec, check_name

# --- inference ---------------------------------------------------------------------------------

INFERENCE = [
    # source, name, type, default, help
    ("a = 1", "a", "int", 1, ""),
    ("a = -3", "a", "int", -3, ""),
    ("a = 1.5", "a", "float", 1.5, ""),
    ("a = 'x'", "a", "str", "x", ""),
    ('a = "é ☃"', "a", "str", "é ☃", ""),
    ("a = True", "a", "bool", True, ""),
    ("a = [1, 2]", "a", "list", [1, 2], ""),
    ("a = (1, 2)", "a", "list", [1, 2], ""),
    ("a = {'k': 1}", "a", "dict", {"k": 1}, ""),
    ("a = None", "a", "any", None, ""),
    # annotations win over the value's type
    ("a: float = 2", "a", "float", 2.0, ""),
    ("a: float = 2.25", "a", "float", 2.25, ""),
    ("a: int = 2", "a", "int", 2, ""),
    ("a: str = 'x'", "a", "str", "x", ""),
    ("a: bool = False", "a", "bool", False, ""),
    ("a: list[int] = [1]", "a", "list", [1], ""),
    ("a: dict[str, int] = {}", "a", "dict", {}, ""),
    ("a: typing.List = []", "a", "list", [], ""),
    ("a: Path = 'data.csv'", "a", "path", "data.csv", ""),
    ("a: 'float' = 1", "a", "float", 1.0, ""),
    ("a: float", "a", "float", None, ""),
    ("a: Any = 3", "a", "any", 3, ""),
    # `# type:` comments, with or without a help text after them
    ("tc = 7  # type: float", "tc", "float", 7.0, ""),
    ("tc = 7  # type: float  # seven-ish", "tc", "float", 7.0, "seven-ish"),
    ("tc = []  # type: List[int]", "tc", "list", [], ""),
    ("tc = 'd.csv'  # type: Path", "tc", "path", "d.csv", ""),
    # inline comments are the help
    ("f = 0.5  # a float", "f", "float", 0.5, "a float"),
    ("f = 0.5  #   spaced out  ", "f", "float", 0.5, "spaced out"),
    ("s = 'a # not a comment'", "s", "str", "a # not a comment", ""),
    ("s = 'a # not'  # but this is", "s", "str", "a # not", "but this is"),
    # multi-line literals: the comment may sit on the last or the first line
    ("l = [1, 2,\n     3]  # items", "l", "list", [1, 2, 3], "items"),
    ("l = [  # items\n  1,\n  2,\n]", "l", "list", [1, 2], "items"),
    ('d = {\n    "k": 1,\n    "j": [2, 3],\n}', "d", "dict", {"k": 1, "j": [2, 3]}, ""),
    ('s = ("a"\n     "b")', "s", "str", "ab", ""),
    ('s = """one\ntwo"""', "s", "str", "one\ntwo", ""),
    # non-literal defaults are kept as 'any' with no default (never evaluated)
    ("x = np.arange(3)", "x", "any", None, ""),
    ("x = 1 + 2", "x", "any", None, ""),
    ("x = os.system('echo hi')  # danger", "x", "any", None, "danger"),
    ("x: int = compute()", "x", "int", None, ""),
]


@pytest.mark.parametrize("source, name, kind, default, help_text", INFERENCE)
def test_infer(source: str, name: str, kind: str, default: Any, help_text: str) -> None:
    [spec] = infer(source)
    assert (spec.name, spec.type, spec.default, spec.help) == (name, kind, default, help_text)
    assert type(spec.default) is type(default)


def test_infer_non_literal_default_is_marked() -> None:
    [spec] = infer("x = np.arange(3)")
    assert spec.literal is False
    [spec] = infer("x = 3")
    assert spec.literal is True


@pytest.mark.parametrize("source, names", [
    ("a = 1\nb = 2", ["a", "b"]),
    ("a = 1; b = 2", ["a", "b"]),
    ("# only a comment\n\na = 1\n", ["a"]),
    ("a, b = 1, 2\nc = 3", ["c"]),           # tuple targets are not parameters
    ("x = y = 1\nc = 3", ["c"]),             # nor chained assignments
    ("obj.attr = 1\nc = 3", ["c"]),
    ("a = 1\na += 1\nc = 3", ["a", "c"]),     # augmented assignment is not a new parameter
    ("import os\nfrom x import y\nc = 3", ["c"]),
    ("if True:\n    hidden = 1\nc = 3", ["c"]),
    ("", []),
])
def test_infer_which_assignments_count(source: str, names: list[str]) -> None:
    assert [s.name for s in infer(source)] == names


def test_infer_later_assignment_wins_and_keeps_its_line() -> None:
    [spec] = infer("a = 1\n\na = 'two'  # second")
    assert (spec.type, spec.default, spec.help, spec.line) == ("str", "two", "second", 3)


def test_infer_all_types_notebook() -> None:
    from livedocs_runner.notebook import load_notebook
    from tests.conftest import NOTEBOOKS

    specs = load_notebook(NOTEBOOKS / "all_types.ipynb").parameters()
    assert [(s.name, s.type, s.default) for s in specs] == [
        ("i", "int", 3), ("f", "float", 0.5), ("s", "str", "x"), ("b", "bool", True), ("l", "list", [1, 2, 3]),
        ("d", "dict", {"k": 1}), ("n", "any", None), ("ann", "float", 2.25), ("tc", "float", 7.0)]
    assert specs[1].help == "a float"


def test_infer_syntax_error_is_reported_with_its_line() -> None:
    with pytest.raises(SyntaxError) as info:
        infer("a = 1\nb = (2\n")
    assert info.value.lineno is not None


def test_notebook_with_bad_parameters_cell(tmp_path: Path) -> None:
    from livedocs_runner.errors import NotebookError
    from livedocs_runner.notebook import load_notebook
    from tests.conftest import write_notebook

    path = write_notebook(tmp_path / "bad.ipynb", [("a = 1\nb = = 2", ["parameters"])])
    with pytest.raises(NotebookError) as info:
        load_notebook(path).parameters()
    message = str(info.value)
    assert str(path) in message and "line 2" in message and "not valid Python" in message


# --- conversion --------------------------------------------------------------------------------

def spec(kind: str, **kw: Any) -> ParamSpec:
    return ParamSpec(name="p", type=kind, **kw)


CONVERT_OK = [
    (spec("int"), "3", 3),
    (spec("int"), " -4 ", -4),
    (spec("int"), 5, 5),
    (spec("int"), 5.0, 5),
    (spec("float"), "0.4", 0.4),
    (spec("float"), "1e-3", 0.001),
    (spec("float"), 1, 1.0),
    (spec("float"), " 2 ", 2.0),
    (spec("str"), "x", "x"),
    (spec("str"), "", ""),
    (spec("str"), 12, "12"),
    (spec("str"), "multi\nline 'quoted' \\ é", "multi\nline 'quoted' \\ é"),
    (spec("bool"), True, True),
    (spec("bool"), "yes", True),
    (spec("bool"), "TRUE", True),
    (spec("bool"), "1", True),
    (spec("bool"), "off", False),
    (spec("bool"), "false", False),
    (spec("date"), "2025-05-05", "2025-05-05"),
    (spec("date"), dt.date(2025, 5, 5), "2025-05-05"),
    (spec("date"), dt.datetime(2025, 5, 5, 10, 30), "2025-05-05"),
    (spec("datetime"), "2025-05-05T10:30", "2025-05-05T10:30:00"),
    (spec("datetime"), "2025-05-05 10:30:01", "2025-05-05T10:30:01"),
    (spec("datetime"), dt.datetime(2025, 5, 5, 10, 30), "2025-05-05T10:30:00"),
    (spec("list"), "[1, 2]", [1, 2]),
    (spec("list"), '["a", null, {"k": true}]', ["a", None, {"k": True}]),
    (spec("list"), [1, "b"], [1, "b"]),
    (spec("list"), (1, 2), [1, 2]),
    (spec("dict"), '{"k": 1}', {"k": 1}),
    (spec("dict"), {"k": [1, 2]}, {"k": [1, 2]}),
    (spec("any"), "x", "x"),
    (spec("any"), 3, 3),
    (spec("any"), None, None),
    (spec("any"), dt.date(2025, 1, 2), "2025-01-02"),
    (spec("int", min=0, max=10), "0", 0),
    (spec("int", min=0, max=10), "10", 10),
    (spec("float", min=0, max=1), "0.5", 0.5),
    (spec("date", min="2024-01-01", max="2025-12-31"), "2025-06-01", "2025-06-01"),
    (spec("str", choices=("a", "b")), "b", "b"),
    (spec("list", choices=("north", "south")), '["south"]', ["south"]),
    (spec("str", pattern=r"^[a-z]+$"), "abc", "abc"),
    (spec("int", pattern=r"\d{2}"), "12", 12),
]


@pytest.mark.parametrize("param, value, expected", CONVERT_OK)
def test_convert(param: ParamSpec, value: Any, expected: Any) -> None:
    result = param.convert(value)
    assert result == expected
    assert type(result) is type(expected)


CONVERT_BAD = [
    # param, value, the message (exact), the hint (exact, or None)
    (spec("int"), "abc", "parameter 'p' expects an int, got 'abc'.", None),
    (spec("int"), "3.5", "parameter 'p' expects an int, got '3.5'.", None),
    (spec("int"), 3.5, "parameter 'p' expects an int, got 3.5.", None),
    (spec("int"), True, "parameter 'p' expects an int, got True.", "A bool is not an int."),
    (spec("int"), "", "parameter 'p' expects an int, got ''.", None),
    (spec("float"), "abc", "parameter 'p' expects a float, got 'abc'.", None),
    (spec("float"), "nan", "parameter 'p' expects a float, got 'nan'.", "Use a finite number."),
    (spec("float"), float("nan"), "parameter 'p' expects a float, got nan.", "Use a finite number."),
    (spec("float"), "-inf", "parameter 'p' expects a float, got '-inf'.", "Use a finite number."),
    (spec("float"), [1.0], "parameter 'p' expects a float, got [1.0].", None),
    (spec("str"), True, "parameter 'p' expects a str, got True.", "Quote it in YAML to make it a string."),
    (spec("str"), [1], "parameter 'p' expects a str, got [1].", "Quote it in YAML to make it a string."),
    (spec("bool"), "maybe", "parameter 'p' expects a bool, got 'maybe'.", "Use true or false."),
    (spec("bool"), 2, "parameter 'p' expects a bool, got 2.", "Use true or false."),
    (spec("date"), "05/05/2025", "parameter 'p' expects a date, got '05/05/2025'.", "Use YYYY-MM-DD."),
    (spec("date"), "2025-13-01", "parameter 'p' expects a date, got '2025-13-01'.", "Use YYYY-MM-DD."),
    (spec("datetime"), "noon", "parameter 'p' expects a datetime, got 'noon'.", "Use YYYY-MM-DDTHH:MM:SS."),
    (spec("list"), "1, 2", "parameter 'p' expects a list, got '1, 2'.", 'Write a list like [1, 2] or ["north", "south"] (text in double quotes).'),
    (spec("list"), '{"a": 1}', "parameter 'p' expects a list, got '{\"a\": 1}'.", None),
    (spec("list"), "[NaN]", "parameter 'p' expects a list, got '[NaN]'.", "Use a finite number."),
    (spec("dict"), "k=1", "parameter 'p' expects a dict, got 'k=1'.", 'Write a dict like {"north": 1} (text in double quotes).'),
    (spec("dict"), "[1]", "parameter 'p' expects a dict, got '[1]'.", None),
    (spec("any"), float("nan"), "parameter 'p' expects an any, got nan.", "Use a finite number."),
    (spec("any"), object, "parameter 'p' expects an any, got <class 'object'>.",
     "A type is not allowed: use numbers, strings, booleans, lists and dicts."),
    (spec("str"), "party \ud83c", "parameter 'p' expects a str, got 'party \\ud83c'.",
     "It contains '\\ud83c', which is not valid Unicode text."),
    (spec("dict"), {"\udcff": 1}, "parameter 'p' expects a dict, got {'\\udcff': 1}.",
     "It contains '\\udcff', which is not valid Unicode text."),
    # bounds
    (spec("int", min=0, max=10), "11", "parameter 'p' expects an int between 0 and 10, got '11'.", None),
    (spec("int", min=0, max=10), -1, "parameter 'p' expects an int between 0 and 10, got -1.", None),
    (spec("float", min=0), "-0.1", "parameter 'p' expects a float of at least 0, got '-0.1'.", None),
    (spec("float", max=1), "1.5", "parameter 'p' expects a float of at most 1, got '1.5'.", None),
    (spec("date", min="2024-01-01", max="2025-12-31"), "2023-12-31",
     "parameter 'p' expects a date between 2024-01-01 and 2025-12-31, got '2023-12-31'.", None),
    # choices
    (spec("str", choices=("a", "b")), "c", "parameter 'p' expects a str from 'a', 'b', got 'c' ('c' is not one of the choices).", None),
    (spec("list", choices=("north", "south")), '["north", "x"]',
     "parameter 'p' expects a list from 'north', 'south', got '[\"north\", \"x\"]' ('x' is not one of the choices).", None),
    (spec("int", choices=(1, 2)), "3", "parameter 'p' expects an int from 1, 2, got '3' (3 is not one of the choices).", None),
    # pattern
    (spec("str", pattern=r"^[a-z]+$"), "Earth", "parameter 'p' expects a str matching '^[a-z]+$', got 'Earth'.", None),
    (spec("str", pattern=r"[a-z]+"), "abc1", "parameter 'p' expects a str matching '[a-z]+', got 'abc1'.", None),
]


@pytest.mark.parametrize("param, value, message, hint", CONVERT_BAD)
def test_convert_refuses(param: ParamSpec, value: Any, message: str, hint: str | None) -> None:
    with pytest.raises(ParameterError) as info:
        param.convert(value)
    assert info.value.message == message
    assert info.value.hint == hint
    assert info.value.exit_code == 2


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(ParameterError) as info:
        spec("int").convert("9" * 200 + "x")
    assert "..." in info.value.message and len(info.value.message) < 150


# --- paths -------------------------------------------------------------------------------------

@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "q1.csv").write_text("x\n1\n")
    (tmp_path / "secret.txt").write_text("s")
    return tmp_path


def test_path_relative_to_base_within(folder: Path) -> None:
    within = str((folder / "data").resolve())
    param = spec("path", within=within)
    assert param.convert("data/q1.csv", base=folder) == os.path.join(within, "q1.csv")
    assert param.convert(str(folder / "data" / "q1.csv")) == os.path.join(within, "q1.csv")


@pytest.mark.parametrize("value, problem", [
    ("secret.txt", "(outside {within}). Pick a file inside that folder."),
    ("data/../secret.txt", "(outside {within}). Pick a file inside that folder."),
    ("/etc/passwd", "(outside {within}). Pick a file inside that folder."),
    ("data/missing.csv", "(no such file)."),
])
def test_path_outside_within_or_missing(folder: Path, value: str, problem: str) -> None:
    within = str((folder / "data").resolve())
    with pytest.raises(ParameterError) as info:
        spec("path", within=within).convert(value, base=folder)
    message = info.value.message
    assert message.startswith(f"parameter 'p' expects a path inside {within}, got '{value}' ")
    assert message.endswith(problem.format(within=within))


def test_path_symlink_cannot_escape_within(folder: Path) -> None:
    within = folder / "data"
    (within / "link.txt").symlink_to(folder / "secret.txt")
    with pytest.raises(ParameterError, match="outside"):
        spec("path", within=str(within.resolve())).convert("data/link.txt", base=folder)


def test_path_through_a_symlinked_folder_is_inside(folder: Path) -> None:
    """The config may be reached through a symlink: a file inside ``within`` is still inside."""
    (folder / "alias").symlink_to(folder / "data")
    param = spec("path", within=str((folder / "data").resolve()))
    assert Path(param.convert("alias/q1.csv", base=folder)).name == "q1.csv"


def test_path_without_within_must_exist(folder: Path) -> None:
    assert spec("path").convert("secret.txt", base=folder) == str(folder / "secret.txt")
    with pytest.raises(ParameterError, match=r"got 'nope.csv' \(no such file\)\."):
        spec("path").convert("nope.csv", base=folder)
    with pytest.raises(ParameterError) as info:
        spec("path").convert("   ", base=folder)
    assert info.value.hint == "Give a file path."


# --- names and descriptions --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["1abc", "a-b", "a b", "", "class", "None", "x;import os", "é-", 3, None])
def test_check_name_refuses(name: Any) -> None:
    with pytest.raises(ParameterError) as info:
        check_name(name)
    assert "is not a valid Python identifier" in info.value.message
    assert "Use letters, digits and underscores" in info.value.message


@pytest.mark.parametrize("name", ["a", "_x", "threshold_2", "é"])
def test_check_name_accepts(name: str) -> None:
    assert check_name(name) == name


def test_to_json_lists_constraints() -> None:
    param = ParamSpec(name="t", type="float", default=0.5, help="h", min=0, max=1, choices=(0.5, 1.0),
                      pattern=r"\d", label="Threshold", required=True)
    assert param.to_json() == {"name": "t", "type": "float", "default": 0.5, "help": "h", "label": "Threshold",
                               "min": 0, "max": 1, "pattern": r"\d", "choices": [0.5, 1.0], "required": True}


def test_nan_never_becomes_a_default() -> None:
    assert math.isnan(float("nan"))  # sanity: the literal below is what YAML's .nan gives
    with pytest.raises(ParameterError):
        spec("float").convert(float("nan"))


def test_a_long_comment_is_read_in_linear_time() -> None:
    """The type-comment regex used to backtrack: 20,000 spaces took 14 s, these 200,000 would take hours."""
    comment = "type: a" + " " * 200_000 + "!"
    (spec,) = infer(f"x = 1  # {comment}")
    assert (spec.type, spec.help) == ("int", comment)
    (spec,) = infer("x = 1  # type: float  # the help")
    assert (spec.type, spec.help, spec.default) == ("float", "the help", 1.0)


@pytest.mark.parametrize("pattern, problem", [
    ("(unclosed", "is not a valid regular expression"),
    ("a" * 1001, "is 1001 characters long; the limit is 1000."),
    ("((a{1000}){1000}){1000}", "repeats too much"),
    ("(?:a{65535}){65535}", "repeats too much"),
    (r"\p{L}{1000}{1000}", "repeats too much"),  # regex-only syntax: measured by its counts
    ("(" * 490 + "a" + ")" * 490, "is not a valid regular expression"),
    (["a"], "is not text"),
])
def test_check_pattern_refuses(pattern: object, problem: str) -> None:
    from livedocs_runner.patterns import check_pattern
    with pytest.raises(ValueError, match=re.escape(problem)):
        check_pattern(pattern)


@pytest.mark.parametrize("pattern", [r"^[a-z]+$", r"\d{4}-\d{2}-\d{2}", "a{65535}", r"[a-z]{1,100}@[a-z]{1,100}\.[a-z]{2,10}",
                                     r"\p{L}+", "(a|aa)+$"])
def test_check_pattern_accepts(pattern: str) -> None:
    from livedocs_runner.patterns import check_pattern
    assert check_pattern(pattern) == pattern


def test_a_catastrophic_pattern_times_out_as_a_parameter_error() -> None:
    spec = ParamSpec(name="code", type="str", pattern="(a|aa)+$")
    assert spec.convert("a" * 30) == "a" * 30
    with pytest.raises(ParameterError) as info:
        spec.convert("a" * 100 + "b")
    assert info.value.message == f"parameter 'code' expects a str matching '(a|aa)+$', got '{'a' * 77}...'."
    assert "Matching the pattern took longer than 0.25 s" in (info.value.hint or "")


@pytest.mark.parametrize("source, kind", [
    ("x = {1, 2}", "any"), ("x = b'raw'", "any"), ("x = 1j", "any"), ("x = ...", "any"), ("x = {1: 2}", "dict"),
    ("x = 1e999", "float"), ("x = 0x" + "f" * 4000, "int"), ("x: float = " + "9" * 400, "float"),
    ("x = " + "[" * 40 + "]" * 40, "list"),
])
def test_defaults_that_are_not_plain_data_are_left_to_the_notebook(source: str, kind: str) -> None:
    """Like an expression default: livedocs does not record or inject it, the notebook's own line runs."""
    (spec,) = infer(source)
    assert (spec.type, spec.default, spec.literal) == (kind, None, False)
    json.dumps(spec.to_json())  # `livedocs inspect --json` used to crash on these


def test_tuple_defaults_become_lists_all_the_way_down() -> None:
    (spec,) = infer("x = (1, (2, 3), {'k': (4,)})")
    assert (spec.type, spec.default, spec.literal) == ("list", [1, [2, 3], {"k": [4]}], True)


# --- plain words: labelled choices, examples, item counts (issue 10 item 2) -----------------------

LISTED = dict(name="regions", type="list", label="Regions", choices=("north", "south", "east"))


@pytest.mark.parametrize("spec, value, message", [
    (ParamSpec(**LISTED, min_items=1), [], "Regions (parameter 'regions'): choose at least one item; got none."),
    (ParamSpec(**LISTED, min_items=2), ["north"], "Regions (parameter 'regions'): choose at least 2 items; got 1."),
    (ParamSpec(**LISTED, max_items=1), ["north", "south"], "Regions (parameter 'regions'): choose at most one item; got 2."),
    (ParamSpec(**LISTED, max_items=2), '["north", "south", "east"]',
     "Regions (parameter 'regions'): choose at most 2 items; got 3."),
    (ParamSpec(name="tags", type="list", min_items=1), "[]", "Tags (parameter 'tags'): choose at least one item; got none."),
    (ParamSpec(**LISTED, min_items=1), ["west"], "parameter 'regions' expects a list of at least one item from 'north', "
                                                 "'south', 'east', got ['west'] ('west' is not one of the choices)."),
    (ParamSpec(name="code", type="str", pattern=r"[A-Z]{2}-\d", example="EU-1"), "eu-1",
     "parameter 'code' expects a str like 'EU-1', got 'eu-1'."),
    (ParamSpec(name="code", type="str", pattern=r"[A-Z]{2}-\d"), "eu-1",
     "parameter 'code' expects a str matching '[A-Z]{2}-\\d', got 'eu-1'."),  # the CLI without an example
    (ParamSpec(name="code", type="str", pattern=r"[A-Z]{2}-\d", example=""), "eu-1",
     "parameter 'code' expects a str in the format its help describes, got 'eu-1'."),
    (ParamSpec(name="code", type="str", choices=("EU-1", "US-1"), choice_labels=("Europe", "United States")), "UK-1",
     "parameter 'code' expects a str from 'Europe' ('EU-1'), 'United States' ('US-1'), got 'UK-1' "
     "('UK-1' is not one of the choices)."),
    (ParamSpec(name="f", type="path", choices=("/d/loans_2025Q4.csv",), choice_labels=("2025 Q4",)), "/d/x.csv",
     "parameter 'f' expects a path from '2025 Q4', got '/d/x.csv' ('/d/x.csv' is not one of the choices)."),
])
def test_plain_refusals(spec: ParamSpec, value: Any, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        spec.convert(value)
    assert info.value.message == message


@pytest.mark.parametrize("spec, value", [
    (ParamSpec(**LISTED, min_items=1, max_items=2), ["north"]),
    (ParamSpec(**LISTED, min_items=1, max_items=2), ["north", "east"]),
    (ParamSpec(**LISTED, min_items=0), []),
    (ParamSpec(**LISTED), []),  # no min_items: an empty list is a value like any other
    (ParamSpec(name="code", type="str", pattern=r"[A-Z]{2}-\d", example="EU-1"), "US-2"),
])
def test_plain_constraints_accept(spec: ParamSpec, value: Any) -> None:
    assert spec.convert(value) == value


@pytest.mark.parametrize("low, high, words", [
    (1, None, "a list of at least one item"), (2, None, "a list of at least 2 items"), (None, 1, "a list of at most one item"),
    (None, 3, "a list of at most 3 items"), (1, 1, "a list of 1 item"), (2, 2, "a list of 2 items"), (1, 3, "a list of 1 to 3 items"),
])
def test_item_counts_in_words(low: int | None, high: int | None, words: str) -> None:
    assert ParamSpec(name="x", type="list", min_items=low, max_items=high).describe() == words


# --- label templates and examples (livedocs_runner.labels) -----------------------------------------

@pytest.mark.parametrize("template, values, label", [
    ("{year} Q{quarter}", {"year": "2025", "quarter": "4"}, "2025 Q4"),
    ("{{{year}}}", {"year": "2025"}, "{2025}"),
    ("Q{quarter} ({missing})", {"quarter": "1", "missing": None}, "Q1 ()"),
    ("{a}", {"a": "x" * 200}, "x" * 77 + "..."),
    ("{a}  {b}", {"a": "one\n", "b": "two"}, "one two"),  # whitespace folded: a label is one line
])
def test_fill(template: str, values: dict, label: str) -> None:
    from livedocs_runner.labels import fill
    assert fill(template, values) == label


@pytest.mark.parametrize("template, error", [
    ("{year.__class__}", "has the field {year.__class__}"),
    ("{year[0]}", "has the field {year[0]}"),
    ("{0}", "has the field {0}"),
    ("{}", "has the field {}"),
    ("{year!r}", "has the field {year!r}"),
    ("{year:>10}", "has the field {year:>10}"),
    ("Q{quarter", "has a lone '{'"),
    ("Q}", "has a lone '}'"),
    ("x" * 201, "the limit is 200"),
])
def test_templates_are_names_only(template: str, error: str) -> None:
    from livedocs_runner.labels import template_fields
    with pytest.raises(ValueError, match=re.escape(error)):
        template_fields(template)


@pytest.mark.parametrize("pattern, example", [
    (r"[A-Z]{2}-\d", "AA-0"),
    (r"^[a-z]+$", "a"),
    (r"\d{4}-\d{2}-\d{2}", "0000-00-00"),
    (r"(EU|US)-\d+", "EU-0"),
    (r"[^0-9]x", "ax"),
    (r"(?P<a>ab)-(?P=a)", "ab-ab"),
    (r"v\d+(\.\d+)?", "v0"),
    (r"\w+@\w+\.com", "a@a.com"),
    (r"a{100}", None),  # longer than an example should be
    (r"\p{L}+", None),  # regex-only syntax: no example, never a wrong one
    (r"(?=x)y", None),  # the built text does not match: not offered
])
def test_example_for(pattern: str, example: str | None) -> None:
    from livedocs_runner.labels import example_for
    assert example_for(pattern) == example
