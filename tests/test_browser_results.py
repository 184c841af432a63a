"""Formatted tiles with coloured deltas from a config's ``results:`` block, as a real browser shows them."""

from __future__ import annotations

import re

import pytest

from livedocs_runner.records.store import Store
from tests.test_app_results import add_run
from tests.test_browser import ROOT, WAIT_MS, browser, serve, settled  # noqa: F401 - browser: a fixture

pytestmark = [pytest.mark.browser]

TILES = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].map(tile => {
    const delta = tile.querySelector('[data-testid="stMetricDelta"]');
    return {label: tile.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
            value: tile.querySelector('[data-testid="stMetricValue"]').innerText.trim(),
            delta: delta ? delta.innerText.trim() : "",
            colour: delta ? getComputedStyle(delta).color : "",
            arrow: delta ? (delta.querySelector('svg') ? "arrow" : "none") : ""};
})"""


def hue(colour: str) -> str:
    """``rgb(r, g, b)`` -> red / green / gray (which channel stands out)."""
    r, g, b = (int(c) for c in re.findall(r"\d+", colour)[:3])
    if r > g + 60 and r > b + 60:
        return "red"
    if g > r + 60 and g > b:
        return "green"
    return "gray"


def test_tiles_are_formatted_and_coloured_in_a_real_browser(browser, tmp_path):  # browser first: skip before serving
    home = (tmp_path / "home").resolve()
    store = Store(home)
    add_run(store, "b0000000000e", "baseline", {"n_applications": 12000, "approval_rate": 0.61,
                                                "default_rate": 0.05, "expected_loss": 3_290_000.0})
    add_run(store, "5000000000ee", "stress", {"n_applications": 12000, "approval_rate": 0.58, "default_rate": 0.0531,
                                              "expected_loss": 3_100_000.0}, created="2026-11-24T05:01:00.000+00:00")
    with serve(ROOT / "configs", home, tmp_path / "server.log") as (url, _, _pid):
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{url}?run=5000000000ee")
        page.get_by_text("Share and go on").wait_for()
        settled(page, tiles=4)
        tiles = {t["label"]: (t["value"], t["delta"], hue(t["colour"])) for t in page.evaluate(TILES)}
        page.screenshot(path=str(tmp_path / "tiles.png"))
        # the inputs are drawn once their section is opened (a table costs the browser more than a closed section)
        assert page.locator("[data-testid='stDataFrame']").count() == 0
        page.get_by_text("Inputs of this run").click()
        page.locator("[data-testid='stDataFrame']").first.wait_for()
    assert tiles == {
        "Applications": ("12,000", "0", "gray"),
        "Approval rate": ("58.0 %", "-3.0 pp", "gray"),
        "Default rate": ("5.31 %", "+0.31 pp", "red"),  # better: lower, and it went up
        "Expected loss": ("€3.10 M", "-€0.19 M", "green"),  # better: lower, and it went down
    }, tiles
