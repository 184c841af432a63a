"""Batches in logs and daily use: quiet progress without a terminal (-v per cell), real report paths at the end,
cache hits that name their original, --workers from the CPUs, --failed-only."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from livedocs_runner.cli.run import default_workers
from livedocs_runner.execute import RunOptions, new_record
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store, now
from livedocs_runner.retry import describe, latest_runs
from tests.conftest import CONFIGS, CliResult, run_records, write_notebook


def progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("run ")]


@pytest.mark.kernel
def test_without_a_terminal_progress_is_one_line_per_state_change(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "-s", "two", "--json", "--no-cache", "--no-report")
    assert result.code == 0, result.stderr
    lines = progress_lines(result.stderr)
    assert lines == [line for line in result.stderr.splitlines() if not line.startswith("✓")]  # (--json: ✓ on stderr)
    for record in result.json():
        mine = [line for line in lines if line.startswith(f"run {record['id']} {record['scenario']}: ")]
        assert len(mine) == 2, lines
        assert mine[0].startswith(f"run {record['id']} {record['scenario']}: started [")
        assert mine[1].startswith(f"run {record['id']} {record['scenario']}: succeeded in ")
    assert lines[-1].endswith("[2 done, 0 failed, 0 running, 0 queued]")


@pytest.mark.kernel
def test_verbose_restores_a_line_per_cell(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "--json", "--no-cache", "--no-report", "-v")
    assert result.code == 0, result.stderr
    [record] = result.json()
    mine = [line for line in progress_lines(result.stderr) if line.startswith(f"run {record['id']} one: ")]
    cells = [line for line in mine if "cell" in line]
    assert len(cells) >= 4 and len(mine) > 2, mine  # simple.ipynb has 5 code cells
    assert mine[-1].startswith(f"run {record['id']} one: succeeded in ")

    for flags, per_cell in (((), False), (("-v",), True)):  # rerun prints its progress the same way
        again = run_cli("rerun", record["id"], "--json", *flags)
        assert again.code == 0, again.stderr
        [rerun] = again.json()
        mine = [line for line in progress_lines(again.stderr) if line.startswith(f"run {rerun['id']} one: ")]
        assert (len(mine) > 2) is per_cell and mine[-1].startswith(f"run {rerun['id']} one: succeeded in "), mine


@pytest.mark.kernel
def test_a_batch_ends_with_real_report_paths_and_a_hit_names_its_original(run_cli: Callable[..., CliResult],
                                                                         home: Path) -> None:
    first = run_cli("run", CONFIGS / "simple.yaml", "-s", "one", "-s", "two", "--no-cache")
    assert first.code == 0, first.stderr
    runs = {r["scenario"]: r for r in run_records(home)}
    lines = first.stdout.splitlines()
    at = lines.index("Reports:")
    assert lines[at + 1:] == [f"  one  {runs['one']['report_html']}", f"  two  {runs['two']['report_html']}"]
    assert all(Path(r["report_html"]).is_file() for r in runs.values())
    assert "<" not in first.stdout

    hit = run_cli("run", CONFIGS / "simple.yaml", "-s", "one")
    assert hit.code == 0, hit.stderr
    cached = run_records(home)[-1]
    original = runs["one"]
    note = f"cached: same inputs as run {original['id']} ({original['started_at'][:10]})"
    assert cached["cache_of"] == original["id"]
    shown = hit.stdout.splitlines()
    assert shown[0].startswith(f"✓ {cached['id']}  one  {note}  ")  # then the metrics
    assert shown[1:] == [f"Report: {original['report_html']}"]
    assert progress_lines(hit.stderr) == [f"run {cached['id']} one: {note} [1 done, 0 failed, 0 running, 0 queued]"]


def test_workers_default_to_the_cpus_capped_by_the_runs() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert default_workers(1) == 1
    assert default_workers(1000) == min(cpus, 64)
    assert default_workers(2) == min(cpus, 2)
    assert default_workers(0) == 1


@pytest.mark.kernel
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to show two runs at once")
def test_without_workers_two_scenarios_run_at_once(run_cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """Each scenario waits for the other to start: only two at once can finish (one at a time times out)."""
    write_notebook(tmp_path / "meet.ipynb", [
        ('me = "a"\nother = "b"', ["parameters"]),
        "import pathlib, time\n"
        "pathlib.Path(me).touch()\n"
        "deadline = time.monotonic() + 60\n"
        "while not pathlib.Path(other).exists():\n"
        "    assert time.monotonic() < deadline, 'the other scenario never started'\n"
        "    time.sleep(0.05)",
    ])
    config = tmp_path / "meet.yaml"
    config.write_text("notebook: meet.ipynb\nscenarios:\n  a: {me: a, other: b}\n  b: {me: b, other: a}\n",
                      encoding="utf-8")
    result = run_cli("run", config, "--json", "--no-report", "--no-cache")
    assert result.code == 0, result.stderr
    assert [r["status"] for r in result.json()] == ["succeeded", "succeeded"]


# --- --failed-only ------------------------------------------------------------------------------

def flaky_project(root: Path) -> Path:
    """Scenarios and a sweep over ``divisor``; ``divisor: 0`` fails while the file ``broken`` exists."""
    write_notebook(root / "flaky.ipynb", [
        ("divisor = 1", ["parameters"]),
        "import pathlib\n"
        "from livedocs_runner import record\n"
        "if divisor == 0 and pathlib.Path('broken').exists():\n"
        "    raise ZeroDivisionError('broken')\n"
        "record('divisor', divisor)",
    ])
    (root / "broken").touch()
    config = root / "flaky.yaml"
    config.write_text("notebook: flaky.ipynb\nscenarios:\n  fine: {divisor: 1}\n  zero: {divisor: 0}\n"
                      "sweeps:\n  grid:\n    grid:\n      divisor: [2, 0]\n", encoding="utf-8")
    return config


@pytest.mark.kernel
def test_failed_only_reruns_the_scenarios_and_sweep_points_whose_latest_run_failed(
        run_cli: Callable[..., CliResult], home: Path, tmp_path: Path) -> None:
    config = flaky_project(tmp_path / "project")
    first = run_cli("run", config, "--json", "--no-report")
    assert first.code == 1
    assert {r["scenario"]: r["status"] for r in first.json()} == {
        "fine": "succeeded", "zero": "failed", "grid[divisor=2]": "succeeded", "grid[divisor=0]": "failed"}

    only_grid = run_cli("run", config, "-s", "grid", "--failed-only", "--json", "--no-report")
    assert only_grid.code == 1  # still broken
    assert [r["scenario"] for r in only_grid.json()] == ["grid[divisor=0]"]
    assert "Running again 1 of 2 scenario(s), whose latest run did not succeed: grid[divisor=0] (failed)." \
        in only_grid.stderr

    (tmp_path / "project" / "broken").unlink()
    fixed = run_cli("run", config, "--failed-only", "--json", "--no-report")
    assert fixed.code == 0, fixed.stderr
    assert [(r["scenario"], r["status"]) for r in fixed.json()] == [("zero", "succeeded"),
                                                                    ("grid[divisor=0]", "succeeded")]

    before = len(run_records(home))
    nothing = run_cli("run", config, "--failed-only")
    assert nothing.code == 0 and nothing.stdout == ""
    assert nothing.stderr == f"Nothing to run again: of the 4 chosen scenario(s) of {config}, 4 last succeeded.\n"
    assert len(run_records(home)) == before
    assert run_cli("run", config, "--failed-only", "--json").stdout == "[]\n"


def test_failed_only_takes_cancelled_and_abandoned_runs_too_but_not_running_or_unrun(home: Path) -> None:
    store = Store(home)
    plans = plan_runs(CONFIGS / "simple.yaml")  # one, two, over_a[a=1..3]
    options = RunOptions()
    statuses = {"one": "succeeded", "two": "cancelled", "over_a[a=1]": "failed", "over_a[a=2]": "running"}
    for plan in plans:
        if plan.scenario in statuses:
            record = new_record(plan, store, options)
            store.update(record, status="failed", finished_at=now())  # an older attempt: the newest counts
    for plan in plans:
        if plan.scenario in statuses:
            record = new_record(plan, store, options)
            status = statuses[plan.scenario]
            store.update(record, status=status, **({"finished_at": now()} if status != "running" else {}))
    latest = latest_runs(store, plans)
    assert [(item.scenario, item.record.status if item.record else None, item.due) for item in latest] == [
        ("one", "succeeded", False), ("two", "cancelled", True), ("over_a[a=1]", "failed", True),
        ("over_a[a=2]", "running", False), ("over_a[a=3]", None, False)]
    assert describe(latest) == "1 last cancelled, 1 last failed, 1 last succeeded, 1 never ran, 1 running now"
    # a bare notebook's runs are not a config's, and the other way round
    assert [item.record for item in latest_runs(store, plan_runs(CONFIGS.parent / "notebooks" / "simple.ipynb"))] == [None]


@pytest.mark.kernel
def test_failed_only_reruns_a_run_whose_process_died(run_cli: Callable[..., CliResult], home: Path,
                                                     tmp_path: Path) -> None:
    config = flaky_project(tmp_path / "project")
    (tmp_path / "project" / "broken").unlink()
    assert run_cli("run", config, "-s", "fine", "--no-report").code == 0
    store = Store(home)
    [plan] = plan_runs(config, scenarios=["zero"])
    record = new_record(plan, store, RunOptions())
    dead = subprocess.Popen(["true"])
    dead.wait()
    store.update(record, status="running", environment={"hostname": platform.node(), "pid": dead.pid})
    result = run_cli("run", config, "-s", "fine", "-s", "zero", "--failed-only", "--json", "--no-report")
    assert result.code == 0, result.stderr
    assert [(r["scenario"], r["status"]) for r in result.json()] == [("zero", "succeeded")]
    assert "Running again 1 of 2 scenario(s), whose latest run did not succeed: zero (cancelled)." in result.stderr
    assert store.get(record.id).error["ename"] == "Abandoned"
