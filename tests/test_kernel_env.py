"""What a kernel inherits from the process that starts it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from livedocs_runner.errors import ConfigError
from livedocs_runner.kernels import KernelRequest, check_module_name
from livedocs_runner.params import quote
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


@pytest.mark.parametrize("name", ["pandas", "matplotlib.pyplot", "_private.mod", "données"])
def test_warm_imports_accept_dotted_module_names(name: str) -> None:
    assert check_module_name(name) == name
    assert KernelRequest("python3", Path("."), (name,)).warm_imports == (name,)


@pytest.mark.parametrize("name", [
    "os; open('/tmp/x','w')", "os\nimport sys", "a..b", "", "1abc", " os", 3, "import", "os.class",
    "y; " + "x" * 500,
])
def test_warm_imports_refuse_anything_else(name: object) -> None:
    with pytest.raises(ConfigError) as caught:
        KernelRequest("python3", Path("."), (name,))  # type: ignore[arg-type]
    assert caught.value.message == f"warm_imports: {quote(name)} is not a module name; it was not imported."
    assert len(caught.value.message) < 150  # a huge value is quoted shortened
    assert caught.value.exit_code == 2


@pytest.mark.kernel
@pytest.mark.parametrize("source", ["fresh", "forked"])
def test_a_kernel_never_sees_the_store_url(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$LIVEDOCS_DB`` may hold the team store's password: notebook code could rewrite the records with it."""
    from livedocs_runner.batch import run_batch
    from livedocs_runner.forkserver import warm_kernels
    from livedocs_runner.kernels import FreshKernels
    from livedocs_runner.plan import plan_runs
    from livedocs_runner.pool import PoolOptions
    from livedocs_runner.records.store import Store
    from tests.conftest import write_notebook

    monkeypatch.setenv("LIVEDOCS_DB", "postgresql://livedocs:s3cret@db.example/livedocs")
    monkeypatch.setenv("LIVEDOCS_TEST_VISIBLE", "yes")  # the rest of the environment still reaches the notebook
    notebook = write_notebook(tmp_path / "env.ipynb", [
        "import os\nfrom livedocs_runner import record\n"
        "record('db', os.environ.get('LIVEDOCS_DB', 'unset'))\nrecord('other', os.environ.get('LIVEDOCS_TEST_VISIBLE'))"])
    kernels = FreshKernels() if source == "fresh" else warm_kernels(PoolOptions(size=1))
    try:
        (record,) = run_batch(plan_runs(notebook), Store(tmp_path / "home"), kernels=kernels)
    finally:
        if source == "forked":
            kernels.close()
    assert record.status == "succeeded", record.error
    assert record.metrics == {"db": "unset", "other": "yes"}


@pytest.mark.kernel
def test_a_process_that_exits_mid_run_records_the_run_cancelled(tmp_path: Path) -> None:
    """As a stopping app: its queue's shutdown (an exit hook) cancels the running run. nbclient registers its own
    exit hook per run, after the app's, so it ran first and shut the kernel down: the run ended failed."""
    import subprocess
    import sys

    from livedocs_runner.records.store import Store

    script = f"""
import atexit, sys, time
from livedocs_runner.execute import RunOptions
from livedocs_runner.jobs import JobQueue
from livedocs_runner.kernels import FreshKernels
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store
store = Store({str(tmp_path / "home")!r})
queue = JobQueue(store, workers=1, kernels=FreshKernels())
atexit.register(queue.shutdown)
job = queue.submit(plan_runs({str(NOTEBOOKS / "slow.ipynb")!r}, overrides={{"seconds": "600"}})[0],
                   RunOptions(trigger="app", report=False))
deadline = time.monotonic() + 120
while not ((p := store.progress(job)) and p.cell) and time.monotonic() < deadline:
    time.sleep(0.05)
print(job, flush=True)
sys.exit(0)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    record = Store(tmp_path / "home").get(done.stdout.split()[-1])
    assert record.status == "cancelled", record.error
