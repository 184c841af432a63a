"""What makes the app responsive, with real kernels: the queue wakes a watching page when a job moves on
(JobQueue.wait_change), and ``livedocs app`` prepares the catalog notebooks' kernels before anyone asks."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from livedocs_runner.execute import RunOptions
from livedocs_runner.jobs import JobQueue
from livedocs_runner.kernels import FreshKernels
from livedocs_runner.plan import plan_runs
from livedocs_runner.records.store import Store

from .conftest import NOTEBOOKS, until, write_notebook
from .test_browser import ROOT, processes_with_home, serve

pytestmark = pytest.mark.kernel

APP = RunOptions(trigger="app", user="ana", report=False)


def _seen(queue: JobQueue, job_id: str) -> tuple:
    status = queue.status(job_id)
    return status.status, status.place, status.cell


def test_wait_change_returns_when_the_job_moves_on_and_at_once_for_an_ended_job(tmp_path):
    notebook = write_notebook(tmp_path / "steps.ipynb", [
        ("pause = 0.3", ["parameters"]), "import time", "time.sleep(pause)", "time.sleep(pause)", "x = 1"])
    queue = JobQueue(Store(tmp_path / "home"), workers=1, kernels=FreshKernels())
    try:
        job = queue.submit(plan_runs(notebook)[0], APP)
        seen = []
        while not queue.status(job).done:
            queue.wait_change(job, timeout=120)  # generous: returns when the job moves on, not at the timeout
            seen.append(_seen(queue, job))
        # it blocked until something happened: a handful of wake-ups (queued -> running, each cell, the end),
        # where a wait that returned at once would have spun thousands of times
        assert len(seen) <= 20, seen
        assert seen[-1][0] == "succeeded"
        assert len({s for s in seen if s[0] == "running"}) >= 2, seen  # cells starting woke it, not only the end
        # an ended job: returns at once (the test would hang otherwise), as moved on; one not this queue's
        # too, as not moved (a page must not redraw in a loop for it)
        assert queue.wait_change(job, timeout=3600) is True
        assert queue.wait_change("000000000000", timeout=3600) is False
    finally:
        queue.shutdown()


@contextlib.contextmanager
def one_running_one_waiting(tmp_path: Path):
    """A one-slot queue running a 600 s job (its first cell started) with a second one waiting behind it."""
    queue = JobQueue(Store(tmp_path / "home"), workers=1, kernels=FreshKernels())
    try:
        slow = plan_runs(NOTEBOOKS / "slow.ipynb", overrides={"seconds": "600"})[0]
        running = queue.submit(slow, APP)
        waiting = queue.submit(slow, APP)
        until(lambda: queue.status(running).status == "running" and queue.status(running).cell >= 1,
              "the first job to run its cells")
        yield queue, running, waiting
    finally:
        queue.shutdown()


def test_wait_change_wakes_for_a_cancelled_waiting_job(tmp_path):
    with one_running_one_waiting(tmp_path) as (queue, _running, waiting):
        import threading

        woke = threading.Event()
        watcher = threading.Thread(target=lambda: (queue.wait_change(waiting, timeout=3600), woke.set()), daemon=True)
        watcher.start()
        queue.cancel(waiting)
        until(woke.is_set, "the watcher of the cancelled job to wake")
        assert queue.status(waiting).status == "cancelled"


def test_a_waiting_job_is_watched_with_its_own_timeout_and_a_running_one_with_the_short_one(tmp_path):
    """The run page's watch while a run waits in the queue (QUEUED_WAIT) and while it runs (WAKE_WAIT)."""
    with one_running_one_waiting(tmp_path) as (queue, running, waiting):
        # nothing moves: each returns at the timeout for its state (the test would hang on the other one)
        assert queue.wait_change(waiting, timeout=3600, queued_timeout=0.05) is False
        assert queue.wait_change(running, timeout=0.05, queued_timeout=3600) is False
        assert queue.status(waiting).status == "queued" and queue.status(running).status == "running"


def test_a_wait_ends_when_the_watcher_is_asked_for_something(tmp_path):
    """The run page holds a redraw of a waiting run for up to 30 s; a click on the page ends the hold."""
    with one_running_one_waiting(tmp_path) as (queue, _running, waiting):
        import threading

        clicked = threading.Event()
        threading.Timer(0.3, clicked.set).start()
        assert queue.wait_change(waiting, timeout=3600, interrupted=clicked.is_set) is False  # would hang
        assert queue.wait_change(waiting, timeout=3600, interrupted=lambda: True) is False  # asked already
        assert queue.status(waiting).status == "queued"


def test_livedocs_app_prepares_the_catalog_kernels_before_the_first_page_view(tmp_path):
    home = (tmp_path / "home").resolve()
    log = tmp_path / "server.log"
    with serve(ROOT / "configs", home, log) as (_url, _home, pid):
        # nobody has opened a page: the templates and warm kernels are there all the same
        text = log.read_text(encoding="utf-8")
        warm = [line for line in text.splitlines() if line.startswith("Warm: ")]
        assert warm and warm[0].startswith("Warm: 2 notebook kernel(s) ready (2 idle)"), text  # credit_risk, pricing
        import psutil

        def templates() -> list[str]:
            found = []
            for other in processes_with_home(home):
                with contextlib.suppress(psutil.Error):
                    if other != pid and any("_forktemplate" in part for part in psutil.Process(other).cmdline()):
                        found.append(str(other))
            return found

        assert len(templates()) >= 2  # one template per notebook (its kernels are forks of it)
        assert not Path(home / "runs.db").exists() or Store(home).list() == []  # nothing ran to get there


def test_the_server_log_leaves_out_progress_timers_of_a_page_that_moved_on():
    """Streamlit logs "The fragment with id ... does not exist anymore" for each progress timer that fires
    after a run's page became its results: expected, so ``livedocs app`` leaves it out; other lines stay."""
    import importlib.util
    import logging

    spec = importlib.util.spec_from_file_location("livedocs_serve", ROOT / "apps" / "livedocs_serve.py")
    serve_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve_module)
    from streamlit.runtime import app_session

    logger = app_session._LOGGER  # the logger Streamlit writes that line with (its handler, not the root's)
    filters, level = list(logger.filters), logger.level
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        serve_module._quiet_expected_messages()
        logger.info("The fragment with id %s does not exist anymore - it might have been removed during a "
                    "preceding full-app rerun.", "6d7dfcda1e1fe10230205fc4976da13f")
        logger.info("Something else about session %s", "s1")
    finally:
        logger.removeHandler(handler)
        logger.filters[:] = filters
        logger.setLevel(level)
    assert seen == ["Something else about session s1"]


def test_streamlit_keeps_a_click_where_the_run_page_looks_for_it():
    """apps/livedocs_ui/asked.py reads Streamlit's pending requests (internal names). On a Streamlit that
    keeps them elsewhere this fails, and the page falls back to short waits that answer clicks late."""
    from streamlit.proto.WidgetStates_pb2 import WidgetStates
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests

    from apps.livedocs_ui import asked

    def states(clicked: bool) -> WidgetStates:
        out = WidgetStates()
        widget = out.widgets.add()
        widget.id = "cancel"
        widget.trigger_value = clicked
        return out

    def timer() -> RerunData:  # what the browser sends five times a second for a `run_every` fragment
        return RerunData(fragment_id="live", widget_states=states(False), is_auto_rerun=True)

    check = asked._trigger_check()
    assert check is not None
    requests = ScriptRequests()
    assert asked._readable(requests) and not asked._asked(requests, check)
    requests.request_rerun(timer())
    assert not asked._asked(requests, check)  # only the timer: keep holding
    requests.request_rerun(RerunData(fragment_id="live", widget_states=states(True)))  # Cancel clicked
    assert asked._asked(requests, check)
    requests.request_rerun(timer())  # the timer's next request folds in: the click is still waiting
    assert asked._asked(requests, check)

    page_change = ScriptRequests()
    page_change.request_rerun(timer())
    page_change.request_rerun(RerunData(query_string="notebook=demo", widget_states=states(False)))
    assert asked._asked(page_change, check)  # a rerun of the whole page

    closed = ScriptRequests()
    closed.request_stop()
    assert asked._asked(closed, check)  # the browser left


def test_the_app_server_skips_streamlits_full_collection_after_every_script_run(tmp_path):
    """Streamlit's gc.collect(2) after each script and fragment run was the server's largest cost with ten
    sessions (benchmarks/app_speed.py); the option must still exist, or Streamlit would refuse to start."""
    from streamlit import config

    from livedocs_runner.cli.app import APP_SCRIPT, app_command

    argv, _ = app_command(APP_SCRIPT, configs=ROOT / "configs", home=tmp_path, port=9000, workers=1)
    assert argv[argv.index("--runner.postScriptGC") + 1] == "false"
    assert "runner.postScriptGC" in config.get_config_options()


def test_three_sessions_at_once_each_get_their_own_runs_results_without_a_refresh(tmp_path, monkeypatch):
    """Over Streamlit's own websocket protocol (benchmarks/streamlit_client.py, which app_speed.py uses for
    the ten-session figures): each session opens a form with its own threshold, clicks Run once and is
    sent its run's result tiles by the server alone (the run page's timed redraws, no reload)."""
    import asyncio

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from streamlit_client import ProtocolSession

    home = (tmp_path / "home").resolve()

    async def session(url: str, threshold: str) -> tuple[str, str]:
        client = ProtocolSession(url)
        try:
            await client.open(f"notebook=credit_risk&threshold={threshold}")
            await client.click("Run")
            await client.until(lambda: client.tiles_at > 0 and client.query.startswith("run="), timeout=180)
            return client.query.removeprefix("run="), threshold
        finally:
            await client.close()

    async def sessions(url: str) -> list[tuple[str, str]]:
        return await asyncio.gather(*(session(url, t) for t in ("0.41", "0.42", "0.43")))

    with serve(ROOT / "configs", home, tmp_path / "server.log") as (url, _home, _pid):
        shown = asyncio.run(sessions(url))
    store = Store(home)
    for run_id, threshold in shown:
        record = store.get(run_id)
        assert (record.status, record.parameters["threshold"], record.cache_of) == ("succeeded", float(threshold), None)
    assert len({run_id for run_id, _ in shown}) == 3
