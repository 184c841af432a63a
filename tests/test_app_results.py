"""The results page's tiles: labels, formatted values and coloured deltas from a config's ``results:`` block."""

from __future__ import annotations

import pytest
from streamlit.proto.Metric_pb2 import Metric as MetricProto

from livedocs_runner.records.store import RunRecord, Store
from tests.test_app import ROOT, app, keep_main_module, shown  # noqa: F401 - keep_main_module: autouse fixture

CREDIT = ROOT / "configs" / "credit_risk.yaml"
NOTEBOOK = ROOT / "notebooks" / "credit_risk.ipynb"
COLOURS = {MetricProto.MetricColor.GREEN: "green", MetricProto.MetricColor.RED: "red",
           MetricProto.MetricColor.GRAY: "gray"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(ROOT / "configs"))
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_WORKERS", "1")
    monkeypatch.setenv("LIVEDOCS_USER", "tester")
    return home


def add_run(store: Store, run_id: str, scenario: str, metrics: dict, *, config=CREDIT, results=None,
            created="2026-11-24T05:00:00.000+00:00") -> RunRecord:
    """A finished run in a real store, as the engine records one (no kernel needed to look at it)."""
    return store.add(RunRecord(id=run_id, status="succeeded", notebook=str(NOTEBOOK), notebook_sha256="ab" * 32,
                               config=str(config.resolve()), title="Credit risk scorecard", scenario=scenario,
                               metrics=metrics, created_at=created, finished_at=created, duration_s=1.0,
                               environment={"results": results} if results else {}))


def tiles(at) -> dict[str, tuple[str, str, str, str]]:
    """label -> (value, delta, colour, description) of every tile, as they display."""
    return {shown(m.label): (shown(m.value), shown(m.delta), COLOURS[m.proto.color], shown(m.proto.delta_description))
            for m in at.metric}


def test_tiles_show_labels_formatted_values_and_coloured_deltas(home):
    store = Store(home)
    add_run(store, "b0000000000a", "baseline", {"n_applications": 12000, "approval_rate": 0.61,
                                                "default_rate": 0.05, "expected_loss": 3_290_000.0})
    add_run(store, "5000000000aa", "stress", {"n_applications": 12000, "approval_rate": 0.58, "default_rate": 0.0531,
                                              "expected_loss": 3_100_000.0, "note": "recession"},
            created="2026-11-24T05:01:00.000+00:00")
    at = app(run="5000000000aa")
    assert not at.exception
    assert at.selectbox(key="baseline:5000000000aa").value == "b0000000000a"
    assert tiles(at) == {
        "Applications": ("12,000", "0", "gray", ""),                      # integer, unchanged
        "Approval rate": ("58.0 %", "-3.0 pp", "gray", "-4.9 % vs baseline"),  # no better: neutral
        "Default rate": ("5.31 %", "+0.31 pp", "red", "+6.2 % vs baseline"),  # better: lower, went up
        "Expected loss": ("€3.10 M", "-€0.19 M", "green", "-5.8 % vs baseline"),  # better: lower, went down
        "Note": ("recession", "", "gray", ""),                             # text: shown as it is
    }
    arrows = {shown(m.label): m.proto.direction for m in at.metric}
    assert arrows["Default rate"] == MetricProto.MetricDirection.UP
    assert arrows["Expected loss"] == MetricProto.MetricDirection.DOWN

    at.selectbox(key="baseline:5000000000aa").select_index(0).run()  # no baseline: no deltas
    assert {label: tile[:2] for label, tile in tiles(at).items()} == {
        "Applications": ("12,000", ""), "Approval rate": ("58.0 %", ""), "Default rate": ("5.31 %", ""),
        "Expected loss": ("€3.10 M", ""), "Note": ("recession", "")}


def test_the_config_wins_over_the_record_and_labels_stay_text(home, tmp_path, monkeypatch):
    hostile = "<script>alert(1)</script> **bold** [x](javascript:alert(1))"
    configs = tmp_path / "configs"
    configs.mkdir()
    config = configs / "risk.yaml"
    config.write_text(f"notebook: {NOTEBOOK}\ntitle: Risk\nresults:\n"
                      f"  default_rate: {{label: {hostile!r}, format: 'percent:1'}}\n"
                      "  expected_loss: {better: higher}\n", encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    store = Store(home)
    stored = {"default_rate": {"label": "DR", "format": "decimals:3", "better": "lower"},
              "expected_loss": {"label": "Loss", "format": "currency:EUR", "better": "lower"}}
    add_run(store, "b0000000000b", "default", {"default_rate": 0.05, "expected_loss": 1_000_000.0}, config=config,
            results=stored)
    add_run(store, "5000000000bb", "default", {"default_rate": 0.06, "expected_loss": 1_200_000.0}, config=config,
            results=stored, created="2026-11-24T05:01:00.000+00:00")
    at = app(run="5000000000bb")
    at.selectbox(key="baseline:5000000000bb").set_value("b0000000000b").run()
    assert not at.exception
    assert tiles(at) == {
        hostile: ("6.0 %", "+1.0 pp", "red", "+20.0 % vs baseline"),  # label and format from the config, better kept
        "Loss": ("€1.20 M", "+€0.20 M", "green", "+20.0 % vs baseline"),  # better from the config, the rest stored
    }
    assert not any("<script>" in m.label for m in at.metric)  # escaped Markdown: shows, never renders


def test_table_heading_uses_its_label(home):
    store = Store(home)
    add_run(store, "c0000000000c", "baseline", {"by_region": {"type": "table", "columns": ["region", "n"],
                                                              "data": [["north", 1]]}})
    at = app(run="c0000000000c")
    assert "By region" in [shown(s.value) for s in at.subheader]


def test_table_columns_named_like_a_result_take_its_label_and_format(home):
    store = Store(home)
    add_run(store, "c0000000000d", "baseline", {"by_region": {
        "type": "table", "columns": ["region", "applications", "default_rate", "approval_rate"],
        "data": [["north", 1200, 0.0531, 0.9], ["south", 800, None, 0.85]]}})
    at = app(run="c0000000000d")
    assert not at.exception
    frame = at.dataframe[0].value
    assert list(frame.columns) == ["region", "applications", "Default rate", "Approval rate"]
    assert frame.values.tolist() == [["north", 1200, "5.31 %", "90.0 %"], ["south", 800, "—", "85.0 %"]]


def test_cached_store_answers_follow_new_runs(home):
    """The catalog's run counts and the results page's "Compare with" come from memory until the store
    changes: a run added meanwhile (by the CLI, another app) shows on the next rerun."""
    store = Store(home)
    add_run(store, "b0000000000c", "baseline", {"approval_rate": 0.61})
    catalog = app()
    counts = [c for c in catalog.caption if "runs so far" in c.value]
    assert any("1 runs so far" in c.value for c in counts), [c.value for c in counts]
    page = app(run="b0000000000c")
    assert page.selectbox(key="baseline:b0000000000c").options == ["no baseline"]
    add_run(store, "b0000000000d", "baseline", {"approval_rate": 0.6}, created="2026-11-24T05:02:00.000+00:00")
    catalog.run()
    assert any("2 runs so far" in c.value for c in catalog.caption), [c.value for c in catalog.caption]
    page.run()
    assert "b0000000000d" in page.selectbox(key="baseline:b0000000000c").options[1]


def test_the_timing_log_marks_when_a_runs_tiles_were_sent(home, monkeypatch, capfd):
    """benchmarks/app_speed.py splits a browser's wait at this mark (server's work / browser's)."""
    add_run(Store(home), "a1b2c3d4e5f6", "baseline", {"default_rate": 0.1234})
    monkeypatch.setenv("LIVEDOCS_DEBUG", "1")
    assert not app(run="a1b2c3d4e5f6").exception
    marks = [line.split()[2] for line in capfd.readouterr().err.splitlines() if line.startswith("livedocs-timing mark ")]
    assert marks == ["tiles-a1b2c3d4e5f6"]
    monkeypatch.delenv("LIVEDOCS_DEBUG")
    assert not app(run="a1b2c3d4e5f6").exception
    assert "livedocs-timing" not in capfd.readouterr().err  # off by default
