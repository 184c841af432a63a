"""The app with ``--no-worker`` (LIVEDOCS_APP_WORKER=0) through AppTest: a submission waits in the store with its
place, a worker elsewhere runs it, the page follows it to its results and a cancel from the page reaches it."""

from __future__ import annotations

import os

import pytest

from livedocs_runner.kernels import FreshKernels
from livedocs_runner.records.store import Store
from livedocs_runner.worker import Worker
from tests.conftest import until
# test_app imports streamlit keeping MPLBACKEND as it was (kernels started later must not inherit Agg)
from tests.test_app import ROOT, AppTest, keep_main_module  # noqa: F401  (keep_main_module: an autouse fixture)
from tests.test_app import app as page

pytestmark = pytest.mark.kernel


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    configs = tmp_path / "configs"
    configs.mkdir()
    notebooks = ROOT / "tests" / "data" / "notebooks"
    (configs / "simple.yaml").write_text(f"notebook: {notebooks / 'simple.ipynb'}\nscenarios:\n  one: {{a: 1}}\n")
    (configs / "slow.yaml").write_text(f"notebook: {notebooks / 'slow.ipynb'}\nscenarios:\n  long: {{seconds: 600}}\n")
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_APP_WORKER", "0")
    monkeypatch.setenv("LIVEDOCS_USER", "tester")
    return home


def infos(at: AppTest) -> str:
    return " | ".join(str(i.value) for i in at.info)


def test_submission_waits_for_a_worker_elsewhere_and_the_page_follows_it(home):
    form = page(notebook="simple")
    form.button(key="run:simple").click().run()
    run_id = form.query_params["run"]
    store = Store(home)
    assert store.get(run_id).status == "queued" and store.queue_place(run_id) == 1
    waiting = page(run=run_id)
    assert "number 1 in the queue" in infos(waiting)
    assert "(runs are run by separate workers)" in infos(waiting)  # not "0 run at a time"
    assert "0 running · 1 waiting · run by separate workers" in [str(c.value) for c in waiting.sidebar.caption]
    assert waiting.button(key=f"cancel:{run_id}")  # in the queue: cancellable from the app
    worker = Worker(store, kernels=FreshKernels(), heartbeat_s=1.0, poll_s=0.1).start()  # `livedocs worker`
    try:
        until(lambda: store.get(run_id).status == "succeeded", "the worker to run it")
        done = page(run=run_id)
        assert not done.exception and done.metric and "Succeeded" in str(done.success[0].value)
        assert store.get(run_id).environment["pid"] == os.getpid()  # executed by the worker, not by a page
    finally:
        worker.stop()


def test_cancel_from_the_page_reaches_a_run_on_another_worker(home):
    form = page(notebook="slow")
    form.button(key="run:slow").click().run()
    run_id = form.query_params["run"]
    store = Store(home)
    worker = Worker(store, kernels=FreshKernels(), heartbeat_s=1.0, poll_s=0.1).start()
    try:
        until(lambda: (p := store.progress(run_id)) and p.cell, "the run to start a cell")
        running = page(run=run_id)
        assert "Running: step" in infos(running)  # live progress read from the store
        running.button(key=f"cancel:{run_id}").click().run()
        until(lambda: store.get(run_id).status == "cancelled", "the cancel to reach the worker")
    finally:
        worker.stop()
