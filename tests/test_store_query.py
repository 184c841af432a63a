"""Store.query on a real SQLite store and a real PostgreSQL store (tests/store_backends.py): dates, users, triggers, sweeps, configs, parameter values inside the
stored JSON (quotes, unicode and SQL stay data), damaged records, and paging."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner.errors import InputError, StoreWarning
from livedocs_runner.records.query import RunQuery, when
from livedocs_runner.records.store import RunRecord, Store, open_store
from tests.store_backends import Backend, backend, pg_server  # noqa: F401  (fixtures)

EVIL = ["it's", 'say "hi"', "'; DROP TABLE runs; --", "Zürich → 東京 🎉", "%", "_", "a\\b", "') OR 1=1 --"]


def add(store: Store, run_id: str, created: str, params: dict[str, Any] | None = None, **fields: Any) -> RunRecord:
    return store.add(RunRecord(id=run_id, notebook=fields.pop("notebook", "/p/nb.ipynb"), notebook_sha256="a" * 64,
                               created_at=created, parameters=params or {}, **fields))


@pytest.fixture
def store(tmp_path: Path, backend: Backend) -> Store:
    store = open_store(tmp_path / "home", backend.url)
    add(store, "000000000001", "2026-11-01T09:00:00.000+00:00", {"threshold": 0.3, "region": "north"},
        user="ana", trigger="cli", scenario="threshold_sweep[threshold=0.3]", config="/p/configs/credit.yaml")
    add(store, "000000000002", "2026-11-10T12:00:00.000+00:00", {"threshold": 0.4, "region": "south"},
        user="bo", trigger="app", scenario="threshold_sweep[threshold=0.4]", config="/p/configs/credit.yaml")
    add(store, "000000000003", "2026-11-20T23:59:59.999+00:00", {"threshold": "0.4", "flag": True, "n": 3},
        user="ana", trigger="app:exact", scenario="stress", rerun_of="000000000002")
    add(store, "000000000004", "2026-11-21T00:00:00.000+00:00", {"threshold": 0.5, "regions": ["n", "s"], "x": None},
        user="cy", trigger="rerun:exact", scenario="threshold_sweep_2[threshold=0.5]", status="failed")
    for index, value in enumerate(EVIL):
        add(store, f"00000000e{index:03d}", f"2026-10-0{index + 1}T00:00:00.000+00:00", {"label": value},
            user=value, trigger="cli", scenario="evil")
    return store


def ids(store: Store, **query: Any) -> list[str]:
    return [r.id for r in store.query(RunQuery(limit=None, **query))]


@pytest.mark.parametrize(("query", "expected"), [
    ({"since": datetime(2026, 11, 10, 12, tzinfo=UTC)}, ["000000000004", "000000000003", "000000000002"]),
    ({"until": when("2026-11-20", end=True)}, ["000000000003", "000000000002", "000000000001"]),
    ({"since": when("2026-11-10"), "until": when("2026-11-10", end=True)}, ["000000000002"]),
    ({"users": ["ana"]}, ["000000000003", "000000000001"]),
    ({"users": ["ana", "cy"], "statuses": ["failed"]}, ["000000000004"]),
    # a trigger keeps its reruns asked for from it (app:exact), and nothing that merely starts with its letters
    ({"triggers": ["app"]}, ["000000000003", "000000000002"]),
    ({"triggers": ["ap"]}, []),
    ({"triggers": ["rerun", "cli"], "since": when("2026-11-01")}, ["000000000004", "000000000001"]),
    # a sweep: its points, not another sweep whose name starts the same
    ({"sweep": "threshold_sweep"}, ["000000000002", "000000000001"]),
    ({"sweep": "threshold"}, []),
    ({"config": "/p/configs/credit.yaml"}, ["000000000002", "000000000001"]),
    ({"scenarios": ["stress"]}, ["000000000003"]),
    ({"notebook": "nb.ipynb", "users": ["bo"]}, ["000000000002"]),  # a file name: any folder
    ({"notebook": "/p/nb.ipynb", "users": ["bo"]}, ["000000000002"]),
    ({"notebook": "other.ipynb"}, []), ({"notebook": "/q/nb.ipynb"}, []),
    # parameter values as JSON values: the number 0.4 is not the text "0.4"
    ({"params": {"threshold": [0.4]}}, ["000000000002"]),
    ({"params": {"threshold": ["0.4"]}}, ["000000000003"]),
    ({"params": {"threshold": [0.4, "0.4"]}}, ["000000000003", "000000000002"]),
    ({"params": {"threshold": [0.3, 0.5], "region": ["north"]}}, ["000000000001"]),
    ({"params": {"flag": [True]}}, ["000000000003"]),
    ({"params": {"flag": [1]}}, []),  # true is not 1
    ({"params": {"n": [3.0]}}, ["000000000003"]),  # 3 and 3.0 are the same number
    ({"params": {"regions": [["n", "s"]]}}, ["000000000004"]),
    ({"params": {"regions": [["s", "n"]]}}, []),
    ({"params": {"x": [None]}}, ["000000000004"]),
    ({"params": {"missing": [None]}}, []),
    ({"params": {"threshold": []}}, ["000000000004", "000000000003", "000000000002", "000000000001"]),  # no values: no filter
])
def test_filters(store: Store, query: dict[str, Any], expected: list[str]) -> None:
    query.setdefault("since", when("2026-11-01"))
    assert ids(store, **query) == expected


@pytest.mark.parametrize("value", EVIL)
def test_quotes_unicode_and_sql_in_values_are_data(store: Store, value: str) -> None:
    expected = [f"00000000e{EVIL.index(value):03d}"]
    assert ids(store, params={"label": [value]}) == expected
    assert ids(store, users=[value]) == expected
    assert ids(store, triggers=[value]) == []
    assert ids(store, sweep=value) == []
    assert ids(store, params={value: [value]}) == []  # as a parameter name too
    assert len(ids(store)) == 4 + len(EVIL)  # nothing was dropped or changed


def test_paging_newest_first(store: Store) -> None:
    everything = ids(store)
    pages = [[r.id for r in store.query(RunQuery(limit=5, offset=offset))] for offset in range(0, 15, 5)]
    assert sum(pages, []) == everything and [len(p) for p in pages] == [5, 5, 2]


def test_a_damaged_record_is_left_out_not_fatal(store: Store) -> None:
    with store._connect() as db:
        db.execute("UPDATE runs SET parameters = '{not json' WHERE id = '000000000002'")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ids(store, params={"threshold": [0.3, 0.4]}) == ["000000000001"]
        assert ids(store, users=["bo"]) == []
    assert any(issubclass(w.category, StoreWarning) and "000000000002" in str(w.message) for w in caught)


NOW = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "end", "expected"), [
    ("7d", False, datetime(2026, 11, 17, 5, 0, tzinfo=UTC)),
    ("12h", False, datetime(2026, 11, 23, 17, 0, tzinfo=UTC)),
    ("30m", False, datetime(2026, 11, 24, 4, 30, tzinfo=UTC)),
    ("2W", False, datetime(2026, 11, 10, 5, 0, tzinfo=UTC)),
    ("2026-11-20", False, datetime(2026, 11, 20, tzinfo=UTC)),
    ("2026-11-20", True, datetime(2026, 11, 21, tzinfo=UTC)),  # --until a day keeps that day
    ("2026-11-20T14:30", True, datetime(2026, 11, 20, 14, 30, tzinfo=UTC)),
    ("2026-11-20T14:30+01:00", False, datetime(2026, 11, 20, 13, 30, tzinfo=UTC)),
])
def test_when(text: str, end: bool, expected: datetime) -> None:
    assert when(text, now=NOW, end=end) == expected


@pytest.mark.parametrize("text", ["yesterday", "7", "-7d", "2026-13-01", "d7", ""])
def test_when_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(InputError) as caught:
        when(text, now=NOW)
    assert caught.value.exit_code == 2
    assert "is not a date or a time span" in caught.value.message and "7d" in (caught.value.hint or "")
