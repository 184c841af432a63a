"""What a kernel inherits from the process that starts it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import NOTEBOOKS, CliResult


@pytest.mark.kernel
def test_an_inherited_agg_backend_does_not_drop_the_figures(run_cli: Callable[..., CliResult]) -> None:
    # streamlit, cron and CI often export MPLBACKEND=Agg; the notebook's charts must still be captured
    result = run_cli("run", NOTEBOOKS / "with_figure.ipynb", "--no-cache", "--json", env={"MPLBACKEND": "Agg"})
    assert result.code == 0, result.stderr
    (record,) = result.json()
    assert [Path(p).suffix for p in record["outputs"] if "figure-" in p] == [".png"]


@pytest.mark.kernel
def test_the_kernel_interpreter_is_recorded(run_cli: Callable[..., CliResult]) -> None:
    result = run_cli("run", NOTEBOOKS / "simple.ipynb", "--no-cache", "--json")
    assert result.code == 0, result.stderr
    env = result.json()[0]["environment"]
    assert env["kernel_language"] == "python"
    assert env["kernel_language_version"].count(".") == 2
