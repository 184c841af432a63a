"""The processes that run notebooks collect young garbage every 5000 net allocations, not Python's 700 (``_gc.py``:
~2 ms of the runner's CPU a run); the kernels they run notebooks in keep Python's defaults."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from livedocs_runner._gc import YOUNG_COLLECTION_EVERY, collect_less_often

from .conftest import REPO, CliResult, run_records, write_notebook

LOOK = "import gc\nfrom livedocs_runner import record\nrecord('gc', list(gc.get_threshold()))"


def test_collect_less_often_raises_only_the_young_threshold_and_never_lowers_or_enables() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 11, 12)
        collect_less_often()
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, 11, 12)
        gc.set_threshold(50_000, 10, 10)
        collect_less_often()
        assert gc.get_threshold() == (50_000, 10, 10)
        gc.set_threshold(0, 10, 10)  # a host that turned collection off
        collect_less_often()
        assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_the_cli_collects_less_often_and_its_kernels_keep_pythons_defaults(
        tmp_path: Path, home: Path, run_cli: Callable[..., CliResult]) -> None:
    defaults = thresholds_after("")  # a fresh interpreter's
    assert defaults[0] < YOUNG_COLLECTION_EVERY
    assert thresholds_after("from livedocs_runner.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
                            "    pass") == [YOUNG_COLLECTION_EVERY, *defaults[1:]]
    nb = write_notebook(tmp_path / "look.ipynb", [("n = 0", ["parameters"]), LOOK])
    config = tmp_path / "look.yaml"
    config.write_text(f"notebook: {nb}\nsweeps:\n  s:\n    grid:\n      n: [1, 2]\n", encoding="utf-8")
    assert run_cli("run", config, "--workers", "2", "--no-cache", "--no-report").code == 0  # forked kernels
    assert run_cli("run", nb, "--no-cache", "--no-report").code == 0  # a fresh kernel
    assert [json.loads(record["metrics"])["gc"] for record in run_records(home)] == [defaults] * 3


def thresholds_after(code: str) -> list[int]:
    shown = subprocess.run([sys.executable, "-c", code + "\nimport gc\nprint(list(gc.get_threshold()))"],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    return json.loads(shown.stdout.strip().splitlines()[-1])
