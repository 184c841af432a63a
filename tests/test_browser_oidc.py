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

from livedocs_runner.records.store import Store

from .conftest import run_records
from .oidc_fixture import NOBODY, PASSWORD, RUNNER, VIEWER, Provider, require_provider, start_provider
from .test_browser import CHROMIUM, CHROMIUM_ARGS, free_port, metrics_of, serve, settled

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


def test_the_provider_only_sends_people_back_to_registered_callbacks(provider, ports):
    """The provider is strict where it matters: an unregistered redirect URI gets an error page, no redirect."""
    import urllib.error
    from urllib.parse import urlencode
    query = {"client_id": provider.client_id, "response_type": "code", "scope": "openid email",
             "redirect_uri": f"http://127.0.0.1:{ports['app']}/elsewhere"}
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{provider.issuer}/auth?{urlencode(query)}", timeout=10)
    assert refused.value.code == 400 and b"redirect_uri did not match" in refused.value.read()


def test_without_the_package_the_tests_skip_with_the_install_command_or_fail_under_ci(monkeypatch, tmp_path):
    from _pytest.outcomes import Failed, Skipped

    from . import oidc_fixture
    monkeypatch.setattr(oidc_fixture, "OIDC", tmp_path)  # no node_modules there
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Skipped, match=re.escape("npm ci --prefix tests/oidc")):
        require_provider()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="CI must install it"):
        require_provider()


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


# --- the real app: `livedocs app --auth --access`, three people, one run --------------------------------

SECRET_ENV, COOKIE_ENV = "LIVEDOCS_TEST_OIDC_CLIENT_SECRET", "LIVEDOCS_TEST_OIDC_COOKIE_SECRET"
ACCESS_YAML = f"""\
rules:
  - configs: [credit_risk]
    groups: [risk]            # from the token's groups claim: ana
    role: runner
  - configs: ["credit_*"]
    users: [{VIEWER}]
    role: viewer
"""  # nora@example.com: no rule (default-deny); pricing_whatif: nobody


class App:
    """The served app and everything it showed or wrote, for the no-secret checks at the end."""

    def __init__(self, url: str, home: Path, log: Path, secrets: tuple[str, ...]) -> None:
        self.url, self.home, self.log, self.secrets = url, home, log, secrets
        self.seen: list[tuple[str, bytes]] = []  # (where, what): page HTML and websocket frames
        self.runs: dict[str, str] = {}  # who -> the run id they started

    def page(self, browser, who: str = "nobody signed in"):
        """A fresh browser (own cookies) whose every HTML snapshot and websocket frame is kept."""
        page = new_page(browser)

        def on_websocket(ws) -> None:
            ws.on("framereceived", lambda payload: self.seen.append(
                (f"websocket {ws.url} ({who})", payload if isinstance(payload, bytes) else payload.encode())))
        page.on("websocket", on_websocket)
        return page

    def snapshot(self, page) -> str:
        html = page.content()
        self.seen.append((f"page {page.url}", html.encode()))
        return html

    def sent_to(self, who: str) -> bytes:
        """Everything the app's server sent to ``who``'s browser over the websocket so far."""
        return b"".join(content for where, content in self.seen if where.endswith(f"({who})"))


@pytest.fixture(scope="module")
def app(browser, provider, ports, tmp_path_factory) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("app")
    port = ports["app"]
    cookie_secret = "cookie-" + os.urandom(24).hex()
    auth = folder / "auth.toml"
    auth.write_text(
        f'server_metadata_url = "{provider.metadata_url}"\n'
        f'client_id = "{provider.client_id}"\n'
        f'client_secret_env = "{SECRET_ENV}"\n'
        f'cookie_secret_env = "{COOKIE_ENV}"\n'
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'groups_claim = "groups"\n'
        'scopes = "openid email profile groups"\n', encoding="utf-8")
    access = folder / "access.yaml"
    access.write_text(ACCESS_YAML, encoding="utf-8")
    home = (folder / "home").resolve()
    log_path = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_")}
    env.update({SECRET_ENV: provider.client_secret, COOKIE_ENV: cookie_secret, "PYTHONUNBUFFERED": "1"})
    args = ("--auth", str(auth), "--access", str(access))
    with serve(ROOT / "configs", home, log_path, workers=1, args=args, env=env, port=port) as (url, _, _pid):
        yield App(url, home, log_path, (provider.client_secret, cookie_secret))


def sign_in(app: App, page, provider: Provider, email: str) -> None:
    """From the app's sign-in page through the provider's form and back, signed in as ``email``."""
    page.goto(app.url)
    page.get_by_role("button", name="Sign in").click()
    sign_in_on_provider(page, provider, email)
    page.wait_for_url(re.compile(re.escape(app.url)))
    page.get_by_text(f"Signed in as {email}").wait_for()
    settled(page)


def shows_sign_in_only(app: App, page) -> None:
    page.get_by_role("button", name="Sign in").wait_for()
    settled(page)
    html = app.snapshot(page)
    for inside in ("Credit risk scorecard", "Pricing what-if", "Notebooks you can run", "Signed in as", "Succeeded"):
        assert inside not in html, inside


def access_events(app: App, **filters):
    from livedocs_runner.records.access_log import read_access
    return read_access(Store(app.home), **filters)


def test_not_signed_in_no_page_of_the_app_shows_but_sign_in(browser, app):
    page = app.page(browser)
    for query in ("", "?notebook=credit_risk&threshold=0.4", "?run=0123456789ab",
                  "?compare=0123456789ab,ba9876543210", "?access=1"):  # one gate in front of every page
        page.goto(app.url + query)
        shows_sign_in_only(app, page)
    assert run_records(app.home) == []
    sent = app.sent_to("nobody signed in")
    assert b"Sign in" in sent and b"Credit risk scorecard" not in sent and b"loans_" not in sent


@pytest.fixture(scope="module")
def runner_page(browser, app, provider):
    """Ana (group risk: runner of credit_risk) signed in, having run credit_risk at threshold 0.45."""
    page = app.page(browser, RUNNER)
    sign_in(app, page, provider, RUNNER)
    page.goto(app.url + "?notebook=credit_risk&threshold=0.45")
    page.get_by_role("button", name="Run", exact=True).wait_for()
    settled(page)
    app.snapshot(page)
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"), timeout=RUN_MS)
    page.get_by_text("Succeeded").wait_for(timeout=RUN_MS)
    app.runs[RUNNER] = page.url.rsplit("=", 1)[1]
    return page


@pytest.mark.kernel  # uses the runner's run
def test_the_runner_signs_in_runs_and_the_record_says_who(app, runner_page):
    page, run_id = runner_page, app.runs[RUNNER]
    metrics = metrics_of(page, tiles=4)
    assert list(metrics) == ["Applications", "Approval rate", "Default rate", "Expected loss"]
    page.get_by_text(f"Run {run_id} · by {RUNNER} via app").wait_for()
    app.snapshot(page)
    record = Store(app.home).get(run_id)
    assert (record.status, record.user, record.auth, record.trigger) == ("succeeded", RUNNER, "oidc", "app")
    assert record.parameters["threshold"] == 0.45
    assert page.get_by_label("Your name").count() == 0  # identity comes from the token only

    page.goto(app.url)  # the catalog lists what ana may see: credit_risk, not pricing_whatif
    page.get_by_text("Credit risk scorecard").first.wait_for()
    settled(page)
    assert "Pricing what-if" not in app.snapshot(page)
    started = [e for e in access_events(app, user=RUNNER) if e.action == "run"]
    assert len(started) == 1 and run_id in started[0].detail and started[0].auth == "oidc"
    assert any(e.action == "sign-in" for e in access_events(app, user=RUNNER))


@pytest.mark.kernel  # uses the runner's run
def test_the_viewer_sees_results_but_cannot_run(browser, app, provider, runner_page):
    run_id = app.runs[RUNNER]
    page = app.page(browser, VIEWER)
    sign_in(app, page, provider, VIEWER)
    page.get_by_text("Credit risk scorecard").first.wait_for()

    page.goto(f"{app.url}?run={run_id}")
    page.get_by_text("Succeeded").wait_for()
    assert list(metrics_of(page, tiles=4)) == ["Applications", "Approval rate", "Default rate", "Expected loss"]
    page.get_by_text(f"Run {run_id} · by {RUNNER} via app").wait_for()
    app.snapshot(page)
    for button in ("Rerun exactly", "Rerun with today's notebook", "Cancel"):
        assert page.get_by_role("button", name=button).count() == 0, button

    before = len(access_events(app, user=VIEWER, action="denied"))
    page.goto(f"{app.url}?notebook=credit_risk&threshold=0.4")  # a link with values: an attempt to run them
    page.get_by_text("You do not have access to run").wait_for()
    settled(page)
    app.snapshot(page)
    for button in ("Run", "Run anyway", "Run all"):
        assert page.get_by_role("button", name=button, exact=True).count() == 0, button
    denied = access_events(app, user=VIEWER, action="denied")
    assert len(denied) == before + 1
    assert (denied[0].target, denied[0].auth) == ("notebook credit_risk", "oidc")
    assert "run credit_risk" in denied[0].detail and denied[0].address
    assert [r["id"] for r in run_records(app.home)] == [run_id]  # nothing ran
    # no file picker: the data folder's listing never reached the viewer's browser (it did reach the runner's)
    unused = b"2024 Q3"  # the picker's label of a quarterly file no run here reads (loans_2024Q3.csv)
    assert unused in app.sent_to(RUNNER) and unused not in app.sent_to(VIEWER)


@pytest.mark.kernel  # uses the runner's run
def test_someone_without_a_role_sees_neither_the_notebook_nor_its_runs(browser, app, provider, runner_page):
    run_id = app.runs[RUNNER]
    page = app.page(browser, NOBODY)
    sign_in(app, page, provider, NOBODY)
    page.get_by_text("You do not have access to any notebook here yet.").wait_for()
    html = app.snapshot(page)
    assert "Credit risk scorecard" not in html and "Pricing what-if" not in html

    for query, kind, name in ((f"?run={run_id}", "run", run_id), ("?notebook=credit_risk", "notebook", "credit_risk"),
                              ("?notebook=credit_risk&threshold=0.4", "notebook", "credit_risk"),
                              (f"?compare={run_id},{run_id}", "run", run_id),
                              (f"?diff={run_id},{run_id}", "run", run_id)):
        page.goto(app.url + query)
        page.get_by_text(f"no {kind} '{name}' here, or you do not have access to it.").first.wait_for()
        settled(page)
        html = app.snapshot(page)
        for secret_of_ana in ("Succeeded", RUNNER, "Approval rate", "Credit risk scorecard", "Applications"):
            assert secret_of_ana not in html, (query, secret_of_ana)
    denied = access_events(app, user=NOBODY, action="denied")
    assert {e.target for e in denied} >= {f"run {run_id}", "notebook credit_risk"}
    sent = app.sent_to(NOBODY)  # not in the page, nor anywhere in what the server sent
    for secret_of_ana in (RUNNER.encode(), b"Approval rate", b"Credit risk scorecard", b"loans_"):
        assert secret_of_ana not in sent, secret_of_ana

    # the same answer as for a run that does not exist: the app does not say which runs there are
    page.goto(f"{app.url}?run=0123456789ab")
    page.get_by_text("no run '0123456789ab' here, or you do not have access to it.").wait_for()


@pytest.mark.kernel  # uses the runner's run
def test_signing_out_ends_the_session(app, provider, runner_page):
    page = runner_page
    page.goto(app.url)
    page.get_by_text(f"Signed in as {RUNNER}").wait_for()
    settled(page)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(provider.issuer) + r"/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(re.compile(re.escape(app.url)))
    shows_sign_in_only(app, page)
    page.goto(f"{app.url}?run={app.runs[RUNNER]}")
    shows_sign_in_only(app, page)
    assert [e.action for e in access_events(app, user=RUNNER) if e.action in ("sign-in", "sign-out")][0] == "sign-out"

    sign_in(app, page, provider, VIEWER)  # the same browser, someone else: nothing of ana's session is left
    page.goto(app.url + "?notebook=credit_risk")
    page.get_by_text("You do not have access to run").wait_for()
    settled(page)
    assert page.get_by_text(f"Signed in as {RUNNER}").count() == 0
    assert page.get_by_role("button", name="Run", exact=True).count() == 0


def test_the_client_secret_is_in_no_page_record_or_log_line(app, provider):
    """Last: everything the app showed, stored and logged during this module, searched for both secrets."""
    assert app.seen, "no page was captured"
    [secrets_file] = app.home.rglob("secrets.toml")  # where `livedocs app` hands them to Streamlit
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert provider.client_secret in secrets_file.read_text(encoding="utf-8")  # the search is for the real value
    assert any(where.startswith("websocket") for where, _ in app.seen)  # what Streamlit sent, not only the DOM
    places = [*app.seen, (f"server log {app.log}", app.log.read_bytes())]
    places += [(str(path), path.read_bytes()) for path in sorted(app.home.rglob("*"))
               if path.is_file() and path != secrets_file]
    assert any(str(app.home / "runs.db") == where for where, _ in places)
    for secret in app.secrets:
        leaks = [where for where, content in places if secret.encode() in content]
        assert leaks == [], f"a secret appears in {leaks}"
    assert provider.client_secret.encode() not in provider.log.read_bytes()
