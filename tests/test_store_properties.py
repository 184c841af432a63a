"""Property tests: any record (names and values from the whole of Unicode, deep nesting, huge numbers)
comes back from the store unchanged through add/get/list/update; text that is not valid Unicode (lone
surrogates) is refused before it reaches SQLite."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path, PurePath
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livedocs_runner.errors import RunNotFound, StoreError
from livedocs_runner.records.store import RunRecord, Store, new_id

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every code point except lone surrogates (Cs): NUL, controls, RTL marks, astral planes, unassigned ones.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
HUGE = 10 ** 4299  # Python's int <-> str limit is 4300 digits: the largest a record can keep
BIG = st.builds(lambda digits, sign, low: sign * (10 ** digits - low), st.integers(min_value=18, max_value=4299),
                st.sampled_from([1, -1]), st.integers(min_value=0, max_value=10 ** 6))  # up to 4299 digits, cheaply
NUMBERS = st.integers() | BIG | st.sampled_from([HUGE, -HUGE, 2 ** 64, -(2 ** 63)]) | st.floats(allow_nan=False)
JSON = st.recursive(st.none() | st.booleans() | NUMBERS | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=24)
OBJECT = st.dictionaries(TEXT, JSON, max_size=6)


@st.composite
def records(draw: st.DrawFn) -> RunRecord:
    return RunRecord(
        id=new_id(), status=draw(st.sampled_from(["queued", "running", "succeeded", "failed", "cancelled"])),
        notebook="/" + "/".join(draw(st.lists(TEXT.filter(lambda t: "/" not in t and t not in ("", ".", "..")),
                                              min_size=1, max_size=3))),
        notebook_sha256=draw(TEXT), notebook_copy=draw(TEXT), config=draw(st.none() | TEXT), title=draw(TEXT),
        scenario=draw(TEXT), parameters=draw(OBJECT), created_at=draw(TEXT), started_at=draw(st.none() | TEXT),
        finished_at=draw(st.none() | TEXT), duration_s=draw(st.none() | st.floats(allow_nan=False)),
        error=draw(st.none() | OBJECT), metrics=draw(OBJECT), inputs=draw(st.lists(OBJECT, max_size=3)),
        environment=draw(OBJECT), trigger=draw(TEXT), user=draw(TEXT), run_dir=draw(TEXT),
        output_notebook=draw(st.none() | TEXT), report_html=draw(st.none() | TEXT),
        outputs=draw(st.lists(TEXT, max_size=3)), rerun_of=draw(st.none() | TEXT), cache_of=draw(st.none() | TEXT),
        cache_key=draw(st.none() | TEXT))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(tmp_path_factory.mktemp("props"))




def same(a: Any, b: Any) -> bool:
    """Equal, and the same types all the way down (1 is not 1.0 or True; -0.0 keeps its sign)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def same_record(a: RunRecord, b: RunRecord) -> bool:
    return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(RunRecord))


@SETTINGS
@given(record=records())
def test_any_record_round_trips(store: Store, record: RunRecord) -> None:
    added = store.add(record)
    assert added.created_at and added.run_dir  # filled in when empty, kept otherwise
    assert (added.created_at, added.run_dir) == (record.created_at or added.created_at, record.run_dir or added.run_dir)
    assert same_record(store.get(record.id), added)
    name = PurePath(record.notebook).name
    listed = {r.id: r for r in store.list(notebook=name, limit=None)}
    assert same_record(listed[record.id], added)
    assert record.id in {r.id for r in store.list(notebook=record.notebook, limit=None)}
    if record.scenario:
        assert record.id in {r.id for r in store.list(scenario=record.scenario, limit=None)}


@SETTINGS
@given(record=records(), parameters=OBJECT, metrics=OBJECT, error=st.none() | OBJECT, title=TEXT)
def test_any_update_round_trips(store: Store, record: RunRecord, parameters: dict, metrics: dict,
                                error: dict | None, title: str) -> None:
    added = store.add(record)
    updated = store.update(added, parameters=parameters, metrics=metrics, error=error, title=title)
    assert same_record(store.get(record.id), updated)


def nested(depth: int, leaf: Any, kind: str) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if kind == "list" or (kind == "mixed" and level % 2) else {"k": value}
    return value


@SETTINGS
@given(depth=st.integers(min_value=1, max_value=500), leaf=JSON, kind=st.sampled_from(["list", "dict", "mixed"]))
def test_deep_nesting_round_trips(store: Store, depth: int, leaf: Any, kind: str) -> None:
    record = store.add(RunRecord(id=new_id(), notebook="/deep.ipynb", notebook_sha256="0",
                                 parameters={"deep": nested(depth, leaf, kind)}, metrics={"m": nested(depth, leaf, kind)}))
    assert same_record(store.get(record.id), record)


SURROGATE = st.characters(categories=("Cs",))


@settings(max_examples=25, deadline=None)
@given(before=TEXT, surrogate=SURROGATE, after=TEXT, where=st.sampled_from(["scenario", "title", "key", "value"]))
def test_lone_surrogates_are_refused_before_the_store(store: Store, before: str, surrogate: str, after: str,
                                                      where: str) -> None:
    text = before + surrogate + after
    fields: dict[str, Any] = {"scenario": {"scenario": text}, "title": {"title": text},
                              "key": {"parameters": {text: 1}}, "value": {"parameters": {"p": [text]}}}[where]
    run_id = new_id()
    with pytest.raises(StoreError) as info:
        store.add(RunRecord(id=run_id, notebook="/s.ipynb", notebook_sha256="0", **fields))
    assert "not valid Unicode" in info.value.message and info.value.exit_code == 2
    with pytest.raises(RunNotFound):
        store.get(run_id)


def test_the_store_file_is_the_only_state(tmp_path: Path) -> None:
    """A second Store on the same folder (a new process would do the same) reads what the first wrote."""
    record = Store(tmp_path).add(RunRecord(id=new_id(), notebook="/n\u0000\u202e.ipynb", notebook_sha256="0",
                                           parameters={"\U0001f600": HUGE, "": [None, -0.0, float("inf")]}))
    assert same_record(Store(tmp_path).get(record.id), record)


@dataclasses.dataclass
class _Point:
    x: int
    y: list[int]


@SETTINGS
@given(record=records(), metrics=OBJECT)
def test_rows_and_journal_fields_are_what_a_deep_copy_gave(record: RunRecord, metrics: dict) -> None:
    """``to_row`` and the journal's fields read the record's values in place (no ``dataclasses.asdict`` copy);
    the text they give is the same as with the copy, a dataclass inside a field included."""
    import json

    from livedocs_runner.records import journal
    from livedocs_runner.records.record import to_row

    record = dataclasses.replace(record, metrics={**metrics, "point": _Point(1, [2, 3])})
    copied = dataclasses.asdict(record)
    expected = {k: json.dumps(v, ensure_ascii=False) if k in ("parameters", "error", "metrics", "inputs",
                                                              "environment", "outputs") and v is not None else v
                for k, v in copied.items()}
    assert to_row(record) == expected
    assert journal.canonical(journal.record_fields(record)) == journal.canonical(
        {k: v for k, v in copied.items() if not (k == "auth" and v is None)})
    assert journal.record_fields(record)["metrics"] is record.metrics  # read in place, never copied
