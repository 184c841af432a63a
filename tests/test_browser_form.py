"""The form in a real browser: fast edits on several widgets never leave the share link or the run out of step.

Every rerun request carries the address the browser shows at that moment; with keyboard repeat on two
sliders, requests go out before the address of the previous rerun has arrived. The address and the run
must still follow what the sliders show.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from livedocs_runner.records.store import Store

from .conftest import until
from .test_browser import ROOT, WAIT_MS, browser, serve, settled  # noqa: F401 - browser is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

REPEATS = 8  # key repeats per hold: each one a change the app reruns for
ROUNDS = 5  # holds on each slider, alternating


def hold(page, key: str, repeats: int) -> None:
    """Hold ``key`` down: one keydown, then auto-repeat keydowns (``repeat: true``), then the keyup."""
    for _ in range(repeats):
        page.keyboard.down(key)
    page.keyboard.up(key)


def shown(page, name: str) -> float:
    """The value the slider called ``name`` shows (as its thumb's text says it, e.g. "0.73")."""
    thumb = page.get_by_role("slider", name=name)
    value = float(thumb.input_value())
    assert float(thumb.get_attribute("aria-valuetext")) == pytest.approx(value, abs=1e-9)  # what is read out is it
    return value


def address(page) -> str:
    """The address bar now (``page.url`` is only updated while Playwright processes events)."""
    return page.evaluate("window.location.href")


def url_params(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def in_step(page, sliders: dict[str, str]) -> bool:
    """Whether the address names each slider's shown value."""
    params = url_params(address(page))
    return all(key in params and abs(float(params[key]) - shown(page, name)) < 1e-9 for name, key in sliders.items())


def open_form(browser, url: str):  # noqa: F811 - browser is the fixture's value
    """The demo's credit-risk form in a new page, drawn and settled."""
    page = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}?notebook=credit_risk")
    page.get_by_text("Link to this form with these values:").wait_for()
    settled(page)
    return page


@pytest.fixture
def server(tmp_path):
    with serve(ROOT / "configs", (tmp_path / "home").resolve(), tmp_path / "server.log") as (url, home, _):
        yield url, home


def test_fast_edits_on_two_sliders_keep_the_link_and_the_run_in_step(browser, server):  # noqa: F811
    url, home = server
    page = open_form(browser, url)
    sliders = {"Approval threshold": "threshold", "Minimum credit score": "min_credit_score"}
    before = {name: shown(page, name) for name in sliders}

    for _ in range(ROUNDS):  # hold the key on one slider, then at once on the next, and again
        for name in sliders:
            page.get_by_role("slider", name=name).focus()
            hold(page, "ArrowRight", REPEATS)

    settled(page)
    # the address follows what is shown (polled: the last rerun's address may still be on its way)
    until(lambda: in_step(page, sliders), "the address to name the sliders' values", timeout=60)
    settled(page)
    after = {name: shown(page, name) for name in sliders}
    assert all(after[name] > before[name] for name in sliders), (before, after)  # the keys did move both
    params = url_params(address(page))
    for name, key in sliders.items():
        assert float(params[key]) == pytest.approx(after[name], abs=1e-9), (key, params, after)
    link = page.locator("[data-testid='stCode'] code").last.inner_text().strip()
    assert url_params(link) == params  # the link shown on the page is the address

    page.get_by_role("button", name="Run", exact=True).click()  # submits exactly what is shown
    page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"))
    record = Store(home).get(page.url.rsplit("=", 1)[1])
    assert record.trigger == "app" and record.scenario == "baseline (edited)"
    for name, key in sliders.items():
        assert record.parameters[key] == pytest.approx(after[name], abs=1e-9), (key, record.parameters, after)


def test_a_rerun_that_carries_an_older_address_of_this_page_keeps_what_is_shown(browser, server):  # noqa: F811
    """The fast-edit race made certain: the next rerun request leaves with the address this page wrote
    before the last edit (as happens when an edit is sent before the last rerun's address arrived)."""
    url, home = server
    page = open_form(browser, url)
    sliders = {"Approval threshold": "threshold", "Minimum credit score": "min_credit_score"}
    older = address(page)  # an address this page wrote: the scenario, nothing edited
    page.get_by_role("slider", name="Approval threshold").focus()
    hold(page, "ArrowRight", REPEATS)
    until(lambda: "threshold=" in address(page), "the edit to reach the address", timeout=60)
    settled(page)
    edited = shown(page, "Approval threshold")
    page.evaluate("(older) => window.history.replaceState(null, '', older)", older)  # the address lags behind
    page.get_by_role("slider", name="Minimum credit score").focus()
    hold(page, "ArrowRight", REPEATS)
    try:
        until(lambda: "min_credit_score=" in address(page), "the second edit to reach the address", timeout=60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {address(page)} shows {shown(page, 'Approval threshold')}, "
                             f"{shown(page, 'Minimum credit score')}") from None
    settled(page)
    assert shown(page, "Approval threshold") == pytest.approx(edited, abs=1e-9)  # the first edit is kept
    until(lambda: in_step(page, sliders), "the address to name the sliders' values", timeout=60)
    after = {name: shown(page, name) for name in sliders}
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"))
    record = Store(home).get(page.url.rsplit("=", 1)[1])
    for name, key in sliders.items():
        assert record.parameters[key] == pytest.approx(after[name], abs=1e-9), (key, record.parameters, after)


def test_run_pressed_right_after_an_edit_runs_the_edited_value(browser, server):  # noqa: F811
    """Run submits in its click callback, before the page reruns: the values it runs are the widgets' at
    the click (the edit travels in the same rerun request), never those the form last drew."""
    url, home = server
    page = open_form(browser, url)
    before = shown(page, "Approval threshold")
    page.get_by_role("slider", name="Approval threshold").focus()
    hold(page, "ArrowRight", 3)
    edited = shown(page, "Approval threshold")
    assert edited > before
    page.get_by_role("button", name="Run", exact=True).click(no_wait_after=True)  # no settling in between
    page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"))
    record = Store(home).get(page.url.rsplit("=", 1)[1])
    assert record.parameters["threshold"] == pytest.approx(edited, abs=1e-9), (record.parameters, before, edited)
    assert record.scenario == "baseline (edited)"
    page.get_by_text("Succeeded").wait_for()  # the run's page, straight from the click
