"""Sign-in, roles and the access log in the web app, through streamlit.testing.v1.AppTest.

AppTest cannot present request headers or a client address (``st.context.headers``/``ip_address`` come from
the session's client, which AppTest does not have): proxy mode is driven through the one seam
``livedocs_ui.identity.request`` (headers, peer address), and the core's real ``identity_from_proxy`` decides.
OpenID Connect mode uses AppTest's own ``user`` (what ``st.user`` holds after a sign-in). The real server
with real headers is tests/test_browser_proxy_auth.py; the real provider is the OIDC browser test.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from .test_app import APP, ROOT, AppTest  # AppTest imported there, keeping the kernels' MPLBACKEND
from .test_app import app, keep_main_module, shown, texts  # noqa: F401  (keep_main_module: an autouse fixture)

from livedocs_runner.records.store import RunRecord, Store

CREDIT = ROOT / "configs" / "credit_risk.yaml"
PRICING = ROOT / "configs" / "pricing_whatif.yaml"
RUNNER, VIEWER, ADMIN, NOBODY = "runner@example.com", "viewer@example.com", "admin@example.com", "nobody@example.com"
ACCESS = f"""\
rules:
  - configs: [credit_risk]
    users: [{RUNNER}]
    role: runner
  - configs: [credit_risk]
    users: [{VIEWER}]
    role: viewer
  - configs: "*"
    users: [{ADMIN}]
    role: admin
"""
PROXY = "10.1.2.3"  # inside the trusted network below


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(ROOT / "configs"))
    monkeypatch.setenv("LIVEDOCS_HOME", str(home))
    monkeypatch.setenv("LIVEDOCS_WORKERS", "1")
    monkeypatch.setenv("LIVEDOCS_USER", "tester")
    for name in ("LIVEDOCS_AUTH", "LIVEDOCS_AUTH_HEADER", "LIVEDOCS_TRUSTED_PROXY", "LIVEDOCS_ACCESS",
                 "LIVEDOCS_AUTH_GROUPS_HEADER"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def proxy(home, tmp_path, monkeypatch):
    """Proxy mode with the access file above; ``proxy(user, address)`` sets who the next request is."""
    access = tmp_path / "access.yaml"
    access.write_text(ACCESS, encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_AUTH_HEADER", "X-Forwarded-Email")
    monkeypatch.setenv("LIVEDOCS_TRUSTED_PROXY", "10.0.0.0/8")
    monkeypatch.setenv("LIVEDOCS_ACCESS", str(access))
    if str(APP.parent) not in sys.path:
        sys.path.insert(0, str(APP.parent))  # as the app script does
    import livedocs_ui.identity as identity  # the app's own module object (AppTest runs the script in-process)

    def present(user: str | None, address: str | None = PROXY, **headers: str) -> None:
        sent = {**({"X-Forwarded-Email": user} if user is not None else {}), **headers}
        monkeypatch.setattr(identity, "request", lambda: (sent, address))

    return present


@pytest.fixture
def oidc(home, tmp_path, monkeypatch):
    auth = tmp_path / "auth.yaml"
    auth.write_text("server_metadata_url: http://127.0.0.1:9/.well-known/openid-configuration\n"
                    "client_id: livedocs\n"
                    f"client_secret: {'s' * 40}\n"
                    f"cookie_secret: {'c' * 40}\n"
                    "redirect_uri: http://localhost:8501/oauth2callback\n", encoding="utf-8")
    auth.chmod(0o600)
    access = tmp_path / "access.yaml"
    access.write_text(ACCESS, encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_AUTH", str(auth))
    monkeypatch.setenv("LIVEDOCS_ACCESS", str(access))
    return home


def everything(at: AppTest) -> str:
    parts = [*texts(at.title), *texts(at.subheader), *texts(at.markdown), *texts(at.caption), *texts(at.error),
             *texts(at.info), *texts(at.warning), *(shown(b.label) for b in at.button)]
    return "\n".join(parts)


def buttons(at: AppTest) -> list[str]:
    return [shown(b.label) for b in at.button]


def add_run(home: Path, config: Path = CREDIT, user: str = "someone", scenario: str = "baseline") -> RunRecord:
    """A finished run of ``config`` in the store (no kernel needed to check who may see it)."""
    return Store(home).add(RunRecord(
        id=uuid.uuid4().hex[:12], status="succeeded", notebook=str((ROOT / "notebooks" / "credit_risk.ipynb").resolve()),
        notebook_sha256="0" * 64, config=str(config.resolve()), title="Credit risk scorecard", scenario=scenario,
        user=user, trigger="cli", parameters={"threshold": 0.5, "data_file": str(ROOT / "data" / "loans_2026Q3.csv")},
        metrics={"approval_rate": 0.5}))


def access_log(home: Path, **filters):
    from livedocs_runner.records.access_log import read_access
    return read_access(Store(home), **filters)


# --- no sign-in: today's app ---------------------------------------------------------------------------

def test_without_sign_in_the_name_field_stays_and_says_unverified(home):
    at = app()
    assert at.text_input(key="user").value == "tester"
    assert "Not signed in — runs are recorded as tester (unverified)" in texts(at.caption)
    assert "Access log" not in buttons(at) and "Sign out" not in buttons(at)
    assert texts(at.subheader) == ["Credit risk scorecard", "Credit risk scorecard (R)", "Pricing what-if"]


# --- behind a proxy ---------------------------------------------------------------------------------

def test_proxy_without_headers_is_refused(home, monkeypatch, tmp_path):
    """The real seam in AppTest: no client, so no headers and no address: refused, nothing of the app shown."""
    monkeypatch.setenv("LIVEDOCS_AUTH_HEADER", "X-Forwarded-Email")
    monkeypatch.setenv("LIVEDOCS_TRUSTED_PROXY", "10.0.0.0/8")
    (tmp_path / "access.yaml").write_text(ACCESS, encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_ACCESS", str(tmp_path / "access.yaml"))
    at = app()
    assert not at.exception
    assert any(e.startswith("You do not have access to this app") for e in texts(at.error))
    assert not at.subheader and not at.sidebar.button


def test_a_user_header_sent_twice_is_not_believed(proxy, home):
    """Streamlit keeps every value of a repeated header; the app hands them all to the core, which refuses."""
    proxy(None, PROXY, **{"x-forwarded-email": [ADMIN, RUNNER]})
    at = app()
    assert any(e.startswith("You do not have access to this app") for e in texts(at.error))
    [entry] = access_log(home, action="denied")
    assert entry.user == f"{ADMIN},{RUNNER}" and "not verified" in entry.detail


@pytest.mark.parametrize("user, address, why", [
    (RUNNER, "127.0.0.1", "did not come through a trusted proxy"),  # the header from an untrusted address
    (RUNNER, None, "did not come through a trusted proxy"),
    ("", PROXY, "no usable X-Forwarded-Email"),
    (None, PROXY, "no usable X-Forwarded-Email"),
])
def test_proxy_header_believed_only_from_the_trusted_proxy(proxy, home, user, address, why):
    proxy(user, address)
    at = app(notebook="credit_risk")
    [error] = texts(at.error)
    assert error.startswith("You do not have access to this app") and why in error
    assert not at.subheader and not at.slider and "Run" not in buttons(at)
    [entry] = access_log(home, action="denied")
    assert (entry.auth, entry.target, entry.address) == ("proxy", "app", address)
    assert app(notebook="credit_risk").error  # a second session: refused again (and logged again)


def test_a_forwarding_header_makes_the_address_untrustworthy(proxy, home, monkeypatch):
    """Uvicorn rewrites the peer from X-Forwarded-For unless FORWARDED_ALLOW_IPS is empty: refuse then."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    for header in ("X-Forwarded-For", "forwarded"):
        proxy(RUNNER, PROXY, **{header: PROXY})
        assert "forwarding header" in texts(app().error)[0]
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")  # what `livedocs app` sets: the peer is the real one
    assert texts(app().subheader) == ["Credit risk scorecard"]


def test_runner_sees_only_their_notebook_and_runs_it(proxy, home):
    proxy(RUNNER)
    at = app()
    assert texts(at.subheader) == ["Credit risk scorecard"]  # pricing_whatif: no role, not listed
    assert [shown(b.label) for b in at.sidebar.button] == ["All notebooks", "Credit risk scorecard"]
    assert f"Signed in as {RUNNER}" in texts(at.sidebar.markdown)
    assert not at.sidebar.text_input  # no "Your name": the name is the proxy's
    form = app(notebook="credit_risk")
    assert form.button(key="run:credit_risk") and form.selectbox(key="field:credit_risk:data_file").options
    entries = access_log(home, action="sign-in")  # two sessions (AppTest runs), one sign-in each
    assert [(e.user, e.auth, e.address, e.target) for e in entries] == [(RUNNER, "proxy", PROXY, "app")] * 2


def test_sign_in_is_logged_once_per_session(proxy, home):
    proxy(RUNNER)
    at = app()
    at.run()
    at.button(key="open:credit_risk").click().run()
    assert len(access_log(home, action="sign-in")) == 1


def test_viewer_sees_results_but_cannot_run_and_a_run_link_is_refused_and_logged(proxy, home):
    run = add_run(home)
    proxy(VIEWER)
    at = app(notebook="credit_risk", threshold="0.4")
    assert texts(at.title) == ["Credit risk scorecard"]
    assert any(i.startswith("You do not have access to run Credit risk scorecard") for i in texts(at.info))
    assert "Run" not in buttons(at) and not at.slider  # no form
    pickers = [s for s in at.selectbox if not s.key.startswith("h-")]  # the history's own filters aside
    assert not pickers and not any("loans_" in str(o) for s in at.selectbox for o in s.options)  # no data folder listing
    assert run.id in set(at.dataframe[0].value["run"])  # the history
    assert "Prepare audit bundle" not in buttons(at)  # evidence export: admins
    [denied] = access_log(home, action="denied")
    assert (denied.user, denied.target, denied.address) == (VIEWER, "notebook credit_risk", PROXY)
    assert "a link with values" in denied.detail

    page = app(run=run.id)
    assert page.metric and "Share and go on" in texts(page.subheader)
    assert "Rerun exactly" not in buttons(page)  # no Reproduce panel: it runs, and its pickers list files
    assert not any(s.key and s.key.startswith("reproduce-file") for s in page.selectbox)
    assert page.button(key="edit").disabled


def _crafted_rerun(apps: str, run_id: str) -> None:
    """A session that calls the rerun action directly, as a forged widget event would."""
    import sys

    import streamlit as st

    sys.path.insert(0, apps)
    from livedocs_ui import reproduce

    from livedocs_runner.rerun import RerunOptions

    try:
        reproduce.submit_rerun(run_id, RerunOptions())
        st.write("queued")
    except Exception as exc:  # noqa: BLE001
        st.error(str(exc))


def test_direct_rerun_by_a_viewer_is_refused_without_any_button(proxy, home):
    """The action itself checks the role, not only the page that draws its button."""
    run = add_run(home)
    proxy(VIEWER)
    at = AppTest.from_function(_crafted_rerun, args=(str(APP.parent), run.id), default_timeout=60).run()
    assert texts(at.error) == ["You do not have access to rerun credit_risk: that needs the runner role, yours is "
                               "viewer. Ask an admin of this app for it."]
    assert [r.id for r in Store(home).list(limit=10)] == [run.id]  # nothing queued
    [denied] = access_log(home, action="denied")
    assert (denied.user, denied.target) == (VIEWER, f"run {run.id}") and denied.detail.startswith("rerun credit_risk")


def test_no_role_sees_no_notebook_and_no_run(proxy, home):
    run = add_run(home)
    proxy(NOBODY)
    at = app()
    assert not at.subheader
    assert texts(at.info) == ["You do not have access to any notebook here yet. Ask an admin of this app for a role."]
    hidden, unknown = app(run=run.id), app(run="0123456789ab")
    assert texts(hidden.error) == [f"Error: no run '{run.id}' here, or you do not have access to it."]
    assert texts(unknown.error) == ["Error: no run '0123456789ab' here, or you do not have access to it."]
    assert not hidden.metric and "Credit" not in everything(hidden)
    notebook, missing = app(notebook="credit_risk"), app(notebook="no_such")
    assert texts(notebook.error) == ["Error: no notebook 'credit_risk' here, or you do not have access to it."]
    assert texts(missing.error) == ["Error: no notebook 'no_such' here, or you do not have access to it."]
    assert not notebook.slider and "Credit risk scorecard" not in everything(notebook)
    for page in (app(compare=f"{run.id},{run.id}"), app(diff=f"{run.id},{run.id}")):
        assert texts(page.error) == [f"Error: no run '{run.id}' here, or you do not have access to it."]
    targets = {e.target for e in access_log(home, action="denied")}
    assert {f"run {run.id}", "notebook credit_risk"} <= targets
    assert "notebook no_such" not in targets  # not there: nothing was refused


def test_a_viewer_of_one_notebook_does_not_see_another_notebooks_run(proxy, home):
    other = add_run(home, config=PRICING)
    proxy(VIEWER)
    assert texts(app(run=other.id).error) == [f"Error: no run '{other.id}' here, or you do not have access to it."]
    mine = add_run(home)
    page = app(compare=f"{mine.id},{other.id}")
    assert texts(page.error) == [f"Error: no run '{other.id}' here, or you do not have access to it."]


def test_admin_sees_the_access_log_and_the_runner_does_not(proxy, home):
    proxy(RUNNER)
    runner = app(access="1")
    assert "Access log" not in [shown(b.label) for b in runner.sidebar.button]
    assert texts(runner.error) == ["Error: You do not have access to the access log: it needs the admin role. "
                                   "Ask an admin of this app."]
    assert not runner.dataframe
    proxy(ADMIN)
    admin = app()
    assert "Access log" in [shown(b.label) for b in admin.sidebar.button]
    admin.button(key="nav-access").click().run()
    assert admin.query_params["access"] == "1" and texts(admin.title) == ["Access log"]
    table = admin.dataframe[0].value
    assert {"sign-in", "denied"} <= set(table["action"])
    assert set(table["user"]) >= {RUNNER, ADMIN}
    admin.selectbox(key="access-action").set_value("denied").run()
    assert set(admin.dataframe[0].value["action"]) == {"denied"}
    admin.text_input(key="access-user").set_value(RUNNER).run()
    assert set(admin.dataframe[0].value["user"]) == {RUNNER}
    admin.text_input(key="access-user").set_value(ADMIN).run()
    assert not admin.dataframe and "No entries match these filters." in texts(admin.info)
    admin.selectbox(key="access-action").set_value("all")
    admin.date_input(key="access-dates").set_value((date(2020, 1, 1), date(2020, 1, 2))).run()
    assert not admin.dataframe  # nothing happened then
    admin.date_input(key="access-dates").set_value((datetime.now(UTC).date(),) * 2).run()
    assert set(admin.dataframe[0].value["action"]) == {"sign-in"}  # today: the admin's own sign-in


def test_the_access_log_shows_hostile_names_as_text(proxy, home):
    hostile = "[x](http://evil.example) **b** <img src=x onerror=alert(1)> \x1b[31m in /srv/secret/file"
    proxy(hostile)  # a name the proxy vouches for, with no role
    app()
    proxy(ADMIN)
    admin = app(access="1")
    row = admin.dataframe[0].value
    cell = next(u for u in row["user"] if "evil" in u)
    assert "\x1b" not in cell and "/srv/secret" not in cell  # no control characters, no server paths
    assert cell.startswith("[x](http://evil.example) **b** <img src=x onerror=alert(1)>")  # a table cell: plain text


def test_admin_can_export_evidence(proxy, home):
    run = add_run(home)
    proxy(ADMIN)
    at = app(notebook="credit_risk")
    at.multiselect(key="h-pick:credit_risk").set_value([run.id]).run()
    assert "Prepare audit bundle" in buttons(at)


def test_a_broken_access_file_closes_the_app(proxy, home, tmp_path):
    proxy(ADMIN)
    (tmp_path / "access.yaml").write_text("rules:\n  - configs: [credit_risk]\n    users: [x]\n    role: owner\n")
    at = app()
    assert any("unknown role 'owner'" in e for e in texts(at.error))
    assert not at.subheader and not at.sidebar.button


# --- a config's own access: block ---------------------------------------------------------------------

DAN = "dan@example.com"  # named by pricing_whatif's own block only
OWN_BLOCK = f"access:\n  - users: [{DAN}]\n    role: runner\n  - users: [{VIEWER}, {RUNNER}]\n    role: viewer\n"


def configs_with_own_rules(folder: Path) -> Path:
    """credit_risk and pricing_whatif, the latter with ``OWN_BLOCK`` at its end; notebooks/ and data/ linked."""
    configs = folder / "configs"
    configs.mkdir()
    for name in ("credit_risk.yaml", "pricing_whatif.yaml"):
        shutil.copy(ROOT / "configs" / name, configs / name)
    with (configs / "pricing_whatif.yaml").open("a", encoding="utf-8") as out:
        out.write(OWN_BLOCK)
    for name in ("notebooks", "data"):
        (folder / name).symlink_to(ROOT / name)
    return configs


def test_a_configs_own_access_block_grants_and_the_rest_stays_denied(proxy, home, tmp_path, monkeypatch):
    """The access file and pricing_whatif's block add up; no rule from either: not listed, not reachable."""
    configs = configs_with_own_rules(tmp_path)
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    proxy(DAN)
    at = app()
    assert texts(at.subheader) == ["Pricing what-if"]
    assert app(notebook="pricing_whatif").button(key="run:pricing_whatif")  # runner by the block
    hidden = app(notebook="credit_risk")
    assert texts(hidden.error) == ["Error: no notebook 'credit_risk' here, or you do not have access to it."]
    proxy(VIEWER)  # viewer of credit_risk by the file, of pricing_whatif by the block
    assert texts(app().subheader) == ["Credit risk scorecard", "Pricing what-if"]
    viewer = app(notebook="pricing_whatif")
    assert "Run" not in buttons(viewer) and any(i.startswith("You do not have access to run") for i in texts(viewer.info))
    proxy(RUNNER)  # runner of credit_risk by the file: the block's viewer role cannot lower it, and adds pricing_whatif
    assert app(notebook="credit_risk").button(key="run:credit_risk")
    assert "Run" not in buttons(app(notebook="pricing_whatif"))
    proxy(NOBODY)
    assert not app().subheader
    proxy(ADMIN)  # the Access page lists every rule and where it is written
    rules = app(access="1").table[0].value
    line = (ROOT / "configs" / "pricing_whatif.yaml").read_text().count("\n") + 2
    assert (rules.loc["pricing_whatif", "users"].tolist(), rules.loc["pricing_whatif", "written in"].tolist()) == (
        [DAN, f"{RUNNER}, {VIEWER}"], [f"pricing_whatif.yaml, line {line}", f"pricing_whatif.yaml, line {line + 2}"])
    assert rules.loc["*", "role"] == "admin" and rules.loc["*", "written in"] == "access.yaml, line 8"


# --- OpenID Connect ---------------------------------------------------------------------------------

def test_oidc_signed_out_sees_only_the_sign_in_page(oidc):
    run = add_run(oidc)
    for query in ({}, {"notebook": "credit_risk"}, {"run": run.id}, {"compare": f"{run.id},{run.id}"},
                  {"access": "1"}):
        at = app({"is_logged_in": False}, **query)
        assert not at.exception
        assert buttons(at) == ["Sign in"], query
        assert not at.subheader and not at.metric and not at.dataframe and not at.sidebar.button
        assert not at.text_input  # no "Your name"


def test_oidc_signed_in_user_is_the_tokens_and_signs_out(oidc):
    at = app({"is_logged_in": True, "email": RUNNER, "name": "R"})
    assert f"Signed in as {RUNNER}" in texts(at.sidebar.markdown)
    assert not at.sidebar.text_input
    assert texts(at.subheader) == ["Credit risk scorecard"]
    at.sidebar.button(key="sign-out").click().run()
    assert buttons(at) == ["Sign in"]
    actions = [(e.action, e.user, e.auth) for e in reversed(access_log(oidc))]
    assert actions == [("sign-in", RUNNER, "oidc"), ("sign-out", RUNNER, "oidc")]


def test_oidc_token_without_the_user_claim_is_refused(oidc):
    at = app({"is_logged_in": True, "sub": "abc"})
    assert any("has no usable 'email' claim" in e for e in texts(at.error))
    assert buttons(at) == ["Sign out"] and not at.subheader


# --- runs started from the app, and who may cancel them (real kernel) --------------------------------

@pytest.mark.kernel
def test_runs_are_recorded_as_the_verified_user_and_cancel_is_own_or_admin(proxy, home, tmp_path, monkeypatch):
    import shutil

    from .conftest import until

    configs = tmp_path / "configs"
    configs.mkdir()
    shutil.copy(ROOT / "tests" / "data" / "notebooks" / "slow.ipynb", configs / "slow.ipynb")
    (configs / "slow.yaml").write_text("notebook: slow.ipynb\nscenarios:\n  long: {seconds: 600}\n", encoding="utf-8")
    (tmp_path / "access.yaml").write_text(
        f"rules:\n  - {{configs: [slow], users: [{RUNNER}, other@example.com], role: runner}}\n"
        f"  - {{configs: [slow], users: [{VIEWER}], role: viewer}}\n"
        f"  - {{configs: '*', users: [{ADMIN}], role: admin}}\n", encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    proxy(RUNNER)
    at = app(notebook="slow")
    at.button(key="run:slow").click().run()
    run_id = at.query_params["run"]
    try:
        record = Store(home).get(run_id)
        assert (record.user, record.auth, record.trigger) == (RUNNER, "proxy", "app")
        [started] = access_log(home, action="run")
        assert (started.user, started.auth, started.address, started.target) == (RUNNER, "proxy", PROXY, "notebook slow")
        assert run_id in started.detail
        for user in (VIEWER, "other@example.com"):  # a viewer, and a runner whose run it is not
            proxy(user)
            assert not [b for b in app(run=run_id).button if b.key == f"cancel:{run_id}"], user
        proxy(ADMIN)
        assert app(run=run_id).button(key=f"cancel:{run_id}")  # an admin may cancel anyone's
        proxy(RUNNER)
        page = app(run=run_id)
        page.button(key=f"cancel:{run_id}").click().run()
        until(lambda: Store(home).get(run_id).status == "cancelled", "the run to be cancelled", timeout=240)
        [cancel] = access_log(home, action="cancel")
        assert (cancel.user, cancel.address) == (RUNNER, PROXY) and run_id in cancel.detail
    finally:
        import livedocs_ui.services as services
        services.services().queue.cancel(run_id)


def test_oidc_groups_claim_gives_the_role_and_names_stay_text(home, tmp_path, monkeypatch):
    secret = "client-secret-" + "x" * 30
    auth = tmp_path / "auth.yaml"
    auth.write_text("server_metadata_url: http://127.0.0.1:9/.well-known/openid-configuration\n"
                    f"client_id: livedocs\nclient_secret: {secret}\ncookie_secret: {'c' * 40}\n"
                    "redirect_uri: http://localhost:8501/oauth2callback\ngroups_claim: groups\n", encoding="utf-8")
    auth.chmod(0o600)
    (tmp_path / "access.yaml").write_text("rules:\n  - {configs: [credit_*], groups: [risk-team], role: runner}\n",
                                          encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_AUTH", str(auth))
    monkeypatch.setenv("LIVEDOCS_ACCESS", str(tmp_path / "access.yaml"))
    name = "[x](javascript:alert(1))**@example.com"
    at = app({"is_logged_in": True, "email": name, "groups": ["risk-team"]}, notebook="credit_risk")
    assert at.button(key="run:credit_risk")  # the role comes from the token's group
    [signed] = [m.value for m in at.sidebar.markdown if "Signed in as" in shown(m.value)]
    assert shown(signed) == f"Signed in as {name}" and "\\[x\\]" in signed  # every Markdown character escaped
    outsider = app({"is_logged_in": True, "email": "o@example.com", "groups": ["sales"]}, notebook="credit_risk")
    assert texts(outsider.error) == ["Error: no notebook 'credit_risk' here, or you do not have access to it."]
    for page in (at, outsider, app({"is_logged_in": False})):  # the client secret is on no page
        assert secret not in everything(page) and not any(secret in str(c.value) for c in page.code)


@pytest.mark.kernel
def test_a_rerun_from_the_app_is_recorded_as_the_verified_user(proxy, home, tmp_path, monkeypatch):
    from livedocs_runner.batch import run_batch
    from livedocs_runner.execute import RunOptions
    from livedocs_runner.plan import plan_runs

    from .conftest import until

    configs = ROOT / "tests" / "data" / "configs"
    (tmp_path / "access.yaml").write_text(f"rules:\n  - {{configs: [simple], users: [{RUNNER}], role: runner}}\n"
                                          f"  - {{configs: [simple], users: [{VIEWER}], role: viewer}}\n",
                                          encoding="utf-8")
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    [original] = run_batch(plan_runs(configs / "simple.yaml", scenarios=["one"]), Store(home),
                           options=RunOptions(trigger="cli", user="cli-user"))
    assert original.status == "succeeded", original.error
    proxy(VIEWER)
    assert "Rerun exactly" not in buttons(app(run=original.id))
    proxy(RUNNER)
    page = app(run=original.id)
    page.button(key=f"reproduce-exact:{original.id}").click().run()
    rerun_id = page.query_params["run"]
    rerun = until(lambda: (r := Store(home).get(rerun_id)).status in ("succeeded", "failed") and r,
                  "the rerun to finish", timeout=240)
    assert (rerun.status, rerun.rerun_of, rerun.user, rerun.auth) == ("succeeded", original.id, RUNNER, "proxy")
    [logged] = access_log(home, action="rerun")
    assert (logged.user, logged.address, logged.target) == (RUNNER, PROXY, "notebook simple")
    assert rerun_id in logged.detail and original.id in logged.detail


def test_the_history_page_answers_by_role(proxy, home):
    """``?history=NAME``: nobody without a role learns the notebook exists; a viewer sees the runs but may
    not run them again or export evidence."""
    run = add_run(home)
    proxy(NOBODY)
    hidden, missing = app(history="credit_risk"), app(history="no_such")
    assert texts(hidden.error) == ["Error: no notebook 'credit_risk' here, or you do not have access to it."]
    assert texts(missing.error) == ["Error: no notebook 'no_such' here, or you do not have access to it."]
    assert run.id not in everything(hidden) and not hidden.dataframe
    assert "notebook credit_risk" in {e.target for e in access_log(home, action="denied")}
    proxy(VIEWER)
    at = app(history="credit_risk")
    assert not at.error and at.dataframe and run.id in at.dataframe[0].value.to_string()
    at.multiselect(key="h-pick:credit_risk").select(run.id).run()
    assert at.button(key="h-again:credit_risk").disabled and at.button(key="h-edit:credit_risk").disabled
    assert "Prepare audit bundle" not in buttons(at)
    proxy(RUNNER)
    at = app(history="credit_risk")
    at.multiselect(key="h-pick:credit_risk").select(run.id).run()
    assert not at.button(key="h-again:credit_risk").disabled


# --- no numbers about runs you may not see ------------------------------------------------------------

def bare_run(home: Path) -> RunRecord:
    """A run of the credit_risk notebook without a config (from the CLI): nobody's to see with roles on."""
    return Store(home).add(RunRecord(
        id=uuid.uuid4().hex[:12], status="succeeded", notebook=str((ROOT / "notebooks" / "credit_risk.ipynb").resolve()),
        notebook_sha256="0" * 64, config=None, title="credit_risk", scenario="default", user="someone", trigger="cli",
        parameters={}, metrics={}))


def test_the_catalogs_run_count_leaves_out_runs_you_may_not_see(proxy, home):
    add_run(home)
    add_run(home, config=PRICING)  # the same notebook through a config the runner has no role on
    bare_run(home)
    proxy(RUNNER)
    assert "1 runs so far" in " ".join(texts(app().caption))
    proxy(ADMIN)  # admin of every config; a run without a config is still nobody's
    assert "2 runs so far" in " ".join(texts(app().caption))


@pytest.mark.kernel
def test_queue_counts_and_places_leave_out_runs_you_may_not_see(proxy, home):
    import livedocs_ui.services as ui  # the app's own module object: its queue

    from livedocs_runner.execute import RunOptions
    from livedocs_runner.plan import plan_runs
    from tests.conftest import until

    proxy(RUNNER)
    app()
    queue = ui.services().queue  # one worker (LIVEDOCS_WORKERS=1)
    slow = ROOT / "tests" / "data" / "notebooks" / "slow.ipynb"
    hidden = [queue.submit(plan_runs(slow, overrides={"seconds": "600"})[0], RunOptions(trigger="cli", user=RUNNER))
              for _ in range(2)]  # no config: nobody's to see (the same user: the queue's fair order keeps them ahead)
    mine = queue.submit(plan_runs(CREDIT, scenarios=["baseline"])[0], RunOptions(trigger="app", user=RUNNER, auth="proxy"))
    try:
        until(lambda: queue.status(hidden[0]).status == "running", "the first hidden run to start")
        assert queue.status(mine).place == 2  # one hidden run waits ahead of it
        assert "0 running · 1 waiting · 1 at a time" in texts(app().sidebar.caption)
        page = app(run=mine)
        assert "Waiting for a free worker: number 1 among the waiting runs you can see (1 run at a time)." in texts(page.info)
        proxy(NOBODY)
        assert "0 running · 0 waiting · 1 at a time" in texts(app().sidebar.caption)
    finally:
        for job in [mine, *hidden]:
            queue.cancel(job)


def test_a_cache_hit_names_its_original_only_to_who_may_open_it(proxy, home):
    """A run's cache key has no config in it: a run of credit_risk can reuse one of pricing_whatif's config."""
    import dataclasses

    original = add_run(home, config=PRICING)
    store = Store(home)
    hit = store.add(dataclasses.replace(add_run(home), id=uuid.uuid4().hex[:12], cache_of=original.id))
    proxy(VIEWER)  # viewer of credit_risk only
    page = app(run=hit.id)
    assert "Reused the result of an earlier run, which had exactly the same inputs." in texts(page.info)
    assert original.id not in everything(page)
    proxy(ADMIN)
    assert f"Reused the result of run {original.id}, which had exactly the same inputs." in texts(app(run=hit.id).info)


def test_a_config_whose_access_block_broke_grants_nothing(proxy, home, tmp_path, monkeypatch):
    """Edited while the app runs, a bad block makes the config fail to load: its rules no longer count."""
    configs = configs_with_own_rules(tmp_path)
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    proxy(DAN)
    assert texts(app().subheader) == ["Pricing what-if"]
    path = configs / "pricing_whatif.yaml"
    path.write_text(path.read_text().replace("role: runner", "role: owner"))
    assert not app().subheader
    assert texts(app(notebook="pricing_whatif").error) == [
        "Error: no notebook 'pricing_whatif' here, or you do not have access to it."]
    proxy(ADMIN)  # admin of "*" by the access file: sees why
    assert any("unknown role 'owner'" in e for e in texts(app().error))


def test_an_edited_access_file_or_config_counts_on_the_next_page_view(proxy, home, tmp_path, monkeypatch):
    """The role and the catalog are remembered between page views (no rehashing per call), never past a change
    of the access file or of a config file."""
    for part in ("configs", "notebooks", "data"):  # the configs name their notebook and data relative to themselves
        shutil.copytree(ROOT / part, tmp_path / "project" / part)
    configs = tmp_path / "project" / "configs"
    monkeypatch.setenv("LIVEDOCS_CONFIGS", str(configs))
    access = Path(os.environ["LIVEDOCS_ACCESS"])
    proxy(VIEWER)
    assert "run:credit_risk" not in [b.key for b in app(notebook="credit_risk").button]
    access.write_text(ACCESS.replace(f"users: [{VIEWER}]\n    role: viewer", f"users: [{VIEWER}]\n    role: runner"),
                      encoding="utf-8")
    os.utime(access, ns=(access.stat().st_atime_ns, access.stat().st_mtime_ns + 10**9))  # a new mtime, surely
    assert app(notebook="credit_risk").button(key="run:credit_risk")
    config = configs / "credit_risk.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("title: Credit risk scorecard",
                                                                 "title: Scorecard, edited"), encoding="utf-8")
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))
    assert texts(app(notebook="credit_risk").title) == ["Scorecard, edited"]
