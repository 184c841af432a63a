"""Issue 11's done-when, with real processes: `livedocs app --no-worker` plus two `livedocs worker`s serve the demo
(a run submitted in a real browser executes on a worker), and plain `livedocs app` resumes queued runs after a
restart."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from livedocs_runner.execute import RunOptions
from livedocs_runner.records.store import FINAL, Store
from livedocs_runner.submit import enqueue
from tests.conftest import until
from tests.test_browser import ROOT, WAIT_MS, browser, metrics_of, serve  # noqa: F401 (browser: a fixture)
from tests.test_queue_faults import HEARTBEAT, Processes, executions
from tests.test_worker import appends, plan

QUIET = RunOptions(trigger="cli", user="ana", report=False)


@pytest.mark.browser
@pytest.mark.kernel
def test_app_without_a_worker_and_two_workers_serve_the_demo(browser, tmp_path):  # browser first: skip early
    home = (tmp_path / "home").resolve()
    processes = Processes(home, tmp_path)
    env = {**os.environ, "LIVEDOCS_HEARTBEAT_S": HEARTBEAT}
    try:
        with serve(ROOT / "configs", home, tmp_path / "server.log", args=("--no-worker",), env=env) as (url, _, app_pid):
            workers = [processes.worker("--workers", "1", name=f"worker{n}") for n in range(2)]
            page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(url + "?notebook=credit_risk")
            page.get_by_role("button", name="Run", exact=True).click()
            page.wait_for_url(lambda u: "?run=" in u)
            page.get_by_text("Succeeded").wait_for()
            assert len(metrics_of(page, tiles=4)) == 4
            record = Store(home).get(page.url.rsplit("=", 1)[1])
            assert (record.status, record.trigger, record.user) == ("succeeded", "app", "browser-test")
            assert record.environment["pid"] in {w.pid for w in workers} and record.environment["pid"] != app_pid
            notebook, log = appends(tmp_path / "nb"), tmp_path / "executions.txt"
            more = [enqueue(plan(notebook, log, f"more{n}", seconds=0.5), Store(home), QUIET) for n in range(4)]
            until(lambda: all(Store(home).get(r.id).status == "succeeded" for r in more), "the queued runs")
            assert executions(log) == Counter(f"more{n}" for n in range(4))
            assert {Store(home).get(r.id).environment["pid"] for r in more} <= {w.pid for w in workers}
    finally:
        processes.close()


@pytest.mark.kernel
def test_plain_app_resumes_queued_runs_after_a_restart(tmp_path):
    home = (tmp_path / "home").resolve()
    store = Store(home)
    notebook, log = appends(tmp_path / "nb"), tmp_path / "executions.txt"
    env = {**os.environ, "LIVEDOCS_HEARTBEAT_S": HEARTBEAT}
    running = enqueue(plan(notebook, log, "running", seconds=600), store, QUIET)
    with serve(ROOT / "configs", home, tmp_path / "first.log", workers=1, env=env):
        until(lambda: executions(log) == Counter(["running"]), "the first run's first cell")
        waiting = [enqueue(plan(notebook, log, f"waiting{n}"), store, QUIET) for n in range(3)]
    # the app stopped (SIGTERM): the run it was executing is final, the queued ones still wait
    assert store.get(running.id).status == "cancelled"
    assert [store.get(r.id).status for r in waiting] == ["queued"] * 3
    with serve(ROOT / "configs", home, tmp_path / "second.log", workers=1, env=env):  # nobody opens a page
        until(lambda: all(store.get(r.id).status in FINAL for r in waiting), "the queued runs to resume")
    assert [store.get(r.id).status for r in waiting] == ["succeeded"] * 3
    assert executions(log) == Counter(["running", "waiting0", "waiting1", "waiting2"])
