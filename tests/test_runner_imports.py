"""A CLI cache hit loads only what answering from the cache needs: besides the execution machinery (see
test_cache.py), not the kernel sources (with subprocess), the cell numbering and parameter injection, logging or
traceback, which load when a run executes or an error is shown."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CLI, CONFIGS, DATA, CliResult, cli_env

pytestmark = pytest.mark.kernel

NOT_ON_A_CACHE_HIT = {"livedocs_runner.kernels", "livedocs_runner.forkserver", "livedocs_runner.pool",
                      "livedocs_runner.cells", "livedocs_runner.inject", "subprocess", "logging", "traceback"}


def test_a_cache_hit_loads_no_kernel_source_logging_or_traceback(run_cli: Callable[..., CliResult],
                                                                   home: Path) -> None:
    first = run_cli("run", CONFIGS / "simple.yaml", "-s", "two", "--json")
    assert first.code == 0, first.stderr
    proc = subprocess.run([*CLI[:1], "-X", "importtime", *CLI[1:], "run", str(CONFIGS / "simple.yaml"), "-s", "two"],
                          cwd=DATA, env=cli_env(home), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "cached: same inputs as run" in proc.stdout
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & NOT_ON_A_CACHE_HIT


def test_a_cached_run_that_misses_after_all_still_runs(tmp_path: Path) -> None:
    """A batch whose plans were all cache hits when it started has no kernel source; a run whose earlier
    result vanished meanwhile gets a fresh kernel (execute_profiled), never a crash."""
    from livedocs_runner.batch import run_one
    from livedocs_runner.execute import RunControl, RunOptions, new_record
    from livedocs_runner.plan import plan_runs
    from livedocs_runner.records.store import Store

    store = Store(tmp_path / "home")
    [plan] = plan_runs(CONFIGS / "simple.yaml", scenarios=["two"])
    options = RunOptions(report=False)
    record = run_one(plan, store, new_record(plan, store, options), options=options, kernels=None,
                     control=RunControl())
    assert record.status == "succeeded" and record.cache_of is None, record.error
