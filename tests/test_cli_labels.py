"""Results carry their labels and formats wherever they appear in the CLI: ``livedocs diff``'s metric lines,
``livedocs compare``'s headers and change lines, ``livedocs inspect``'s choices (through the real entry point,
on a real store; --json and --csv keep the names, which are the data)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner.records.store import RunRecord, Store

from .conftest import cli_runner

ROOT = Path(__file__).resolve().parent.parent
SPECS = {"results": {"approval_rate": {"label": "Approval rate", "format": "percent:1"},
                     "expected_loss": {"label": "Expected loss", "format": "currency:EUR", "better": "lower"},
                     "default_rate": {"label": "Default rate", "format": "percent:2", "better": "lower"}}}


def add(store: Store, run_id: str, metrics: dict[str, Any], **fields: Any) -> RunRecord:
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    return store.add(RunRecord(id=run_id, status="succeeded", notebook="/proj/notebooks/credit_risk.ipynb",
                               notebook_sha256="a" * 64, config="/proj/configs/credit_risk.yaml", scenario="baseline",
                               created_at=at, started_at=at, trigger="cli", user="ana",
                               parameters={"threshold": fields.pop("threshold", 0.5)}, metrics=metrics,
                               environment=SPECS, **fields))


@pytest.fixture
def cli(tmp_path: Path):
    home = tmp_path / "home"
    store = Store(home)
    add(store, "00000000000a", {"approval_rate": 0.6, "expected_loss": 3_290_000.0, "default_rate": 0.0531,
                                "n": 10})
    add(store, "00000000000b", {"approval_rate": 0.68, "expected_loss": 3_100_000.0, "default_rate": 0.05310001,
                                "n": 10}, threshold=0.4)
    return cli_runner(home)


def test_diff_metric_lines_use_labels_and_formats(cli) -> None:
    result = cli("diff", "00000000000a", "00000000000b")
    assert result.code == 1, result.stderr
    lines = result.stdout.splitlines()
    metrics = lines[lines.index("Metrics:") + 1:]
    assert "  Approval rate: 60.0 % -> 68.0 %  (change +8.0 pp, +13.3 %)" in metrics
    assert "  Expected loss: €3.29 M -> €3.10 M  (change -€0.19 M, -5.8 %)" in metrics
    # a change too small for the format: the exact values are shown, a verdict never hides a difference
    assert "  Default rate: 5.31 % -> 5.31 %  (exactly 0.0531 -> 0.05310001)  (change +0.000001 pp, 0.0 %)" in metrics
    assert not any("approval_rate" in line or "expected_loss" in line for line in metrics)
    data = cli("diff", "00000000000a", "00000000000b", "--json").json()
    assert {m["metric"] for m in data["differences"]["metrics"]} == {"approval_rate", "expected_loss", "default_rate"}


def test_compare_headers_and_changes_use_labels(cli) -> None:
    result = cli("compare", "00000000000a", "00000000000b", env={"COLUMNS": "200"})
    assert result.code == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert "Approval rate" in header and "Expected loss" in header and "Default rate" in header
    assert "approval_rate" not in header and " n" in header  # a result without a label keeps its name
    assert "Approval rate: +8.0 pp (+13.3 %) from 00000000000a to 00000000000b" in result.stdout.replace("  ", " ")
    sheet = cli("compare", "00000000000a", "00000000000b", "--csv").stdout.splitlines()[0]
    assert "approval_rate" in sheet and "Approval rate" not in sheet  # data keeps the names


def test_inspect_shows_choice_labels(tmp_path: Path) -> None:
    result = cli_runner(tmp_path / "home")("inspect", str(ROOT / "configs" / "credit_risk.yaml"), env={"COLUMNS": "250"})
    assert result.code == 0, result.stderr
    [segments] = [line for line in result.stdout.splitlines() if line.strip().startswith("segments")]
    assert "one of north (North)|south (South)|east (East)|west (West)" in segments
    config = tmp_path / "plain.yaml"  # choices without labels: the values alone
    config.write_text(f"notebook: {ROOT / 'notebooks' / 'credit_risk.ipynb'}\n"
                      "parameters:\n  segments: {type: list, choices: [north, south, east, west]}\n", encoding="utf-8")
    plain = cli_runner(tmp_path / "home")("inspect", str(config), env={"COLUMNS": "250"})
    assert plain.code == 0, plain.stderr
    [segments] = [line for line in plain.stdout.splitlines() if line.strip().startswith("segments")]
    assert "one of north|south|east|west " in segments + " "
