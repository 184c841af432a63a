"""What the History page asks the store (counted from the LIVEDOCS_DEBUG timing log, through AppTest on a real
store): one query of the notebook's newest runs when no filter is set (the filtered query would be the same),
a second one only when a filter narrows it; the runs shown are the same either way."""

from __future__ import annotations

from .test_app import app, home, keep_main_module  # noqa: F401  (fixtures)
from .test_app_history import runs, table_ids  # noqa: F401  (fixture)


def store_queries(capfd) -> int:
    return sum(line.startswith("livedocs-timing store query ") for line in capfd.readouterr().err.splitlines())


def test_without_filters_the_history_asks_the_store_once(runs, monkeypatch, capfd) -> None:  # noqa: F811
    monkeypatch.setenv("LIVEDOCS_DEBUG", "1")
    at = app(history="credit_risk")
    assert not at.exception
    assert sorted(table_ids(at)) == sorted(r.id for r in runs.values())  # every run, newest first below
    assert table_ids(at)[0] == runs["failed"].id
    assert store_queries(capfd) == 1
    at.run()  # a rerun (a widget touched, the page polled) asks once again, not twice
    assert store_queries(capfd) == 1


def test_a_filter_asks_the_store_for_the_runs_it_keeps(runs, monkeypatch, capfd) -> None:  # noqa: F811
    monkeypatch.setenv("LIVEDOCS_DEBUG", "1")
    at = app(history="credit_risk", status="failed")
    assert not at.exception
    assert table_ids(at) == [runs["failed"].id]
    assert store_queries(capfd) == 2  # the notebook's runs (the filters' choices), then the filtered ones
    at = app(history="credit_risk", user="bo")
    assert sorted(table_ids(at)) == sorted(r.id for r in runs.values() if r.user == "bo")
