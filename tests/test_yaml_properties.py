"""Property tests (Hypothesis): whatever bytes a config or notebook file holds, loading it returns
a value or raises the error family the CLI turns into exit 2, never anything else.

The YAML text is built from the pieces that have caused trouble (anchors, aliases, merge keys,
complex keys, tags, escapes, huge numbers, deep brackets) as well as arbitrary text; notebooks
are ``simple.ipynb`` with one field replaced by arbitrary JSON.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from livedocs_runner.errors import ConfigError, InputError
from livedocs_runner.notebook import load_notebook
from livedocs_runner.scenarios import load_config
from livedocs_runner.schema import schema_for
from livedocs_runner.yamlfile import MAX_NODES, _Loader, _Malformed, _parse, _PyLoader, load_yaml
from tests.conftest import CONFIGS, NOTEBOOKS

SETTINGS = settings(max_examples=int(os.environ.get("LIVEDOCS_EXAMPLES", 200)), deadline=None, suppress_health_check=[HealthCheck.too_slow])

PIECES = ["&a ", "*a", "&b ", "*b", "[", "]", "{", "}", ": ", ", ", "- ", "\n", "\n  ", "\n    ", "? ", "<<: ",
          "!!int ", "!!str ", "!!binary ", "!!set ", "!!omap ", "!!python/object:os.system ", "!foo ", "--- ", "...",
          '"\\ud800"', '"\\U0001F600"', '"\\e[2J"', "'quoted'", "0x" + "f" * 40, "9" * 4400, "1:2:3", "0b1010",
          ".inf", "-.nan", "~", "null", "true", "on", "2024-01-01", "#c", "|\n  text", ">\n  folded", "x", "name",
          "scenarios", "sweeps", "grid", "base", "parameters", "a", "b", "1", "%YAML 1.1\n", "\t", "\x00", "\ufeff"]
yaml_text = st.lists(st.sampled_from(PIECES), max_size=40).map("".join) | st.text(max_size=200)


@contextmanager
def file_with(text: str | bytes, suffix: str) -> Iterator[Path]:
    """A temporary file holding ``text`` (Hypothesis runs many examples per test, so no tmp_path)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"f{suffix}"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        yield path


@SETTINGS
@given(text=yaml_text)
def test_yaml_loader_returns_or_raises_config_error(text: str) -> None:
    with file_with(text, ".yaml") as path:
        try:
            doc = load_yaml(path)
        except ConfigError as exc:
            assert str(path) in exc.message and "\n" not in exc.message
            return
        json.dumps(doc.data)  # plain data: text keys, no cycles, no objects


CONFIG_PIECES = [f"notebook: {NOTEBOOKS / 'all_types.ipynb'}\n", "parameters:\n", "scenarios:\n", "sweeps:\n",
                 "  x:\n", "  y: &y {i: 1}\n", "  z: {<<: *y, f: 2}\n", "    grid: {i: [1, 2], s: [a, b]}\n",
                 "    base: x\n", "  i: {type: int, min: 0, max: 10}\n", "  s: {pattern: '^[a-z]+$'}\n",
                 "  s: {choices: [a, b]}\n", "  l: {type: list}\n", "  i: 3\n", "  s: \"\\e]0;t\\a\"\n",
                 "  d: {k: [1, {m: 2}]}\n", "  f: 1e400\n", "  b: yes\n", "  n: !!binary aGk=\n", "warm_imports: [os]\n",
                 "warm_imports: ['os;x']\n", "kernel: python3\n", "kernel: ../x\n", "baseline: x\n", "title: [1]\n",
                 "  i: 99\n", "    i: 1\n", "      - 1\n", "  ? [k]\n  : 1\n", "  1: {}\n", "  '': {}\n",
                 "  i: {min: [1]}\n", "  s: {choices: [[1], {a: 1}]}\n", "  l: {choices: [1, [2]]}\n", "  f: {type: date}\n",
                 "  n: {type: path, within: 5}\n", "  n: {type: path, within: .}\n", "  s: {default: [1]}\n",
                 "  d: {type: dict, default: {1: 2}}\n", "  b: {required: yes}\n", "  s: {label: [x], help: {a: 1}}\n",
                 "  i: {type: any, min: 0}\n", "  s: {pattern: [x]}\n", "  s: {pattern: '((a{99}){99}){99}'}\n",
                 "  i: {type: float, max: .nan}\n", "  tc: {type: datetime, min: 2024-01-01}\n", "  s: 2024-01-01\n",
                 "  l: {type: list, min: 1}\n", "  n: {type: nonsense}\n", "  x: {type: int}\n", "  s: !!binary aGk=\n",
                 "  y: *y\n", "    base: [x]\n", "    grid: {i: []}\n", "    grid: [1]\n", "description: {a: 1}\n"]


@SETTINGS
@given(pieces=st.lists(st.sampled_from(CONFIG_PIECES), min_size=1, max_size=12))
def test_load_config_returns_or_raises_input_error(pieces: list[str]) -> None:
    with file_with(CONFIG_PIECES[0] + "".join(pieces), ".yaml") as path:
        try:
            config = load_config(path)
        except InputError as exc:
            assert "\n" not in exc.message
            return
        assert config.scenarios and len({s.name for s in config.scenarios}) == len(config.scenarios)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=6)
SIMPLE = json.loads((NOTEBOOKS / "simple.ipynb").read_text(encoding="utf-8"))
FIELDS = [("nbformat",), ("nbformat_minor",), ("metadata",), ("metadata", "kernelspec"), ("metadata", "kernelspec", "name"),
          ("cells",), ("cells", 0), ("cells", 0, "cell_type"), ("cells", 0, "metadata"), ("cells", 0, "metadata", "tags"),
          ("cells", 0, "source"), ("cells", 0, "source", 0), ("cells", 1, "source"), ("cells", 3, "cell_type")]


def replaced(data: Any, where: tuple, value: Any) -> Any:
    data = copy.deepcopy(data)
    target = data
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    return data


@SETTINGS
@given(where=st.sampled_from(FIELDS), value=json_values)
def test_load_notebook_returns_or_raises_input_error(where: tuple, value: Any) -> None:
    text = json.dumps(replaced(SIMPLE, where, value))
    with file_with(text, ".ipynb") as path:
        try:
            notebook = load_notebook(path)
            schema_for(notebook)  # what `livedocs inspect` and every config do next
            notebook.top_level_imports()
            assert isinstance(notebook.kernel_name, str)
        except InputError as exc:
            assert "\n" not in exc.message


@SETTINGS
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_load_notebook_of_arbitrary_bytes(raw: bytes) -> None:
    with file_with(raw, ".ipynb") as path:
        try:
            load_notebook(path)
        except InputError:
            pass


@pytest.mark.parametrize("text", [
    "a: &a [x, x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1 if i > 1 else ''}, *a{i - 1 if i > 1 else ''}]\n".replace("*a0", "*a")
                                 for i in range(1, 25)),
    "base: &b {x: 1}\n" + "".join(f"m{i}: &m{i} {{<<: [{', '.join(['*b'] + [f'*m{j}' for j in range(i)])}]}}\n" for i in range(25)),
], ids=["doubling-aliases", "merge-key-chain"])
def test_alias_expansion_is_counted_whatever_the_route(text: str) -> None:
    with file_with(text, ".yaml") as path, pytest.raises(ConfigError, match=f"more than {MAX_NODES} values"):
        load_yaml(path)


def test_merge_keys_still_work() -> None:
    with file_with("base: &b {x: 1, y: 2}\nother: {<<: *b, y: 3, z: 4}\n", ".yaml") as path:
        doc = load_yaml(path)
    assert doc.data["other"] == {"x": 1, "y": 3, "z": 4}
    assert doc.line("other", "y") == 2 and doc.line("other", "x") == 1


LOADERS = [_Loader, _PyLoader]  # libyaml's parser (the normal path) and the pure-Python one (for clearer syntax errors)


@pytest.mark.parametrize("loader", LOADERS, ids=["libyaml", "python"])
@pytest.mark.parametrize("text, message", [
    ((CONFIGS / "alias_bomb.yaml").read_text(), "more than 100000 values"),
    ((CONFIGS / "recursive_alias.yaml").read_text(), "recursive alias"),
    ("a: &x {b: {<<: *x}}\n", "recursive alias"),
    ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 64 levels deep"),
    ("a: &x " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*x" + "]" * 40 + "\n", "nested more than 64 levels deep (through aliases)"),
    ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (also on line 1)"),
    ("? {x: 1}\n: 2\n", "a mapping key must be a plain name"),
    ("x: " + "1" * 5000 + "\n", "has more than 4300 digits"),
    ("x: 0x" + "f" * 4000 + "\n", "has more than 4300 digits"),
    ("x: !!binary aGVsbG8=\n", "a config cannot hold"),
    ('x: "\\ud800"\n', "alid Unicode"),  # libyaml calls it malformed, the Python parser lets us say why
    ("x: !\n", "line 1: the value '' has the non-specific tag '!'"),  # libyaml would read '', PyYAML null
    ("x: ! 5\n", "non-specific tag '!'"),
], ids=["bomb", "recursive", "recursive-merge", "deep", "deep-via-alias", "duplicate", "complex-key", "long-int",
        "huge-hex", "binary", "surrogate", "bare-tag", "tagged-number"])
def test_both_parsers_enforce_the_limits(loader: type, text: str, message: str) -> None:
    with file_with(text, ".yaml") as path, pytest.raises((ConfigError, _Malformed), match=re.escape(message)):
        _parse(path, text, loader)


@SETTINGS
@given(text=yaml_text)
def test_both_parsers_agree_on_what_they_accept(text: str) -> None:
    assume("\ufeff" not in text[1:])  # a byte-order mark inside the text: libyaml keeps it, PyYAML drops it
    results = []
    with file_with(text, ".yaml") as path:
        for loader in LOADERS:
            try:
                results.append(_parse(path, text, loader).data)
            except (ConfigError, _Malformed):
                results.append("refused")
    if "refused" not in results:
        assert json.dumps(results[0], sort_keys=True) == json.dumps(results[1], sort_keys=True)


CELL_PIECES = ["x = ", "y: float = ", "1", "-", "0x" + "f" * 4000, "9" * 5000, "9" * 400, "1e999", "'s'", '"\\ud800"', "[", "]", "(", ")",
               "{1, 2}", "b'x'", "1j", "...", "{1: 2}", "[" * 40, "]" * 40,
               "{", "}", ", ", ": ", "None", "True", "pd.Timestamp.now()", "lambda: 0", "  # type: ", "float", "List[int]",
               "# help", "\n", "\t", "import os\n", "from . import x\n", "%matplotlib inline\n", "!ls\n", "del x\n",
               "x += 1\n", "global x\n", "class C: pass\n", "(x := 2)\n", "x, y = 1, 2\n", "\\", "'''", "\x00", "\u200f"]


@SETTINGS
@given(pieces=st.lists(st.sampled_from(CELL_PIECES), max_size=30))
def test_any_parameters_cell_gives_a_schema_or_an_input_error(pieces: list[str]) -> None:
    source = "".join(pieces)
    data = replaced(replaced(SIMPLE, ("cells", 0, "source"), source), ("cells", 1, "source"), source)
    with file_with(json.dumps(data), ".ipynb") as path:
        try:
            notebook = load_notebook(path)
            schema = schema_for(notebook)
            json.dumps(schema.to_json())  # `livedocs inspect --json`
            notebook.top_level_imports()
            json.dumps(schema.resolve())  # what a run would get
        except InputError as exc:
            assert "\n" not in exc.message
