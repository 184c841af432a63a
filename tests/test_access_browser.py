"""A config's own ``access:`` block in the real app and a real browser: `livedocs app` behind a (trusted) sign-in
proxy with no access file at all, so every role comes from the configs' blocks; who is named there sees and runs
that notebook, and nobody else reaches it (default-deny), whatever URL they type."""

from __future__ import annotations

import os

import pytest

from .test_app_auth import DAN, NOBODY, VIEWER, configs_with_own_rules
from .test_browser import browser, serve, settled  # noqa: F401  (browser: a fixture)
from .test_browser_proxy_auth import access_log, as_user

pytestmark = [pytest.mark.browser]


def test_a_configs_own_block_grants_and_denies(browser, tmp_path):  # noqa: F811 - browser first: skip before serving
    configs = configs_with_own_rules(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_")}
    args = ("--auth-header", "X-Forwarded-Email", "--trusted-proxy", "127.0.0.1/32,::1/128")
    with serve(configs, (tmp_path / "home").resolve(), tmp_path / "server.log", workers=1, args=args,
               env=env) as (url, home, _pid):
        runner = as_user(browser, DAN)  # runner of pricing_whatif by its block
        runner.goto(url)
        runner.get_by_role("button", name="Open").first.wait_for()
        settled(runner)
        assert runner.get_by_text("Pricing what-if").count() > 0
        assert runner.get_by_text("Credit risk scorecard").count() == 0  # no block, no file: nobody's
        runner.goto(url + "?notebook=pricing_whatif")
        runner.get_by_role("button", name="Run", exact=True).wait_for()

        viewer = as_user(browser, VIEWER)  # viewer of pricing_whatif by its block
        viewer.goto(url + "?notebook=pricing_whatif")
        viewer.get_by_text("You do not have access to run Pricing what-if").wait_for()
        settled(viewer)
        assert viewer.get_by_role("button", name="Run", exact=True).count() == 0

        nobody = as_user(browser, NOBODY)
        nobody.goto(url + "?notebook=pricing_whatif")
        nobody.get_by_text("no notebook 'pricing_whatif' here, or you do not have access to it.").wait_for()
        nobody.goto(url)
        nobody.get_by_text("You do not have access to any notebook here yet").wait_for()
        settled(nobody)
        assert nobody.get_by_text("Pricing what-if").count() == 0
        denied = {(e.user, e.target) for e in access_log(home, action="denied")}
        assert (NOBODY, "notebook pricing_whatif") in denied
