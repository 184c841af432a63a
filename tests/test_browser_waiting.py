"""Pages of waiting runs in a real browser: while nothing changes the server sends them nothing (a page
of a waiting run once cost its browser a redraw twice a second), yet a click on them is answered at once
and they follow the run when it moves on. The app holds such a redraw open for up to
``run_page.QUEUED_HOLD`` (30 s): every wait below is well under that, so a page that only caught up when
the hold ran out fails. Timings belong in benchmarks/app_speed.py, never here."""

from __future__ import annotations

import subprocess
import time

import pytest

from apps.livedocs_ui.run_page import QUEUED_HOLD
from livedocs_runner.records.store import Store

from .conftest import until, write_notebook
from .test_browser import browser, livedocs_command, serve  # noqa: F401 - browser is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

FOLLOW_MS = 12_000  # well under the hold: the page followed the change, not the hold's end
QUIET_S = 2.0  # how long a waiting page is watched for messages from the server
assert FOLLOW_MS / 1000 < QUEUED_HOLD / 2 and QUIET_S < QUEUED_HOLD / 2

@pytest.fixture
def gated(tmp_path):
    """An app with one worker and three queued runs of a notebook that waits for its gate file."""
    configs = tmp_path / "configs"
    gates = tmp_path / "gates"
    gates.mkdir()
    write_notebook(configs / "gated.ipynb", [
        ("gate = ''", ["parameters"]),
        "import pathlib, time\nfrom livedocs_runner import record",
        "deadline = time.monotonic() + 600\n"
        "while not pathlib.Path(gate).exists() and time.monotonic() < deadline:\n    time.sleep(0.05)",
        "record('opened', 1)",
    ])
    (configs / "gated.yaml").write_text(
        "notebook: gated.ipynb\ntitle: Gated\nscenarios:\n"
        + "".join(f"  {name}: {{gate: '{gates / name}'}}\n" for name in ("first", "second", "third")),
        encoding="utf-8")
    home = (tmp_path / "home").resolve()
    with serve(configs, home, tmp_path / "server.log", workers=1) as (url, home, _):
        subprocess.run([*livedocs_command(), "run", str(configs / "gated.yaml"), "--home", str(home), "--queue",
                        "-s", "first", "-s", "second", "-s", "third"], check=True, capture_output=True)
        store = Store(home)
        ids = {r.scenario: r.id for r in store.list()}
        until(lambda: store.get(ids["first"]).status == "running", "the app's worker to start the first run")
        try:
            yield url, store, ids, gates
        finally:
            for name in ("first", "second", "third"):
                (gates / name).touch()


def test_a_waiting_page_gets_nothing_until_its_run_moves_on_and_answers_clicks_at_once(browser, gated):
    url, store, ids, gates = gated
    page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    received: list[float] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda _: received.append(time.monotonic())))
    page.goto(f"{url}?run={ids['third']}")
    page.get_by_text("Waiting for a free worker: number 2 in the queue").wait_for(timeout=FOLLOW_MS * 4)

    page.wait_for_timeout(1000)  # the page's first redraws are over
    since = time.monotonic()
    page.wait_for_timeout(QUIET_S * 1000)
    assert [t for t in received if t >= since] == []  # nothing changed, so the server sent nothing

    page.get_by_role("button", name="Cancel").click()  # answered now, not when the hold ends
    page.get_by_text("This run was cancelled").wait_for(timeout=FOLLOW_MS)
    assert store.get(ids["third"]).status == "cancelled"

    second = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    second.goto(f"{url}?run={ids['second']}")
    second.get_by_text("Waiting for a free worker: number 1 in the queue").wait_for(timeout=FOLLOW_MS * 4)
    second.wait_for_timeout(1000)  # held now
    second.get_by_role("button", name="← Gated").click()  # another page: answered now, too
    second.get_by_role("button", name="Run", exact=True).wait_for(timeout=FOLLOW_MS)
    assert "run=" not in second.url
    second.goto(f"{url}?run={ids['second']}")
    second.get_by_text("Waiting for a free worker: number 1 in the queue").wait_for(timeout=FOLLOW_MS * 4)

    first = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    first.goto(f"{url}?run={ids['first']}")
    first.get_by_text("Running:").wait_for(timeout=FOLLOW_MS * 4)
    first.get_by_role("button", name="Cancel").click()  # a running run: its kernel is stopped
    first.get_by_text("This run was cancelled").wait_for(timeout=FOLLOW_MS)
    assert store.get(ids["first"]).status == "cancelled"
    second.get_by_text("Running:").wait_for(timeout=FOLLOW_MS)  # the second starts: its page follows
    (gates / "second").touch()
    second.get_by_text("Succeeded").wait_for(timeout=FOLLOW_MS)
    assert store.get(ids["second"]).metrics == {"opened": 1}
