"""``livedocs runs`` filters, --columns and --csv, and ``livedocs compare`` (ids or --sweep) through the real
entry point, on a real store holding a 20-point sweep and runs by several people and triggers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner.records.store import RunRecord, Store

from .conftest import CliResult, cli_runner

CONFIG = "/proj/configs/credit_risk.yaml"
NOTEBOOK = "/proj/notebooks/credit_risk.ipynb"
NOW = datetime.now(UTC)


def stamp(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat(timespec="milliseconds")


def add(store: Store, run_id: str, days_ago: float, **fields: Any) -> RunRecord:
    fields.setdefault("config", CONFIG)
    fields.setdefault("status", "succeeded")
    return store.add(RunRecord(id=run_id, notebook=NOTEBOOK, notebook_sha256="a" * 64, created_at=stamp(days_ago),
                               started_at=stamp(days_ago), duration_s=1.5, **fields))


BASE = {"data_file": "/proj/data/loans_2025Q4.csv", "threshold": 0.5, "unemployment_shock": 0.0,
        "min_credit_score": 580, "segments": ["north", "south", "east", "west"]}


SPECS = {"results": {"approval_rate": {"format": "percent:1"}, "expected_loss_eur": {"format": "currency:EUR"}}}


def metrics(threshold: float) -> dict[str, Any]:
    return {"approval_rate": round(1 - threshold * 0.8, 4), "default_rate": round(0.02 + threshold / 40, 5),
            "expected_loss_eur": 3_290_000.0 * threshold, "approved_applications": int(10_000 * (1 - threshold)),
            "portfolio_quality_score_long_name": 7.25, "model_version": "v3",
            "by_region": {"type": "table", "columns": ["region", "n"], "data": [["north", 1]]}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("history") / "home"
    store = Store(home)
    # the sweep: 20 points; point 0.05 ran twice (the newer one counts), and one point is a cache hit
    for i in range(20):
        t = round(0.05 * (i + 1), 2)
        add(store, f"5{i:011x}", 3 + i / 100, scenario=f"threshold_sweep[threshold={t}]", trigger="cli", user="ana",
            parameters={**BASE, "threshold": t}, metrics=metrics(t), environment=SPECS)
    add(store, "50000000a1d0", 9, scenario="threshold_sweep[threshold=0.05]", trigger="cli", user="ana",
        parameters={**BASE, "threshold": 0.05}, metrics={**metrics(0.05), "approval_rate": 0.0})
    add(store, "000000000ba5", 2, scenario="baseline", trigger="app", user="Zoë O'Brien", parameters=BASE,
        metrics=metrics(0.5))
    add(store, "000000000575", 1, scenario="stress", trigger="app:exact", user="bo", rerun_of="000000000ba5",
        parameters={**BASE, "threshold": 0.4, "unemployment_shock": 3.0}, metrics=metrics(0.4))
    add(store, "0000000fa11d", 0.5, scenario="stress", trigger="cli", user="bo", status="failed",
        parameters={**BASE, "threshold": 0.4, "unemployment_shock": 3.0})
    add(store, "0000000e711e", 0.2, scenario="evil", trigger="cli", user="=HYPERLINK(\"x\")",
        parameters={**BASE, "threshold": "'; DROP TABLE runs; --"}, config="/proj/configs/other.yaml")
    # the same sweep name in another config
    add(store, "0000000a1105", 20, scenario="threshold_sweep[threshold=0.9]", trigger="cli", user="cy",
        parameters={"threshold": 0.9}, config="/proj/configs/other.yaml", metrics={"approval_rate": 0.1})
    return home


@pytest.fixture(scope="module")
def cli(project: Path) -> Callable[..., CliResult]:
    return cli_runner(project)


def ids(result: CliResult) -> list[str]:
    assert result.code == 0, result.stderr
    return [line.split()[0] for line in result.stdout.splitlines()[1:]]


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(("args", "expected"), [
    (["--user", "bo"], ["0000000fa11d", "000000000575"]),
    (["--user", "Zoë O'Brien"], ["000000000ba5"]),
    (["--trigger", "app"], ["000000000575", "000000000ba5"]),  # app:exact is a rerun asked for from the app
    (["--since", "36h"], ["0000000e711e", "0000000fa11d", "000000000575"]),
    (["--since", "2d", "--until", "18h"], ["000000000575"]),
    (["--until", (NOW - timedelta(days=10)).date().isoformat()], ["0000000a1105"]),
    (["-p", "unemployment_shock=3.0", "--status", "failed"], ["0000000fa11d"]),
    (["-p", "threshold=0.4", "-p", "threshold=0.5", "--config", CONFIG], ["0000000fa11d", "000000000575", "000000000ba5",
                                                                          "500000000007", "500000000009"]),
    (["-p", "threshold='; DROP TABLE runs; --"], ["0000000e711e"]),
    (["-p", 'segments=["north","south","east","west"]', "--trigger", "app"], ["000000000575", "000000000ba5"]),
    (["--config", "/proj/configs/other.yaml"], ["0000000e711e", "0000000a1105"]),
    (["--user", "nobody"], []),
])
def test_runs_filters(cli: Callable[..., CliResult], args: list[str], expected: list[str]) -> None:
    result = cli("runs", "--limit", "100", *args)
    assert ids(result) == expected
    if not expected:
        assert result.stderr.startswith("No runs in") and "match." in result.stderr


def test_runs_columns_show_parameters_and_results(cli: Callable[..., CliResult]) -> None:
    result = cli("runs", "--user", "bo", "--columns", "id,status,threshold,default_rate,user")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "threshold", "default_rate", "USER"]
    assert lines[1].split() == ["0000000fa11d", "failed", "0.4", "-", "bo"]
    assert lines[2].split() == ["000000000575", "succeeded", "0.4", "0.03", "bo"]


def test_runs_unknown_column_says_what_exists(cli: Callable[..., CliResult]) -> None:
    result = cli("runs", "--columns", "id,treshold")
    assert result.code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == ["Error: --columns: no field, parameter or result 'treshold' in these runs.",
                                          "Did you mean 'threshold'?"]


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "last week"], "Error: 'last week' is not a date or a time span."),
    (["-p", "threshold"], "Error: -p 'threshold' is not NAME=VALUE."),
])
def test_runs_bad_filters(cli: Callable[..., CliResult], args: list[str], message: str) -> None:
    result = cli("runs", *args)
    assert result.code == 2 and result.stderr.splitlines()[0] == message


def test_runs_csv_to_stdout_and_file(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    result = cli("runs", "--trigger", "app", "--csv")
    assert result.code == 0, result.stderr
    rows = read_csv(result.stdout)
    assert [r["id"] for r in rows] == ["000000000575", "000000000ba5"]
    assert rows[1]["user"] == "Zoë O'Brien" and rows[0]["trigger"] == "app:exact"
    assert rows[0]["threshold"] == "0.4" and rows[0]["expected_loss_eur"] == "1316000.0"  # full values, no rounding
    assert rows[0]["duration"] == "1.5" and rows[0]["rerun_of"] == "000000000ba5" and rows[0]["status"] == "succeeded"
    assert rows[0]["config"] == CONFIG and rows[0]["started"].startswith(NOW.date().isoformat()[:4])
    assert json.loads(rows[0]["segments"]) == ["north", "south", "east", "west"]
    assert rows[0]["by_region"] == "(table, 1 rows)"
    out = tmp_path / "runs.csv"
    written = cli("runs", "--since", "1d", "--columns", "id,user,threshold", "--csv", str(out))
    assert written.code == 0 and written.stdout == "" and "Wrote 2 rows to" in written.stderr
    rows = read_csv(out.read_text(encoding="utf-8"))
    assert rows == [{"id": "0000000e711e", "user": "'=HYPERLINK(\"x\")", "threshold": "'; DROP TABLE runs; --"},
                    {"id": "0000000fa11d", "user": "bo", "threshold": "0.4"}]  # a formula is not run by a spreadsheet


def test_compare_sweep_fits_80_columns(cli: Callable[..., CliResult]) -> None:
    result = cli("compare", "--sweep", "threshold_sweep", "--config", CONFIG, env={"COLUMNS": "80"})
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    header, rows = lines[0].split(), lines[1:21]
    assert header[:2] == ["run", "threshold"]
    assert header[2].startswith("appr") and f"{header[2]} = approval_rate" in lines[21]  # varying results first
    assert [float(r.split()[1]) for r in rows] == [round(0.05 * i, 2) for i in range(1, 21)]  # in sweep order
    assert rows[0].split()[0] == "500000000000"  # the newest run of the twice-run point (ids told apart)
    assert rows[0].split()[2:4] == ["96.0", "%"]  # formatted as the run recorded: format="percent:1"
    assert "€1.32 M" in rows[7]  # expected_loss_eur at threshold 0.4: currency:EUR
    assert any(line.startswith("Same in all runs: data_file=") for line in lines)
    assert any("more columns did not fit in 80" in line for line in lines) or "= model_version" in result.stdout


def test_compare_sweep_needs_a_config_when_two_have_it(cli: Callable[..., CliResult]) -> None:
    result = cli("compare", "--sweep", "threshold_sweep")
    assert result.code == 2 and result.stderr.splitlines()[1] == "Pick one with --config PATH."
    assert cli("compare", "--sweep", "nope").stderr.startswith("Error: no runs of sweep 'nope' in")


def test_compare_sweep_json_and_csv(cli: Callable[..., CliResult]) -> None:
    result = cli("compare", "--sweep", "threshold_sweep", "--config", CONFIG, "--json")
    data = result.json()
    assert len(data["rows"]) == 20 and data["rows"][0]["parameters"] == {"threshold": 0.05}
    assert data["view"]["kind"] == "chart" and data["view"]["x"] == "threshold"
    assert data["view"]["metric"] == "approval_rate"
    assert "by_region" not in data["rows"][0]["metrics"] and data["rows"][0]["metrics"]["model_version"] == "v3"
    sheet = read_csv(cli("compare", "--sweep", "threshold_sweep", "--config", CONFIG, "--csv",
                         "--columns", "default_rate").stdout)
    assert list(sheet[0]) == ["id", "scenario", "status", "threshold", "default_rate"]
    assert [float(r["threshold"]) for r in sheet] == [round(0.05 * i, 2) for i in range(1, 21)]


def test_compare_two_runs_is_a_table_with_the_change(cli: Callable[..., CliResult]) -> None:
    result = cli("compare", "000000000ba5", "000000000575")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0].split()[:4] == ["run", "scenario", "threshold", "unemployment_…"]
    assert result.stdout.splitlines()[1].split()[:4] == ["000000000b", "baseline", "0.5", "0"]
    assert "unemployment_… = unemployment_shock" in result.stdout
    assert "approval_rate: +0.08 (+13.3 %) from 000000000b to 0000000005" in result.stdout
    data = cli("compare", "000000000ba5", "000000000575", "--json").json()
    assert data["view"]["kind"] == "table" and "differ in 2 inputs" in data["view"]["why"]


def test_compare_unknown_result_column_says_what_exists(cli: Callable[..., CliResult]) -> None:
    result = cli("compare", "--sweep", "threshold_sweep", "--config", CONFIG, "--columns", "defualt_rate")
    assert result.code == 2
    assert result.stderr.splitlines() == ["Error: no result 'defualt_rate' in these runs.", "Did you mean 'default_rate'?"]
    assert cli("compare", "000000000ba5").code == 2 and cli("compare", "--sweep", "x", "000000000ba5").code == 2
