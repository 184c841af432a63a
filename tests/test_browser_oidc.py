"""Sign-in end to end: a real OpenID Connect provider (tests/oidc, panva's oidc-provider on Node), the
app served by `livedocs app --auth --access`, Playwright on Debian's Chromium signing in on the provider's
own form. Nothing is mocked: the ID token is signed by the provider and checked by Authlib in Streamlit."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .oidc_fixture import NOBODY, PASSWORD, RUNNER, VIEWER, Provider, require_provider, start_provider
from .test_browser import CHROMIUM, CHROMIUM_ARGS, free_port

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "data" / "apps" / "login_probe.py"
WAIT_MS = 60_000  # page loads and sign-in round trips; kernel runs wait longer (RUN_MS)
RUN_MS = 180_000


def wait_for_health(proc: subprocess.Popen[bytes], url: str, log_path: Path, what: str) -> None:
    deadline = time.monotonic() + RUN_MS / 1000
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(url + "_stcore/health", timeout=5).read() == b"ok":
                return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not answer on {url}:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- one provider, one browser for the module ------------------------------------------------------

@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    """The app ports, chosen first: the provider only sends people back to these callbacks."""
    return {"probe": free_port(), "app": free_port()}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium (apt-get install chromium).")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    require_provider()  # skip before starting anything
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def provider(browser, ports, tmp_path_factory) -> Iterator[Provider]:
    callbacks = [f"http://127.0.0.1:{port}/oauth2callback" for port in ports.values()]
    with start_provider(callbacks, tmp_path_factory.mktemp("oidc") / "provider.log") as running:
        yield running


def new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def sign_in_on_provider(page, provider: Provider, email: str, password: str = PASSWORD) -> None:
    """Fill in the provider's own sign-in form (the browser has been sent there) and submit it."""
    page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/interaction/"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


# --- the chain on its own: a minimal st.login app -----------------------------------------------------

@pytest.fixture(scope="module")
def probe(provider, ports, tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("probe")
    port = ports["probe"]
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "probe-cookie-secret-0123456789abcdef"\n'
        f'client_id = "{provider.client_id}"\n'
        f'client_secret = "{provider.client_secret}"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n'
        'client_kwargs = { scope = "openid email profile groups" }\n', encoding="utf-8")
    log_path = folder / "probe.log"
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(PROBE), "--server.address",
                                 "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                                 "--secrets.files", str(secrets_file)],
                                cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_health(proc, url, log_path, "the login probe app")
            yield url
        finally:
            stop(proc)


def test_the_probe_signs_in_and_out_through_the_real_provider(browser, provider, probe):
    page = new_page(browser)
    page.goto(probe)
    page.get_by_text("not signed in").wait_for()
    page.get_by_role("button", name="Sign in").click()

    sign_in_on_provider(page, provider, RUNNER, password="not the password")
    page.get_by_role("alert").filter(has_text="Wrong email or password.").wait_for()  # the provider checks
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(probe)  # back through /oauth2callback: Authlib checked the signed ID token
    page.get_by_text(f"signed in as {RUNNER}").wait_for()
    page.get_by_text("groups: risk").wait_for()  # the groups claim reaches st.user

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()  # the provider's session ends too
    page.get_by_text("not signed in").wait_for()
    assert page.get_by_text(RUNNER).count() == 0
