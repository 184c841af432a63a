"""A run watched in a real browser: its progress moves several times during a ~2 s run, and its result
replaces the progress by itself (no reload). Timings belong in benchmarks/app_speed.py, never here."""

from __future__ import annotations

import re

import pytest

from livedocs_runner.records.store import Store

from .conftest import write_notebook
from .test_browser import WAIT_MS, browser, serve, settled  # noqa: F401 - browser is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

STEPS = 8  # of a quarter second each: a ~2 s run

# every distinct progress text the page shows, in order (a MutationObserver sees each redraw)
WATCH = """() => {
    window.__progress = [];
    const seen = () => {
        for (const el of document.querySelectorAll('[data-testid="stAlert"]')) {
            const t = el.innerText.trim();
            if (t.startsWith('Running')) {
                const all = window.__progress;
                if (all[all.length - 1] !== t) all.push(t);
            }
        }
    };
    new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture
def steps_server(tmp_path):
    configs = tmp_path / "configs"
    write_notebook(configs / "steps.ipynb", [
        ("pause = 0.25  # seconds per step", ["parameters"]),
        "import time\nfrom livedocs_runner import record",
        *[f"# step {n + 1}\ntime.sleep(pause)" for n in range(STEPS)],
        f"record('steps', {STEPS})",
    ])
    (configs / "steps.yaml").write_text("notebook: steps.ipynb\ntitle: Eight steps\nscenarios:\n  quarter: {}\n",
                                        encoding="utf-8")
    with serve(configs, (tmp_path / "home").resolve(), tmp_path / "server.log") as (url, home, _):
        yield url, home


def test_progress_moves_during_the_run_and_the_result_appears_without_a_reload(browser, steps_server):
    url, home = steps_server
    page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}?notebook=steps")
    page.get_by_role("button", name="Run", exact=True).wait_for()
    settled(page)
    loads = []
    page.on("load", lambda _: loads.append(page.url))
    page.evaluate(WATCH)
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"))
    page.get_by_text("Succeeded").wait_for()  # the result replaced the progress: nobody reloaded the page
    page.get_by_text("Share and go on").wait_for()
    settled(page, tiles=1)

    run_id = page.url.rsplit("=", 1)[1]
    record = Store(home).get(run_id)
    assert record.status == "succeeded" and record.metrics == {"steps": STEPS}
    assert loads == []  # the same document throughout: no reload, no navigation
    texts = page.evaluate("window.__progress")
    # several visible updates while it ran, the step moving on, not only the clock (a page polling once a
    # second saw three: steps 0, 5 and 8 of 11)
    assert len(texts) >= 4, texts
    steps = {int(m[1]) for t in texts if (m := re.search(r"step (\d+) of", t))}
    assert len(steps) >= 4, texts
    assert page.locator('[data-testid="stAlert"]', has_text="Running").count() == 0  # the progress is gone
