"""``livedocs run --profile`` and the profiler behind it: the shape of what is printed and collected
(every phase, one line per run, a summed line, a cache hit and a failed run included), never timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from livedocs_runner.execute import RunOptions, execute_run
from livedocs_runner.forkserver import ForkKernels
from livedocs_runner.plan import plan_runs
from livedocs_runner.pool import PoolOptions
from livedocs_runner.profiling import PHASES, Profiler
from livedocs_runner.records.store import Store

from .conftest import CONFIGS, NOTEBOOKS, cli_runner

pytestmark = pytest.mark.kernel

HEADER = ["run", "scenario", *PHASES, "total", "kernel", "start"]


def profile_lines(stderr: str) -> list[list[str]]:
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Profile (ms of wall time per run"))
    return [line.split() for line in lines[start + 1:]]


def test_profile_prints_every_phase_per_run_and_summed(tmp_path: Path) -> None:
    run = cli_runner(tmp_path / "home")
    result = run("run", CONFIGS / "simple.yaml", "-s", "one", "-s", "two", "-s", "over_a", "--workers", "2",
                 "--no-report", "--no-cache", "--json", "--profile")
    assert result.code == 0, result.stderr
    ids = [r["id"] for r in result.json()]
    header, *rows = profile_lines(result.stderr)
    assert header == HEADER
    assert sorted(row[0] for row in rows[:-1]) == sorted(i[:8] for i in ids)
    assert len(rows) == len(ids) + 1 and rows[-1][:3] == ["all", f"{len(ids)}", "run(s)"]
    for row in rows[:-1]:
        numbers = row[-(len(PHASES) + 2):]
        values = [float(v) for v in numbers[:-1]]  # the phases and the total
        assert all(v >= 0 for v in values)
        assert sum(values[:-1]) == pytest.approx(values[-1], abs=0.5)  # phases add up to the total (rounding)
        assert values[PHASES.index("execute")] > 0
        assert numbers[-1] == "-" or float(numbers[-1]) > 0  # kernel start: pooled kernels know it
    summed = [float(v) for v in rows[-1][3:3 + len(PHASES) + 1]]
    per_run = [[float(v) for v in row[-(len(PHASES) + 2):-1]] for row in rows[:-1]]
    assert summed == pytest.approx([sum(col) for col in zip(*per_run)], abs=0.1 * len(per_run))


def test_a_cache_hit_is_profiled_with_no_execution(tmp_path: Path) -> None:
    run = cli_runner(tmp_path / "home")
    assert run("run", CONFIGS / "simple.yaml", "-s", "one", "--no-report").code == 0
    result = run("run", CONFIGS / "simple.yaml", "-s", "one", "--no-report", "--profile")
    assert result.code == 0, result.stderr
    header, row, total = profile_lines(result.stderr)
    assert header == HEADER and total[0] == "all"
    phases = dict(zip(PHASES, map(float, row[-(len(PHASES) + 2):-2])))
    assert phases["execute"] == phases["acquire"] == 0.0 and row[-1] == "-"


def test_profile_with_dask_is_refused(tmp_path: Path) -> None:
    result = cli_runner(tmp_path / "home")("run", CONFIGS / "simple.yaml", "--executor", "dask", "--scheduler",
                                           "tcp://127.0.0.1:1", "--profile")
    assert result.code == 2
    assert "Error: --profile times runs on this machine; it does not combine with --executor dask." in result.stderr


def test_execute_run_reports_its_phases_even_for_a_failed_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    profiler = Profiler()
    with ForkKernels(PoolOptions(size=1)) as kernels:
        ok = execute_run(plan_runs(NOTEBOOKS / "simple.ipynb")[0], store, options=RunOptions(use_cache=False),
                         kernels=kernels, profiler=profiler)
        broken = execute_run(plan_runs(NOTEBOOKS / "broken.ipynb")[0], store,
                             options=RunOptions(use_cache=False, report=False), kernels=kernels, profiler=profiler)
    assert (ok.status, broken.status) == ("succeeded", "failed")
    first, second = profiler.runs()
    assert (first.run_id, second.run_id) == (ok.id, broken.id)
    assert set(first.phases) == set(PHASES)
    assert first.phases["report"] > 0 and second.phases["report"] == 0  # --no-report: no report phase
    for run in (first, second):
        assert run.phases["execute"] > 0 and run.phases["store"] > 0 and run.kernel_start and run.kernel_start > 0
        assert sum(run.phases.values()) == pytest.approx(run.total)
    summed = profiler.summed()
    assert summed.total == pytest.approx(first.total + second.total)
    assert summed.phases["execute"] == pytest.approx(first.phases["execute"] + second.phases["execute"])


def test_the_cli_does_not_build_jsonschemas_iri_grammar() -> None:
    """``import nbformat`` in the CLI process skips rfc3987_syntax's Lark grammar (~0.8 s of CPU per run command)."""
    import subprocess
    import sys

    code = ("import sys\nfrom livedocs_runner._imports import skip_unused_optional_imports\n"
            "skip_unused_optional_imports()\nimport nbformat\nnbformat.validate(nbformat.v4.new_notebook())\n"
            "print('lark' in sys.modules, 'jsonschema' in sys.modules or 'fastjsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
