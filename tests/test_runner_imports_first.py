"""A batch imports jupyter_client's and nbclient's modules before it starts any thread: a pool thread starting a kernel
and a run thread importing nbclient at the same moment could see a partially initialised ``jupyter_client.manager``
and fail the run (``ImportError: cannot import name 'AsyncKernelManager' from partially initialized module``; seen in
2 of 15 two-scenario batches run three at a time). Checked in a fresh interpreter: what is imported when the batch
starts its first thread."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_notebook

pytestmark = pytest.mark.kernel

PROBE = """
import json, sys, threading
from pathlib import Path
seen = []
start = threading.Thread.start
def noting_start(self, *args, **kwargs):
    if not seen:
        seen.append({m: m in sys.modules for m in ("jupyter_client.manager", "nbclient", "nbclient.client")})
    return start(self, *args, **kwargs)
threading.Thread.start = noting_start
from livedocs_runner.batch import run_batch
from livedocs_runner.execute import RunOptions
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store
notebook, home = sys.argv[1], sys.argv[2]
plans = plan_runs(notebook, overrides={"n": 1}) + plan_runs(notebook, overrides={"n": 2})
records = run_batch(plans, Store(home), options=RunOptions(report=False, use_cache=False), workers=2)
print(json.dumps({"first_thread": seen[0], "statuses": [r.status for r in records]}))
"""


def test_a_batch_imports_the_client_modules_before_its_first_thread(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "two.ipynb", [("n = 0", ["parameters"]), "print(n)"])
    done = subprocess.run([sys.executable, "-c", PROBE, str(notebook), str(tmp_path / "home")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["first_thread"] == {"jupyter_client.manager": True, "nbclient": True, "nbclient.client": True}
    assert found["statuses"] == ["succeeded", "succeeded"]
