"""Tick rows of the History table in a real browser (the table is a canvas grid: AppTest cannot tick it), and
the picked runs follow; Compare then opens the comparison of exactly those runs."""

from __future__ import annotations

import pytest

from livedocs_runner.records.store import Store

from .test_app_history import add, BASE, metrics
from .test_browser import ROOT, WAIT_MS, browser, serve  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser]


def test_ticking_rows_picks_runs_to_compare(tmp_path, browser):  # noqa: F811
    home = (tmp_path / "home").resolve()
    store = Store(home)
    for i, t in enumerate([0.3, 0.4, 0.5]):
        add(store, f"5000000000{i}0", 10 - i, scenario=f"threshold_sweep[threshold={t}]",
            parameters={**BASE, "threshold": t}, metrics=metrics(t), trigger="cli", user="ana")
    with serve(ROOT / "configs", home, tmp_path / "server.log") as (url, _, _pid):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + "?history=credit_risk", timeout=WAIT_MS)
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for(timeout=WAIT_MS)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidgetRunningIcon\"]')",
                               timeout=WAIT_MS)
        box = grid.bounding_box()
        assert box is not None
        row_height = 35  # Streamlit's default row height; the header row is as tall
        picker = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Runs to open or compare")
        for row, label in ((0, "500000000020 · threshold_sweep[threshold=0.5] · succeeded"),  # the newest
                           (2, "500000000000 · threshold_sweep[threshold=0.3] · succeeded")):  # the oldest
            grid.hover()
            page.mouse.click(box["x"] + 18, box["y"] + row_height * (row + 1) + row_height / 2)
            picker.get_by_text(label).wait_for(timeout=WAIT_MS)
        picker.get_by_text("500000000020 · threshold_sweep[threshold=0.5] · succeeded").wait_for(timeout=WAIT_MS)
        assert picker.get_by_text("500000000010").count() == 0
        page.get_by_role("button", name="Compare", exact=True).click()
        page.wait_for_url("**compare=**", timeout=WAIT_MS)
        assert sorted(page.url.split("compare=")[1].split("&")[0].replace("%2C", ",").split(",")) == [
            "500000000000", "500000000020"]
        page.get_by_text("Approval rate against threshold").wait_for(timeout=WAIT_MS)  # a one-number sweep: a chart
