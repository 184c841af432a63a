"""The History page (?history=NAME, filters in the URL), tick-to-compare, "Run again"/"Edit these inputs"
saying which notebook they use, the compare page's table-or-chart rule and the default "Compare with",
through AppTest on a real store (records written directly: no kernel needed)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from livedocs_runner.records.store import RunRecord, Store

from .test_app import ROOT, app, home, keep_main_module, texts  # noqa: F401  (fixtures)

NOTEBOOK = str((ROOT / "notebooks" / "credit_risk.ipynb").resolve())
CONFIG = str((ROOT / "configs" / "credit_risk.yaml").resolve())
SHA = hashlib.sha256((ROOT / "notebooks" / "credit_risk.ipynb").read_bytes()).hexdigest()
DATA = str((ROOT / "data" / "loans_2025Q4.csv").resolve())
BASE = {"data_file": DATA, "threshold": 0.5, "unemployment_shock": 0.0, "min_credit_score": 580,
        "segments": ["north", "south", "east", "west"]}
NOW = datetime.now(UTC)


def metrics(t: float) -> dict[str, Any]:
    return {"n_applications": 1200, "approval_rate": round(1 - t * 0.8, 4), "default_rate": round(0.02 + t / 40, 5),
            "expected_loss": 3_290_000.0 * t}


def add(store: Store, run_id: str, days_ago: float, **fields: Any) -> RunRecord:
    fields.setdefault("status", "succeeded")
    fields.setdefault("notebook_sha256", SHA)
    when = (NOW - timedelta(days=days_ago)).isoformat(timespec="milliseconds")
    return store.add(RunRecord(id=run_id, notebook=NOTEBOOK, config=CONFIG, created_at=when, started_at=when,
                               finished_at=when, duration_s=2.0, **fields))


@pytest.fixture
def runs(home) -> dict[str, RunRecord]:  # noqa: F811
    store = Store(home)
    out = {}
    for i, t in enumerate([0.3, 0.4, 0.5, 0.6, 0.7]):
        out[f"sweep{t}"] = add(store, f"5000000000{i}0", 10 - i, scenario=f"threshold_sweep[threshold={t}]",
                               parameters={**BASE, "threshold": t}, metrics=metrics(t), trigger="cli", user="ana")
    out["baseline"] = add(store, "ba5e00000001", 3, scenario="baseline", parameters=BASE, metrics=metrics(0.5),
                          trigger="app", user="bo")
    out["hit"] = add(store, "c0c0c0c0c0c0", 2, scenario="baseline", parameters=BASE, metrics=metrics(0.5),
                     trigger="app", user="cy", cache_of="ba5e00000001")
    out["stress"] = add(store, "57e550000001", 1, scenario="stress", trigger="cli", user="bo",
                        parameters={**BASE, "threshold": 0.4, "unemployment_shock": 3.0}, metrics=metrics(0.4))
    out["failed"] = add(store, "fa11ed000001", 0.5, scenario="stress", trigger="app:exact", user="bo", status="failed",
                        parameters={**BASE, "threshold": 0.4, "unemployment_shock": 3.0}, rerun_of="57e550000001",
                        notebook_sha256="0" * 64)
    return out


def qp(at, key: str) -> list[str]:
    value = at.query_params.get(key, [])
    return [value] if isinstance(value, str) else list(value)


def table_ids(at) -> list[str]:
    return list(at.dataframe[0].value["run"])


def test_history_rows_say_what_each_run_was(runs):
    at = app(history="credit_risk")
    assert not at.exception, at.exception
    assert texts(at.title) == ["History: Credit risk scorecard"]
    frame = at.dataframe[0].value
    assert list(frame["run"]) == [r.id for r in sorted(runs.values(), key=lambda r: r.created_at, reverse=True)]
    columns = list(frame.columns)
    assert columns[:5] == ["run", "status", "scenario", "▸ threshold", "▸ unemployment_shock"]  # only what varies
    assert columns[-3:] == ["started (UTC)", "by", "from"] and len(columns) == 5 + 4 + 3  # four headline results
    row = frame[frame["run"] == "c0c0c0c0c0c0"].iloc[0]
    assert row["status"] == "succeeded (cached)" and row["from"] == "app" and row["by"] == "cy"


@pytest.mark.parametrize(("query", "expected"), [
    ({"status": "failed"}, ["fa11ed000001"]),
    ({"user": "bo", "trigger": "app"}, ["fa11ed000001", "ba5e00000001"]),  # app:exact counts as app
    ({"trigger": "cli", "param": "threshold", "value": "0.4"}, ["57e550000001", "500000000010"]),
    ({"param": "unemployment_shock", "value": "3.0"}, ["fa11ed000001", "57e550000001"]),
    ({"since": (NOW - timedelta(days=1)).date().isoformat()}, ["fa11ed000001", "57e550000001"]),
    ({"until": (NOW - timedelta(days=8)).date().isoformat()}, ["500000000020", "500000000010", "500000000000"]),
])
def test_history_filters_come_from_the_url(runs, query, expected):
    at = app(history="credit_risk", **query)
    assert not at.exception, at.exception
    assert table_ids(at) == expected


def test_history_filters_go_to_the_url(runs):
    at = app(history="credit_risk")
    at.multiselect(key="h-status:credit_risk").set_value(["succeeded"]).run()
    at.selectbox(key="h-param:credit_risk").set_value("threshold").run()
    assert at.multiselect(key="h-values:credit_risk").options == ["0.3", "0.4", "0.5", "0.6", "0.7"]
    at.multiselect(key="h-values:credit_risk").set_value(["0.4", "0.6"]).run()
    assert not at.exception, at.exception
    assert table_ids(at) == ["57e550000001", "500000000030", "500000000010"]
    assert qp(at, "history") == ["credit_risk"] and qp(at, "status") == ["succeeded"]
    assert qp(at, "param") == ["threshold"] and sorted(qp(at, "value")) == ["0.4", "0.6"]
    link = at.code[-1].value
    assert "history=credit_risk" in link and "value=0.4" in link and "value=0.6" in link
    # the same link opened afresh shows the same runs
    again = app(history="credit_risk", status="succeeded", param="threshold", value=["0.4", "0.6"])
    assert table_ids(again) == ["57e550000001", "500000000030", "500000000010"]
    none = app(history="credit_risk", since=(NOW + timedelta(days=2)).date().isoformat())
    assert "No runs match these filters." in texts(none.info)


def test_the_history_tab_links_to_its_own_page(runs):
    at = app(notebook="credit_risk")
    at.button(key="h-own-page:credit_risk").click().run()
    assert qp(at, "history") == ["credit_risk"] and texts(at.title) == ["History: Credit risk scorecard"]


def test_unknown_history_page(home):  # noqa: F811
    assert texts(app(history="nope").error) == ["Error: no notebook 'nope' here."]


def test_tick_to_compare_and_which_notebook_again_uses(runs):
    at = app(history="credit_risk")
    at.multiselect(key="h-pick:credit_risk").set_value(["fa11ed000001"]).run()
    captions = texts(at.caption)
    assert "Uses the notebook 0000000 (the file has changed since: now " + SHA[:7] + "), as this run did." in captions
    assert f"Opens the form, which runs today's notebook {SHA[:7]} (this run used 0000000)." in captions
    at.multiselect(key="h-pick:credit_risk").set_value(["57e550000001"]).run()
    assert f"Uses the notebook {SHA[:7]} (the current file), as this run did." in texts(at.caption)
    at.multiselect(key="h-pick:credit_risk").set_value(["500000000010", "500000000030", "500000000020"]).run()
    at.button(key="h-compare:credit_risk").click().run()
    assert qp(at, "compare") == ["500000000010,500000000030,500000000020"]
    assert texts(at.title) == ["Compare runs"]


def test_a_sweep_compares_as_a_chart_runs_as_rows(runs):
    at = app(compare="500000000000,500000000010,500000000020,500000000030")
    assert not at.exception, at.exception
    chosen = at.selectbox(key="compare-metric")
    assert chosen.value == "approval_rate"  # a result that varies, not n_applications (the same in every run)
    assert "Approval rate against threshold" in texts(at.subheader)  # a one-number sweep: a chart (the label)
    sheet = next(d.value for d in at.dataframe if "run" in d.value.columns)
    assert list(sheet["threshold"]) == ["0.3", "0.4", "0.5", "0.6"] and len(sheet) == 4
    assert list(sheet["Approval rate"]) == ["76.0 %", "68.0 %", "60.0 %", "52.0 %"]  # the config's results: block
    assert list(sheet["difference in Approval rate"])[1].endswith("8.0 pp")  # formatted like the value: points
    assert list(sheet["% change"])[1].endswith("10.5 %")
    at.selectbox(key="compare-metric").set_value("expected_loss").run()
    assert "Expected loss against threshold" in texts(at.subheader)
    sheet = next(d.value for d in at.dataframe if "run" in d.value.columns)
    assert list(sheet["difference in Expected loss"])[3] == "+€0.99 M"  # 0.6 vs 0.3: €1.97 M - €0.99 M


def test_two_inputs_differ_so_no_chart_but_differences(runs):
    at = app(compare="ba5e00000001,57e550000001")
    assert not at.exception, at.exception
    assert not [s for s in at.selectbox if s.key == "compare-metric"]
    assert not [h for h in texts(at.subheader) if " against " in h]
    assert any(c.startswith("No chart: the runs differ in 2 inputs (threshold, unemployment_shock)") for c in texts(at.caption))
    pair = next(d.value for d in at.dataframe if "difference" in d.value.columns)
    assert list(pair.columns) == ["result", "ba5e000 · baseline", "57e5500 · stress", "difference", "% change"]
    rate = pair[pair["result"].str.contains("pproval", case=False)].iloc[0]
    assert rate["difference"] != "—" and rate["% change"] != "—"


@pytest.mark.parametrize(("run", "expected"), [
    ("57e550000001", "ba5e00000001"),  # the baseline's latest executed run, not the newer cache hit
    ("fa11ed000001", "57e550000001"),  # a rerun: its original
])
def test_default_compare_with(runs, run, expected):
    at = app(run=run)
    assert at.selectbox(key=f"baseline:{run}").value == expected


def test_history_url_values_are_data(runs, home):  # noqa: F811
    store = Store(home)
    add(store, "0dd000000001", 4, scenario="odd", parameters={**BASE, "threshold": "0.4"}, metrics=metrics(0.4),
        trigger="cli", user="Zoë O'Brien \"<b>x</b>\"")
    at = app(history="credit_risk", user="Zoë O'Brien \"<b>x</b>\"")
    assert table_ids(at) == ["0dd000000001"]
    assert app(history="credit_risk", param="threshold", value='"0.4"').dataframe[0].value["run"].tolist() == ["0dd000000001"]
    numbers = app(history="credit_risk", param="threshold", value="0.4").dataframe[0].value["run"].tolist()
    assert "0dd000000001" not in numbers and "57e550000001" in numbers  # the number 0.4 is not the text "0.4"
    odd = app(history="credit_risk", status="nope", param="'; DROP TABLE runs; --", value="{bad json")
    assert not odd.exception and "No runs match these filters." not in texts(odd.info)  # unknown filters: ignored
