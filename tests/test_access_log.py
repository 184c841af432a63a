"""The access log: appended to the real store, read back filtered, and impossible to change."""

from __future__ import annotations

import contextlib
import sqlite3
import zipfile
from pathlib import Path

import pytest

from livedocs_runner.access import Identity
from livedocs_runner.errors import InputError
from livedocs_runner.records.access_log import ACTIONS, AccessEvent, append_access, log_access, read_access
from livedocs_runner.records.store import Store

ALICE = Identity("alice@example.com", "oidc", frozenset({"risk"}))
BOB = Identity("bob@example.com", "proxy")


def event(at: str, user: str = "alice@example.com", action: str = "run", **kw: str | None) -> AccessEvent:
    values = {"auth": "oidc", "target": "credit_risk", "address": "10.0.0.5", "detail": "", **kw}
    return AccessEvent(at=at, user=user, action=action, **values)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "home")


def test_events_read_back_newest_first_and_filtered(store: Store) -> None:
    events = [event("2026-11-20T09:00:00.000+00:00", action="sign-in"),
              event("2026-11-20T09:01:00.000+00:00", detail="run 3f2a9c1"),
              event("2026-11-21T10:00:00.000+00:00", user="bob@example.com", action="denied", auth="proxy",
                    target="hr_salaries", detail="needs viewer"),
              event("2026-11-22T08:00:00.000+00:00", action="cancel", address=None)]
    for item in events:
        append_access(store, item)
    assert read_access(store) == events[::-1]
    assert read_access(store, user="bob@example.com") == [events[2]]
    assert read_access(store, action="run") == [events[1]]
    assert read_access(store, since="2026-11-21") == [events[3], events[2]]
    assert read_access(store, until="2026-11-21") == [events[2], events[1], events[0]]  # a date includes the day
    assert read_access(store, until="2026-11-20T09:01:00") == [events[0]]
    assert read_access(store, since="2026-11-20T09:00:30", until="2026-11-21") == [events[2], events[1]]
    assert read_access(store, limit=2) == events[:1:-1]
    assert read_access(store, user="nobody") == []


def test_log_access_stamps_the_time_and_identity(store: Store) -> None:
    logged = log_access(store, BOB, "download", "runs/3f2a9c1/report.html", address="::1")
    assert (logged.user, logged.auth, logged.address) == ("bob@example.com", "proxy", "::1")
    assert logged.at.endswith("+00:00") and read_access(store) == [logged]


def test_every_action_is_accepted_and_others_refused(store: Store) -> None:
    for action in ACTIONS:
        log_access(store, ALICE, action, "credit_risk")
    assert [e.action for e in read_access(store)] == list(ACTIONS)[::-1]
    with pytest.raises(InputError, match="unknown access-log action 'delete'"):
        log_access(store, ALICE, "delete", "credit_risk")


def test_untrusted_text_is_kept_bounded_and_valid(store: Store) -> None:
    log_access(store, Identity("x" * 5000, "oidc"), "denied", "\udc80bad" + "t" * 900, detail="d" * 9000)
    got = read_access(store)[0]
    assert len(got.user) == 320 and got.user.endswith("...") and len(got.detail) == 2000
    assert got.target.startswith("?bad") and len(got.target) == 500


@pytest.mark.parametrize("statement", ["UPDATE access_log SET user = 'mallory'", "DELETE FROM access_log"])
def test_the_log_cannot_be_changed(store: Store, statement: str) -> None:
    log_access(store, ALICE, "sign-in", "app")
    with contextlib.closing(sqlite3.connect(store.db_path)) as db, pytest.raises(sqlite3.IntegrityError,
                                                                                  match="the access log is append-only"):
        db.execute(statement)
    assert [e.user for e in read_access(store)] == ["alice@example.com"]


def test_audit_bundle_carries_the_access_log(store: Store, tmp_path: Path) -> None:
    from livedocs_runner.records.audit import Selection, check, export
    from livedocs_runner.records.store import RunRecord

    record = store.add(RunRecord(id="a1b2c3d4e5f6", notebook="/x/model.ipynb", notebook_sha256="0" * 64, auth="oidc",
                                 user="alice@example.com"))
    store.update(record, status="succeeded", finished_at=record.created_at)
    before = event("2000-01-01T00:00:00.000+00:00", action="sign-in")  # long before the exported run
    append_access(store, before)
    logged = log_access(store, ALICE, "export", "evidence.zip")
    destination = tmp_path / "evidence.zip"
    export(store, destination, Selection())
    with zipfile.ZipFile(destination) as bundle:
        lines = bundle.read("access.jsonl").decode("utf-8").splitlines()
        assert "access.jsonl" in bundle.read("MANIFEST.sha256").decode()
        assert '"auth": "oidc"' in bundle.read("runs.jsonl").decode()
    import json

    assert [AccessEvent(**json.loads(line)) for line in lines] == [logged]
    assert list(check(destination)) == []


@pytest.mark.kernel
def test_a_signed_in_run_records_who_and_how_and_no_secret(tmp_path: Path) -> None:
    """A run started for a verified identity keeps its name and ``auth``; nothing the home holds afterwards
    (store, journal, report, executed notebook) contains the client or cookie secret loaded in this process."""
    import textwrap

    from livedocs_runner.auth import load_auth
    from livedocs_runner.batch import run_batch
    from livedocs_runner.execute import RunOptions
    from livedocs_runner.plan import plan_runs
    from tests.conftest import NOTEBOOKS

    client, cookie = "cs-7f3a9c1e5b2d4-very-secret", "ck-0123456789abcdef0123456789abcdef"
    auth = tmp_path / "auth.toml"
    auth.write_text(textwrap.dedent(f"""\
        server_metadata_url = "https://login.example.com/.well-known/openid-configuration"
        client_id = "livedocs"
        client_secret = "{client}"
        cookie_secret = "{cookie}"
        redirect_uri = "https://livedocs.example.com/oauth2callback"
        """))
    auth.chmod(0o600)
    settings = load_auth(auth, {})
    store = Store(tmp_path / "home")
    who = Identity("alice@example.com", "oidc")
    [record] = run_batch(plan_runs(NOTEBOOKS / "simple.ipynb"), store,
                         options=RunOptions(trigger="app", user=who.name, auth=who.auth, use_cache=False))
    log_access(store, who, "run", "simple", address="10.0.0.5", detail=f"run {record.id} {settings!r}")
    assert record.status == "succeeded", record.error
    assert (store.get(record.id).user, store.get(record.id).auth) == ("alice@example.com", "oidc")
    assert store.get(record.id).to_json()["auth"] == "oidc"
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert client.encode() not in data and cookie.encode() not in data, path


@pytest.mark.parametrize(("auth", "user", "message"), [
    ("oidc", None, "needs the verified user's name"), ("proxy", "  ", "needs the verified user's name"),
    ("basic", "a", "must be none, oidc or proxy"),
])
def test_run_options_refuse_an_unverified_auth(auth: str, user: str | None, message: str) -> None:
    from livedocs_runner.execute import RunOptions

    with pytest.raises(ValueError, match=message):
        RunOptions(auth=auth, user=user)
    assert RunOptions().auth == "none"
