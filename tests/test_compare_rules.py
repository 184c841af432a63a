"""The rules that keep a comparison honest (livedocs_runner.compare): what varies, chart or table, which
run a result is compared with by default, and which notebook a run used. UI-free, so tables of cases."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner.compare import (Change, change, choose_view, compare, default_baseline, notebook_version,
                                     numeric_metrics)
from livedocs_runner.records.store import RunRecord

_n = 0


def run(params: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None, **fields: Any) -> RunRecord:
    global _n
    _n += 1
    fields.setdefault("id", f"{_n:012x}")
    fields.setdefault("notebook", "/p/nb.ipynb")
    fields.setdefault("status", "succeeded")
    return RunRecord(notebook_sha256="a" * 64, parameters=params or {}, metrics=metrics or {}, **fields)


@pytest.mark.parametrize(("params", "kind", "x", "why"), [
    # a sweep of one number, a value per run: the only honest chart
    ([{"t": 0.3, "r": "n"}, {"t": 0.5, "r": "n"}, {"t": 0.4, "r": "n"}], "chart", "t", ""),
    ([{"n": 1}, {"n": 2}], "chart", "n", ""),
    ([{"t": 0.3}, {"t": 2}], "chart", "t", ""),  # int and float are both numbers
    # two inputs differ: a line would mix their effects
    ([{"t": 0.3, "s": 0.0}, {"t": 0.4, "s": 3.0}], "table", None, "the runs differ in 2 inputs (t, s)"),
    ([{"t": 0.3, "f": "a.csv"}, {"t": 0.4, "f": "b.csv"}], "table", None, "the runs differ in 2 inputs"),
    # one input differs, but it is not a number
    ([{"f": "a.csv"}, {"f": "b.csv"}], "table", None, "'f' is not a number in every run"),
    ([{"b": True}, {"b": False}], "table", None, "'b' is not a number"),  # a bool is not a point on an axis
    ([{"t": 0.3}, {"t": "0.4"}], "table", None, "'t' is not a number"),
    ([{"t": 0.3}, {}], "table", None, "'t' is not a number"),  # missing in one run
    # the same input value twice: a vertical jump, not a curve
    ([{"t": 0.3}, {"t": 0.3, "u": 1}, {"t": 0.5}], "table", None, "the runs differ in 2 inputs"),
    ([{"t": 0.3, "s": "x"}, {"t": 0.3, "s": "y"}], "table", None, "'s' is not a number"),
    ([{"t": 0.3}, {"t": 0.5}, {"t": 0.3}], "table", None, "some runs have the same 't'"),
    ([{"t": 1}, {"t": 1.0}], "table", None, "the runs have the same inputs"),
    ([{"t": 0.3}, {"t": 0.3}], "table", None, "the runs have the same inputs"),  # e.g. a run and its cache hit
    ([{"t": 0.3}], "table", None, "there is only one run"),
])
def test_a_chart_only_for_a_one_number_sweep(params: list[dict[str, Any]], kind: str, x: str | None, why: str) -> None:
    view = choose_view(compare([run(p, {"rate": i * 0.1}) for i, p in enumerate(params)]))
    assert (view.kind, view.x) == (kind, x)
    assert why in view.why and (view.why == "") == (kind == "chart")


def test_no_chart_without_a_numeric_result() -> None:
    view = choose_view(compare([run({"t": 0.3}, {"note": "a"}), run({"t": 0.5}, {"note": "b"})]))
    assert (view.kind, view.why, view.metric) == ("table", "there is no numeric result to draw", None)


@pytest.mark.parametrize(("metrics", "order", "default"), [
    ([{"same": 1, "moves": 0.1}, {"same": 1, "moves": 0.2}], ["moves", "same"], "moves"),
    ([{"a": 1, "b": 2}, {"a": 1, "b": 2}], ["a", "b"], "a"),  # nothing varies: the first
    ([{"a": 1, "t": "x", "c": 3.0}, {"a": 2, "t": "y", "c": 4.0}], ["a", "c"], "a"),  # text is no metric to plot
    ([{"a": 1, "b": None}, {"a": 1, "b": 5}], ["b", "a"], "b"),  # missing in one run counts as varying
    ([{"flag": True}, {"flag": False}], [], None),
    ([{"tbl": {"columns": ["x"], "data": [[1]]}, "a": 1}, {"a": 2}], ["a"], "a"),  # tables are not scalars
])
def test_the_default_metric_is_one_that_varies(metrics: list[dict[str, Any]], order: list[str], default: str | None) -> None:
    comparison = compare([run({"t": i}, m) for i, m in enumerate(metrics)])
    assert numeric_metrics(comparison) == order
    assert choose_view(comparison).metric == default


def test_compare_keeps_bools_and_numbers_apart() -> None:
    result = compare([run({"a": 1, "b": 1, "c": 0.5}), run({"a": True, "b": 1.0, "c": 0.5})])
    assert result.differing == {"a": [1, True]} and result.same == {"b": 1, "c": 0.5}


@pytest.mark.parametrize(("value", "base", "expected"), [
    (0.6, 0.5, Change(pytest.approx(0.1), pytest.approx(0.2))),
    (90, 100, Change(-10, -0.1)),
    (-3.0, -2.0, Change(-1.0, -0.5)),  # relative to the size of the base: a more negative value is a fall
    (5, 0, Change(5, None)),  # no relative change from zero
    (1, 1, Change(0, 0.0)),
    ("a", 1, None), (1, None, None), (True, 1, None), (float("nan"), 1.0, None),
])
def test_change(value: Any, base: Any, expected: Change | None) -> None:
    assert change(value, base) == expected


BASE = {"threshold": 0.5, "shock": 0.0}


def _history() -> dict[str, RunRecord]:
    """A store's runs newest first: cache hits, a failed run, other scenarios and an edited baseline."""
    return {
        "hit": run(BASE, scenario="baseline", cache_of="000000000b01", id="000000000c01", trigger="app"),
        "stress": run({"threshold": 0.4, "shock": 3.0}, scenario="stress", id="000000000a02"),
        "failed": run(BASE, scenario="baseline", status="failed", id="000000000f01"),
        "edited": run({"threshold": 0.6, "shock": 0.0}, scenario="baseline", id="000000000e01"),
        "executed": run(BASE, scenario="baseline", id="000000000b01"),
        "older": run(BASE, scenario="baseline", id="000000000b00"),
        "other_nb": run(BASE, scenario="baseline", notebook="/p/other.ipynb", id="000000000d01"),
    }


@pytest.mark.parametrize(("record", "baseline", "params", "expected"), [
    # the latest *executed* run with the baseline's values: not the newer cache hit, not the failed one
    (run({"threshold": 0.4}, scenario="stress"), "baseline", BASE, "000000000b01"),
    # the baseline run itself: compared with the baseline's previous executed run
    ("executed", "baseline", BASE, "000000000b00"),
    # the cache hit: with the executed run it reused
    ("hit", "baseline", BASE, "000000000b01"),
    # baseline values unknown (the config cannot give them): the newest executed run under that name
    (run({"threshold": 0.4}, scenario="stress"), "baseline", None, "000000000e01"),
    # no baseline scenario in the config, or none run yet: nothing, never an arbitrary run
    (run({"threshold": 0.4}, scenario="stress"), None, BASE, None),
    (run({"threshold": 0.4}, scenario="stress"), "nope", {"threshold": 0.1}, None),
    # a rerun: its original, whatever the config says
    (run(BASE, scenario="baseline", rerun_of="000000000a02", trigger="rerun:exact"), "baseline", BASE, "000000000a02"),
    (run(BASE, scenario="baseline", rerun_of="000000000f01", trigger="app:exact"), None, None, "000000000f01"),
    # runs of another notebook are never the baseline
    (run({"threshold": 0.4}, scenario="stress", notebook="/p/other.ipynb"), "baseline", BASE, "000000000d01"),
    (run({"threshold": 0.4}, scenario="stress", notebook="/p/third.ipynb"), "baseline", BASE, None),
])
def test_default_compare_with(record: RunRecord | str, baseline: str | None, params: dict[str, Any] | None,
                              expected: str | None) -> None:
    history = _history()
    record = history[record] if isinstance(record, str) else record
    assert default_baseline(record, history.values(), baseline=baseline, baseline_params=params) == expected


def test_notebook_version(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_bytes(b"{}")
    sha = hashlib.sha256(b"{}").hexdigest()
    record = run(notebook=str(path)).__class__(id="1" * 12, notebook=str(path), notebook_sha256=sha)
    assert notebook_version(record).matches
    assert notebook_version(record).describe() == f"notebook {sha[:7]} (the current file)"
    path.write_bytes(b'{"changed": 1}')
    now = hashlib.sha256(b'{"changed": 1}').hexdigest()
    assert notebook_version(record).describe() == f"notebook {sha[:7]} (the file has changed since: now {now[:7]})"
    path.unlink()
    assert notebook_version(record).describe() == f"notebook {sha[:7]} (the file is no longer there)"
