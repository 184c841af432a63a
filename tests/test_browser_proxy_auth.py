"""Behind a reverse proxy, in a real browser: `livedocs app --auth-header X-Forwarded-Email --trusted-proxy ...
--access ...` served, Chromium sending the header a sign-in proxy would set (Playwright's extra HTTP headers go
with every request, the app's WebSocket included). Who sees what, who may run, what is logged, and that the
header is not believed from an address outside --trusted-proxy.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import pytest

from livedocs_runner.records.store import Store

from .test_app_auth import ACCESS, ADMIN, NOBODY, RUNNER, VIEWER  # the same accounts and access file
from .test_browser import WAIT_MS, browser, serve, settled  # noqa: F401  (browser: a fixture)

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def serve_behind_proxy(tmp_path: Path, trusted: str):
    """``livedocs app`` in proxy mode on 127.0.0.1 (the browser connects from there); yields (url, home)."""
    home = (tmp_path / "home").resolve()
    access = tmp_path / "access.yaml"
    access.write_text(ACCESS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_")}
    args = ("--auth-header", "X-Forwarded-Email", "--trusted-proxy", trusted, "--access", str(access))
    with serve(ROOT / "configs", home, tmp_path / "server.log", workers=1, args=args, env=env) as (url, _, _pid):
        yield url, home


def as_user(browser, email: str, **headers: str):  # noqa: F811 - the browser fixture
    """A browser context whose every request carries the proxy's header for ``email``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200},
                                  extra_http_headers={"X-Forwarded-Email": email, **headers})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def access_log(home: Path, **filters):
    from livedocs_runner.records.access_log import read_access
    return read_access(Store(home), **filters)


@pytest.mark.kernel
def test_roles_behind_a_trusted_proxy(browser, tmp_path):  # noqa: F811 - browser first: skip before serving
    with serve_behind_proxy(tmp_path, "127.0.0.1/32,::1/128") as (url, home):
        # a runner: their notebook only, the form with Run; the run is recorded as them, via the proxy
        page = as_user(browser, RUNNER)
        page.goto(url)
        page.get_by_text(f"Signed in as {RUNNER}").wait_for()
        page.get_by_role("button", name="Open").first.wait_for()
        settled(page)
        assert page.get_by_text("Pricing what-if").count() == 0
        assert page.get_by_text("Your name").count() == 0
        page.goto(url + "?notebook=credit_risk&threshold=0.45")
        page.get_by_role("button", name="Run", exact=True).click()
        page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"))
        page.get_by_text("Succeeded").wait_for()
        run_id = page.url.rsplit("=", 1)[1]
        record = Store(home).get(run_id)
        assert (record.status, record.user, record.auth) == ("succeeded", RUNNER, "proxy")
        page.get_by_text(f"by {RUNNER} via app").wait_for()
        page.goto(url + "?access=1")
        page.get_by_text("You do not have access to the access log").wait_for()

        # a viewer: results and history, no Run button; a run link with values is refused and logged
        viewer = as_user(browser, VIEWER)
        viewer.goto(url + "?notebook=credit_risk&threshold=0.4")
        viewer.get_by_text("You do not have access to run Credit risk scorecard").wait_for()
        settled(viewer)
        assert viewer.get_by_role("button", name="Run", exact=True).count() == 0
        assert viewer.get_by_role("slider").count() == 0
        viewer.goto(url + f"?run={run_id}")
        viewer.get_by_text("Succeeded").wait_for()
        settled(viewer, 4)
        assert viewer.get_by_role("button", name="Rerun exactly").count() == 0

        # no role: no notebook in the catalog, and a run of it reads like one that does not exist
        nobody = as_user(browser, NOBODY)
        nobody.goto(url)
        nobody.get_by_text("You do not have access to any notebook here yet").wait_for()
        assert nobody.get_by_text("Credit risk scorecard").count() == 0
        nobody.goto(url + f"?run={run_id}")
        nobody.get_by_text(f"no run '{run_id}' here, or you do not have access to it.").wait_for()
        assert nobody.get_by_text("Succeeded").count() == 0

        # an admin: the Access page, with what happened above
        admin = as_user(browser, ADMIN)
        admin.goto(url)
        admin.get_by_role("button", name="Access log").click()
        admin.wait_for_url(re.compile(r"access=1"))
        admin.get_by_role("heading", name="Access log").wait_for()
        admin.get_by_test_id("stDataFrame").wait_for()

        log = access_log(home)
        runs = [e for e in log if e.action == "run"]
        assert [(e.user, e.auth, e.address) for e in runs] == [(RUNNER, "proxy", "127.0.0.1")]
        assert run_id in runs[0].detail
        denied = {(e.user, e.target) for e in log if e.action == "denied"}
        assert {(VIEWER, "notebook credit_risk"), (NOBODY, f"run {run_id}"), (RUNNER, "access log")} <= denied
        assert {e.user for e in log if e.action == "sign-in"} == {RUNNER, VIEWER, NOBODY, ADMIN}


def test_the_header_from_an_untrusted_address_is_refused(browser, tmp_path):  # noqa: F811
    """The proxy is said to be in 10.0.0.0/8; the browser connects from 127.0.0.1: its header is not believed,
    not even with an X-Forwarded-For that names a trusted address."""
    with serve_behind_proxy(tmp_path, "10.0.0.0/8") as (url, home):
        for headers in ({}, {"X-Forwarded-For": "10.1.2.3"}):
            page = as_user(browser, ADMIN, **headers)
            page.goto(url + "?notebook=credit_risk")
            page.get_by_text("You do not have access to this app").wait_for()
            settled(page)
            assert page.get_by_text("Credit risk scorecard").count() == 0
            assert page.get_by_role("button", name="Run", exact=True).count() == 0
            page.context.close()
        denied = access_log(home, action="denied")
        assert len(denied) == 2 and {e.address for e in denied} == {"127.0.0.1"}
        assert {e.auth for e in denied} == {"proxy"} and not access_log(home, action="sign-in")
