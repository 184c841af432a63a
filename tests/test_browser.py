"""One end-to-end test in a real browser: `livedocs app` served, driven by Playwright on Debian's Chromium."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from livedocs_runner.records.store import Store

pytestmark = [pytest.mark.browser, pytest.mark.kernel]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
WAIT_MS = 180_000  # generous: first kernel start and first page render on a busy CI machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def livedocs_command() -> list[str]:
    script = Path(sys.executable).with_name("livedocs")
    return [str(script)] if script.exists() else [shutil.which("livedocs") or "livedocs"]


def processes_with_home(home: Path) -> list[int]:
    """Processes (the server and any kernel it started) whose environment names this store."""
    marker = f"LIVEDOCS_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def serve(configs: Path, home: Path, log_path: Path, user: str = "browser-test", *, workers: int = 2,
          args: tuple[str, ...] = (), env: dict[str, str] | None = None, port: int | None = None):
    """``livedocs app`` on ``port`` or a free one (default host: localhost only), with ``args`` added (sign-in
    options) and ``env`` in place of this process's environment; yields (url, home, pid)."""
    port = port or free_port()
    log = open(log_path, "w+")
    env = {**(os.environ if env is None else env), "LIVEDOCS_USER": user}
    proc = subprocess.Popen([*livedocs_command(), "app", "--configs", str(configs), "--home", str(home),
                             "--port", str(port), "--workers", str(workers), *args],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"livedocs app exited with {proc.returncode}:\n{log.read()}")
            with contextlib.suppress(OSError, http.client.HTTPException):  # not up yet, or another server's answer
                if urllib.request.urlopen(url + "_stcore/health", timeout=5).read() == b"ok":
                    break
            if time.monotonic() > deadline:
                pytest.fail("livedocs app did not answer on " + url)
            time.sleep(0.2)
        yield url, home, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the app cancels its runs and stops their kernels
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in processes_with_home(home):  # kernels live in their own process groups
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def server(tmp_path):
    with serve(ROOT / "configs", (tmp_path / "home").resolve(), tmp_path / "server.log") as (url, home, _):
        yield url, home


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium (apt-get install chromium).")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


SETTLED = """(tiles) => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-stale="true"]')
    && document.querySelectorAll('[data-testid="stMetricLabel"]').length === tiles
    && document.querySelectorAll('[data-testid="stMetricValue"]').length === tiles"""


def settled(page, tiles: int = 0) -> None:
    """Wait until the page's script run is over, nothing on it is a stale element of an earlier run,
    and it shows ``tiles`` metric tiles."""
    page.wait_for_function(SETTLED, arg=tiles, timeout=WAIT_MS)


def metrics_of(page, tiles: int) -> dict[str, str]:
    """The metric tiles (label -> value) once the page shows ``tiles`` of them."""
    page.get_by_text("Share and go on").wait_for(timeout=WAIT_MS)  # drawn after every metric tile
    settled(page, tiles)
    values = page.get_by_test_id("stMetricValue")
    labels = page.get_by_test_id("stMetricLabel").all_inner_texts()
    return dict(zip([label.strip() for label in labels], values.all_inner_texts()))


def test_fill_run_and_share_in_a_real_browser(browser, server):  # browser first: skip before serving
    url, home = server
    page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.get_by_text("Credit risk scorecard").first.wait_for()
    page.get_by_role("button", name="Open").first.wait_for()
    settled(page)  # click a button of the finished page, not one a rerun is about to replace
    page.get_by_role("button", name="Open").first.click()  # the catalog lists credit risk first
    page.wait_for_url(re.compile(r"notebook=credit_risk"))

    slider = page.get_by_role("slider", name="Approval threshold")
    for value in ("0.49", "0.48", "0.47", "0.46", "0.45"):  # one step of 0.01 at a time
        slider.focus()  # the rerun after each change may re-render the slider
        page.keyboard.press("ArrowLeft")
        page.wait_for_url(re.compile(rf"threshold={re.escape(value)}(&|$)"))  # the form state is in the URL
    page.get_by_role("button", name="Run", exact=True).click()

    page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"))
    page.get_by_text("Succeeded").wait_for()
    metrics = metrics_of(page, tiles=4)  # the credit-risk notebook records four numbers
    assert list(metrics) == ["Applications", "Approval rate", "Default rate", "Expected loss"]  # labels: configs/credit_risk.yaml
    run_id = page.url.rsplit("=", 1)[1]
    record = Store(home).get(run_id)
    assert (record.status, record.trigger, record.user) == ("succeeded", "app", "browser-test")
    assert record.parameters["threshold"] == 0.45

    shared = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()  # "another browser"
    shared.set_default_timeout(WAIT_MS)
    shared.goto(page.url)
    shared.get_by_text("Succeeded").wait_for()
    shared.get_by_text(f"Run {run_id} · by browser-test via app").wait_for()
    assert metrics_of(shared, tiles=4) == metrics


# --- security: reports cannot reach the app; people-supplied text stays text ---------------------

LINK = "[click](javascript:alert(1))"
TRACKER = "http://127.0.0.1:9/track.png"
HOSTILE = f"{LINK} ![]({TRACKER})"
PAYLOAD = ("<p id='payload-marker'>payload delivered</p>"
           "<img id='payload-img' src='x' onerror=\"parent.document.title='pwned'; top.document.title='pwned'\">"
           "<script>parent.document.title='pwned-script'; top.document.title='pwned-script';</script>")


@pytest.fixture
def hostile_project(tmp_path):
    """A config with a hostile title and scenario name, whose notebook displays a text parameter as
    Markdown and as HTML (as a notebook echoing a form value would), run once with a hostile user name."""
    from livedocs_runner.batch import run_batch
    from livedocs_runner.execute import RunOptions
    from livedocs_runner.plan import plan_runs

    from .conftest import write_notebook
    configs = tmp_path / "configs"
    write_notebook(configs / "echo.ipynb", [
        ('s = "hello"  # text to show', ["parameters"]),
        "from IPython.display import HTML, Markdown, display\ndisplay(Markdown(s))\ndisplay(HTML(s))\n"
        "from livedocs_runner import record\nrecord('length', len(s))",
    ])
    (configs / "echo.yaml").write_text(
        f"notebook: echo.ipynb\ntitle: {json.dumps(HOSTILE)}\ndescription: {json.dumps('About ' + HOSTILE)}\n"
        f"scenarios:\n  {json.dumps(HOSTILE)}: {{s: {json.dumps(PAYLOAD)}}}\n", encoding="utf-8")
    home = (tmp_path / "home").resolve()
    [run] = run_batch(plan_runs(configs / "echo.yaml"), Store(home), options=RunOptions(trigger="app", user=HOSTILE))
    assert run.status == "succeeded", run.error
    return configs, home, run


def test_a_report_cannot_reach_the_app_and_text_stays_text(browser, hostile_project, tmp_path):
    configs, home, run = hostile_project
    report = Path(run.report_html).read_text(encoding="utf-8")
    assert "payload-marker" in report and "onerror" in report  # the notebook really displayed the payload
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?https?:", report, re.I)  # nothing from a CDN

    with serve(configs, home, tmp_path / "server.log") as (url, _, pid):
        import psutil
        listening = {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet") if c.status == "LISTEN"}
        assert listening == {"127.0.0.1"}  # the default: this machine only

        page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{url}?run={run.id}")
        page.get_by_text("Succeeded").wait_for()
        page.get_by_text("Share and go on").wait_for()
        settled(page, tiles=1)  # the whole page is drawn: the absence checks below see all of it
        title = page.title()
        assert "pwned" not in title
        page.get_by_text("Full report (code hidden)").click()
        wrapper = page.frame_locator("iframe[title]").first  # Streamlit's iframe (scripts + same origin) ...
        sandboxed = wrapper.frame_locator("iframe[sandbox='']")  # ... holds only the report's frame, sandboxed
        sandboxed.locator("#payload-marker").first.wait_for()  # the payload reached the browser
        report_frame = next(f for f in page.frames if f.url == "about:srcdoc" and f.query_selector("#payload-marker"))
        # the broken image has finished loading (its onerror would have run by now) and no script ran
        assert report_frame.evaluate("[...document.querySelectorAll('img#payload-img')].map(i => i.complete)") == [
            True, True]  # shown twice: as Markdown and as HTML
        assert report_frame.evaluate("document.title") != "pwned-script"
        with pytest.raises(Exception):  # the report's origin is opaque: the app's document is out of reach
            report_frame.evaluate("parent.parent.document.title")
        assert page.title() == title and "pwned" not in page.title()

        # people-supplied text (title, scenario, user, metric names) is text: no link, no image from it
        for link in page.locator("a").all():
            assert not (link.get_attribute("href") or "").lower().startswith("javascript"), link.get_attribute("href")
        assert page.locator(f"img[src='{TRACKER}']").count() == 0
        page.get_by_text(f"by {HOSTILE} via app").wait_for()  # the caption shows the name as typed
        heading = page.get_by_role("heading", level=1).first.inner_text()
        assert LINK in heading and TRACKER in heading

        page.goto(url)  # the catalog: title and description of the hostile config
        page.get_by_text(f"About {HOSTILE}").wait_for()
        settled(page)
        assert page.locator("a[href^='javascript']").count() == 0
        assert page.locator(f"img[src='{TRACKER}']").count() == 0

        page.goto(f"{url}?notebook=echo")  # the form: title, scenario selector (the hostile name is selected)
        page.get_by_text("Start from scenario").wait_for()
        page.get_by_text("Link to this form with these values:").wait_for()
        settled(page)
        assert page.get_by_role("combobox", name="Start from scenario").input_value() == HOSTILE  # plain text
        assert page.locator("a[href^='javascript']").count() == 0
        assert page.locator(f"img[src='{TRACKER}']").count() == 0

    # the control: the same report in an iframe that allows scripts and same-origin (what Streamlit's
    # st.iframe / components.html give) does change the parent's title, so the check above can fail
    control = browser.new_page()
    import html as html_lib
    control.set_content("<title>app</title><iframe sandbox='allow-scripts allow-same-origin' "
                        f"srcdoc=\"{html_lib.escape(PAYLOAD, quote=True)}\"></iframe>")
    control.wait_for_function("document.title.startsWith('pwned')")


# --- reproduce a past run: click "Rerun exactly", read the verdict; hostile text on the diff page ----

def test_rerun_exactly_shows_the_verdict_and_the_diff_page_keeps_text_as_text(browser, server, tmp_path):
    import dataclasses

    from livedocs_runner.batch import run_batch
    from livedocs_runner.execute import RunOptions
    from livedocs_runner.plan import plan_runs

    from .conftest import NOTEBOOKS
    url, home = server
    store = Store(home)
    [original] = run_batch(plan_runs(ROOT / "configs" / "credit_risk.yaml", scenarios=["baseline"]), store,
                           options=RunOptions(trigger="cli"))
    assert original.status == "succeeded"
    page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{url}?run={original.id}")
    page.get_by_text("Succeeded").wait_for()
    page.get_by_role("button", name="Rerun exactly").wait_for()
    settled(page, tiles=4)
    page.get_by_role("button", name="Rerun exactly").click()
    page.wait_for_url(re.compile(rf"\?run=(?!{original.id})[0-9a-f]{{12}}$"))
    page.get_by_text(re.compile(rf"^REPRODUCED: This rerun reproduced run {original.id} exactly")).wait_for()
    rerun = store.get(page.url.rsplit("=", 1)[1])
    assert (rerun.rerun_of, rerun.rerun_variant, rerun.user) == (original.id, "exact", "browser-test")

    # a notebook whose edited cell and scenario name are hostile Markdown/HTML: the diff page shows text
    notebook = tmp_path / "hostile.ipynb"
    source = json.loads((NOTEBOOKS / "simple.ipynb").read_text())
    notebook.write_text(json.dumps(source))
    [first] = run_batch([dataclasses.replace(plan_runs(notebook)[0], scenario=HOSTILE)], store,
                        options=RunOptions(trigger="cli"))
    source["cells"].insert(2, {"cell_type": "markdown", "id": "evil", "metadata": {}, "source": [HOSTILE + PAYLOAD]})
    notebook.write_text(json.dumps(source))
    [second] = run_batch([dataclasses.replace(plan_runs(notebook)[0], scenario=HOSTILE)], store,
                         options=RunOptions(trigger="cli"))
    page.goto(f"{url}?diff={first.id},{second.id}")
    page.get_by_text(re.compile(r"^DIFFERENT: Run")).wait_for()
    page.get_by_text("Link to this comparison:").wait_for()
    settled(page)
    page.get_by_text(f"({HOSTILE}) → run").wait_for()  # the scenario name, as typed
    assert page.locator("code", has_text="payload-marker").count() >= 1  # the cell source, as code
    assert page.locator("#payload-marker, #payload-img").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator(f"img[src='{TRACKER}']").count() == 0
    assert "pwned" not in page.title()
