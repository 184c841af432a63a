"""The store on both backends (SQLite and a real PostgreSQL server, tests/store_backends.py): records, the journal,
the access log; and what only a server store meets: choosing it by URL (--db / $LIVEDOCS_DB), a server restart
under an open store, a migration killed mid-way, a newer store refused."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from livedocs_runner.errors import RunNotFound, StoreError
from livedocs_runner.records.access_log import AccessEvent, append_access, read_access
from livedocs_runner.records.journal import canonical, record_fields, sha256
from livedocs_runner.records.migrations import CURRENT, MIGRATIONS, PAUSE_ENV
from livedocs_runner.records.store import RunRecord, Store, new_id, open_store
from tests.conftest import DATA, cli_runner, until
from tests.store_backends import Backend, backend, journal_entries, pg_server, store  # noqa: F401  (fixtures)


def make(store, run_id: str | None = None, **fields) -> RunRecord:
    fields.setdefault("notebook", "/nb/simple.ipynb")
    fields.setdefault("notebook_sha256", "0" * 64)
    return store.add(RunRecord(id=run_id or new_id(), **fields))


def test_records_round_trip_and_are_found_by_prefix(store) -> None:
    record = make(store, "abc111000000", parameters={"a": 1, "s": "é\n'\"%?"}, environment={"python": "3.11"},
                  inputs=[{"parameter": "f", "path": "/x", "size": 1, "sha256": "ab"}], user="ana", auth="oidc")
    make(store, "abc222000000", notebook="/other/simple.ipynb", scenario="stress")
    record = store.update(record, status="failed", error={"cell": 3, "ename": "E", "evalue": "v"}, duration_s=1.5)
    assert store.get("abc1") == record and store.get("ABC111") == record
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.get("abc")
    with pytest.raises(RunNotFound, match="no run 'abd'"):
        store.get("abd")
    assert [r.id for r in store.list(notebook="simple.ipynb", limit=None)] == ["abc222000000", "abc111000000"]
    assert [r.id for r in store.list(scenario="stress")] == ["abc222000000"]
    assert [r.id for r in store.list(status="failed")] == ["abc111000000"]
    assert len(store.list(limit=1)) == 1


def test_the_cache_answer_and_the_journal_of_final_records(store) -> None:
    first = make(store, cache_key="k1")
    assert store.find_cached("k1") is None  # not final yet
    first = store.update(first, status="succeeded", finished_at="2026-11-24T09:00:00.000+00:00")
    hit = make(store, cache_key="k1", cache_of=first.id)
    hit = store.update(hit, status="succeeded", finished_at="2026-11-24T09:00:01.000+00:00")
    assert store.find_cached("k1").id == first.id
    [entry] = journal_entries(store, first.id)
    assert entry["record_sha256"] == sha256(canonical(record_fields(store.get(first.id))))
    [cached] = journal_entries(store, hit.id)
    assert cached["artifacts_of"]["run"] == first.id and cached["prev"] == entry["hash"]
    mirrored = [json.loads(line) for line in (store.home / "journal.jsonl").read_text().splitlines()]
    assert [e["run"] for e in mirrored] == [first.id, hit.id]


@pytest.mark.parametrize("statement", ["UPDATE journal SET entry = '{}'", "DELETE FROM journal"])
def test_the_journal_is_append_only(store, statement: str) -> None:
    record = make(store)
    store.update(record, status="succeeded", finished_at="2026-11-24T09:00:00.000+00:00")
    with pytest.raises(Exception, match="append-only"):
        with store._connect() as db:
            db.execute(statement)
    assert len(journal_entries(store, record.id)) == 1


def test_access_log_on_the_store(store) -> None:
    events = [AccessEvent(at="2026-11-20T09:00:00.000+00:00", user="ana", auth="oidc", action="sign-in", target="app",
                          address="10.0.0.5", detail=""),
              AccessEvent(at="2026-11-21T09:00:00.000+00:00", user="ben", auth="proxy", action="denied",
                          target="hr", address=None, detail="needs viewer")]
    for item in events:
        append_access(store, item)
    assert read_access(store) == events[::-1]
    assert read_access(store, user="ben") == [events[1]] and read_access(store, until="2026-11-20") == [events[0]]
    with pytest.raises(Exception, match="append-only"):
        with store._connect() as db:
            db.execute("DELETE FROM access_log")


def test_a_store_url_the_store_does_not_know_is_refused(tmp_path: Path) -> None:
    for url, text in [("mysql://db/livedocs", "is not a store URL livedocs knows"),
                      ("sqlite:///x/runs.db", "SQLite is the default and lives in the home folder")]:
        with pytest.raises(StoreError) as info:
            open_store(tmp_path, url)
        assert text in info.value.message and info.value.exit_code == 2


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path, pg_server) -> None:
    url = f"postgresql://ana:s3cret@127.0.0.1:{pg_server.port + 1 if pg_server.port < 65535 else 1}/livedocs"
    with pytest.raises(StoreError) as info:
        open_store(tmp_path, url)
    assert info.value.message.startswith("cannot reach the PostgreSQL store postgresql://ana:***@127.0.0.1:")
    assert "s3cret" not in info.value.message + info.value.hint and "~/.pgpass" in info.value.hint


def test_the_cli_works_on_the_store_given_by_db_or_livedocs_db(tmp_path: Path, pg_server) -> None:
    url = pg_server.new_database()
    store = open_store(tmp_path / "files", url)
    record = make(store, scenario="baseline")
    store.update(record, status="succeeded", finished_at="2026-11-24T09:00:00.000+00:00")
    run = cli_runner(tmp_path / "files")
    for args, env in [(["--db", url, "runs", "--json"], None), (["runs", "--json", "--db", url], None),
                      (["runs", "--json"], {"LIVEDOCS_DB": url})]:
        result = run(*args, env=env)
        assert result.code == 0, result.stderr
        assert [r["id"] for r in json.loads(result.stdout)] == [record.id]
    assert not (tmp_path / "files" / "runs.db").exists()  # records in PostgreSQL, never a SQLite file
    result = run("runs", env={"LIVEDOCS_DB": "mysql://db/x"})
    assert result.code == 2 and "is not a store URL livedocs knows" in result.stderr


def test_a_server_restart_under_an_open_store_is_carried_through(tmp_path: Path, pg_server) -> None:
    store = open_store(tmp_path, pg_server.new_database())
    first = make(store)
    store.enqueue(RunRecord(id=new_id(), notebook="/nb/a.ipynb", notebook_sha256="0" * 64, user="ana"), {"plan": {}})
    pg_server.restart()  # every connection is cut
    assert [r.id for r in store.list(status="queued")] != [] and store.get(first.id) == first
    job = store.claim("w:1:0")  # a write transaction on a fresh connection
    assert job is not None and job.attempt == 1
    pg_server.restart()
    assert store.heartbeat(job.record.id, "w:1:0", cell=1) is False
    store.update(job.record, status="succeeded", finished_at="2026-11-24T09:00:00.000+00:00")
    assert store.get(job.record.id).status == "succeeded"


MIGRATE = """
import sys
from livedocs_runner.records.store import open_store
open_store(sys.argv[1], sys.argv[2] or None)
"""


def older_store(backend: Backend, home: Path, request: pytest.FixtureRequest) -> tuple[Store | None, Backend]:
    """A store at schema 4 with records (SQLite: the committed v4_demo; PostgreSQL: made by steps 1-4 in a new,
    empty database) and the backend that reaches it."""
    if backend.url is None:
        home.mkdir()
        shutil.copyfile(DATA / "stores" / "v4_demo" / "runs.db", home / "runs.db")
        return None, backend
    from livedocs_runner.records.pg import PgStore

    backend = Backend("postgresql", request.getfixturevalue("pg_server").new_database(empty=True))
    store = PgStore(home, backend.url, migrations=MIGRATIONS[:4])
    assert store.version == 4
    record = make(store, "00aa00aa00aa")
    store.update(record, status="succeeded", finished_at="2026-11-24T09:00:00.000+00:00")
    return store, backend


def state(backend: Backend, home: Path) -> tuple[int, list, bool]:
    """(schema version, every record row, whether a queue table exists), read without livedocs."""
    if backend.url is None:
        with sqlite3.connect(home / "runs.db") as db:  # a plain connection rolls a hot journal back
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return (db.execute("PRAGMA user_version").fetchone()[0], db.execute("SELECT * FROM runs ORDER BY id").fetchall(),
                    "queue" in tables)
    import psycopg

    with psycopg.connect(backend.url) as db:
        version = int(db.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()[0])
        rows = db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        queue = db.execute("SELECT to_regclass('queue') IS NOT NULL").fetchone()[0]
        return version, rows, queue


def test_a_migration_killed_mid_way_leaves_the_old_store_intact_and_usable(tmp_path: Path, backend: Backend,
                                                                          request: pytest.FixtureRequest) -> None:
    home = tmp_path / "home"
    older, backend = older_store(backend, home, request)
    before = state(backend, home)
    assert before[0] == 4 and before[1] and not before[2]
    marker = tmp_path / "migrating"
    proc = subprocess.Popen([sys.executable, "-c", MIGRATE, str(home), backend.url or ""],
                            env={**os.environ, PAUSE_ENV: str(marker)})
    try:
        until(marker.exists, "the upgrade to reach its last step", timeout=60)
    finally:
        proc.kill()  # kill -9, inside the upgrade transaction
        proc.wait(timeout=60)
    if older is not None:
        older.close()
    assert until(lambda: state(backend, home) == before, "the killed upgrade to be rolled back", timeout=60)
    store = open_store(home, backend.url)  # the next open upgrades it properly
    assert store.version == CURRENT and state(backend, home)[2]
    assert {r.id for r in store.list(limit=None)} and store.claim("w:1:0") is None


def test_a_newer_postgresql_store_is_refused_and_never_written(tmp_path: Path, pg_server) -> None:
    import psycopg

    url = pg_server.new_database()
    open_store(tmp_path, url).close()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
        db.execute("UPDATE store_meta SET value = '9.9.0' WHERE key = 'upgraded_by'")
    with pytest.raises(StoreError) as info:
        open_store(tmp_path, url)
    assert "has store schema version 99, newer than this livedocs-runner" in info.value.message
    assert info.value.hint.endswith("pip install -U 'livedocs-runner>=9.9.0'")
    with psycopg.connect(url) as db:
        assert db.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()[0] == "99"


def test_no_psycopg_nor_queue_code_on_the_sqlite_path(tmp_path: Path) -> None:
    code = ("import sys; from livedocs_runner.records.store import open_store; s = open_store(sys.argv[1]); "
            "s.list(); print(sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'sqlalchemy', 'alembic') "
            "or m in ('livedocs_runner.records.queue', 'livedocs_runner.records.pg')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_verify_and_the_audit_bundle_work_on_both_stores(tmp_path: Path, backend: Backend) -> None:
    import zipfile

    from livedocs_runner.records.audit import Selection, check, export
    from livedocs_runner.records.verify import Summary, verify

    home = tmp_path / "home"
    store = open_store(home, backend.url)
    records = []
    for n in range(3):
        record = make(store, scenario=f"s{n}", metrics={"total": n})
        records.append(store.update(record, status="succeeded", finished_at="2026-11-24T09:00:00.000+00:00"))
    summary = Summary()
    assert list(verify(home, summary=summary, db_url=backend.url)) == [] and (summary.runs, summary.entries) == (3, 3)
    export(store, tmp_path / "evidence.zip", Selection())
    assert list(check(tmp_path / "evidence.zip")) == []
    with zipfile.ZipFile(tmp_path / "evidence.zip") as bundle:
        assert len(bundle.read("runs.jsonl").decode().splitlines()) == 3
    with store._connect() as db:  # an edit behind livedocs' back
        db.execute("UPDATE runs SET metrics = ? WHERE id = ?", ('{"total": 99}', records[1].id))
    found = list(verify(home, db_url=backend.url))
    assert [f.run for f in found] == [records[1].id] and "metrics" in found[0].message
    run = cli_runner(home)
    result = run("verify", "--json", env={"LIVEDOCS_DB": backend.url} if backend.url else None)
    assert result.code == 1 and json.loads(result.stdout.splitlines()[-1])["findings"] == 1


def test_open_store_is_the_only_way_a_store_is_built_outside_the_store_module() -> None:
    import ast

    root = Path(__file__).resolve().parent.parent
    calls = []
    for path in [*(root / "livedocs_runner").rglob("*.py"), *(root / "apps").rglob("*.py")]:
        if "records" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in ("Store", "PgStore"):
                calls.append(f"{path.relative_to(root)}:{node.lineno}")
    assert calls == []


def test_a_server_restart_inside_a_write_is_one_clear_error_and_the_next_call_carries_on(tmp_path: Path,
                                                                                        pg_server) -> None:
    store = open_store(tmp_path, pg_server.new_database())
    record = make(store)
    with pytest.raises(StoreError) as info:
        with store._write() as db:
            db.execute("UPDATE runs SET title = 'half' WHERE id = ?", (record.id,))
            pg_server.restart()
            db.execute("UPDATE runs SET scenario = 'half' WHERE id = ?", (record.id,))
    assert info.value.message.startswith("cannot reach the PostgreSQL store postgresql://")
    assert store.get(record.id) == record  # nothing half-written; the next call reconnected


def test_threads_sharing_a_store_keep_one_journal_chain(store, backend: Backend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from livedocs_runner.records.verify import Summary, verify

    def work(n: int) -> None:
        for i in range(8):
            record = make(store, scenario=f"t{n}-{i}")
            store.update(record, status="succeeded", finished_at="2026-11-24T09:00:00.000+00:00")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(6)))
    summary = Summary()
    assert list(verify(store.home, summary=summary, db_url=backend.url)) == [] and summary.entries == 48


OPEN_AT_ONCE = """
import os, sys, time
from livedocs_runner.records.store import open_store
while not os.path.exists(sys.argv[3]):
    time.sleep(0.001)
store = open_store(sys.argv[1], sys.argv[2])
print(store.version, len(store.list()))
"""


def test_processes_opening_a_new_postgresql_store_at_once_all_get_it(tmp_path: Path, pg_server) -> None:
    """An app and its workers started together on an empty database: one creates the schema, the others wait for
    it and use it (a transaction begun before the first migrator committed must not run step 1 again)."""
    url = pg_server.new_database(empty=True)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT_ONCE, str(tmp_path / f"h{n}"), url, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(6)]
    until(lambda: all(p.poll() is None for p in procs), "the processes to start")
    go.touch()
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in outcomes]
    assert {out.strip() for out, _ in outcomes} == {f"{CURRENT} 0"}
