"""One end-to-end test in a real browser: `livedocs app` served, driven by Playwright on Debian's Chromium."""

from __future__ import annotations

import contextlib
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


@pytest.fixture
def server(tmp_path):
    home = (tmp_path / "home").resolve()
    port = free_port()
    log = open(tmp_path / "server.log", "w+")
    env = {**os.environ, "LIVEDOCS_USER": "browser-test"}
    proc = subprocess.Popen([*livedocs_command(), "app", "--configs", str(ROOT / "configs"), "--home", str(home),
                             "--port", str(port), "--workers", "2"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"livedocs app exited with {proc.returncode}:\n{log.read()}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(url + "_stcore/health", timeout=5).read() == b"ok":
                    break
            if time.monotonic() > deadline:
                pytest.fail("livedocs app did not answer on " + url)
            time.sleep(0.2)
        yield url, home
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


def metrics_of(page) -> dict[str, str]:
    values = page.get_by_test_id("stMetricValue")
    values.first.wait_for(timeout=WAIT_MS)
    labels = page.get_by_test_id("stMetricLabel").all_inner_texts()
    return dict(zip([label.strip() for label in labels], values.all_inner_texts()))


def test_fill_run_and_share_in_a_real_browser(browser, server):  # browser first: skip before serving
    url, home = server
    page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.get_by_text("Credit risk scorecard").first.wait_for()
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
    metrics = metrics_of(page)
    assert list(metrics)[:4] == ["N applications", "Approval rate", "Default rate", "Expected loss"]
    run_id = page.url.rsplit("=", 1)[1]
    record = Store(home).get(run_id)
    assert (record.status, record.trigger, record.user) == ("succeeded", "app", "browser-test")
    assert record.parameters["threshold"] == 0.45

    shared = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()  # "another browser"
    shared.set_default_timeout(WAIT_MS)
    shared.goto(page.url)
    shared.get_by_text("Succeeded").wait_for()
    shared.get_by_text(f"Run {run_id} · by browser-test via app").wait_for()
    assert metrics_of(shared) == metrics
