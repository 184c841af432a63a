"""Schema versions: the store made by release 0.1.0 opens, upgrades in place and reads back intact.

EVERY LATER SCHEMA CHANGE adds a step to ``livedocs_runner/records/migrations.py`` and extends these
tests: commit a store made by the release before the change under ``tests/data/stores/`` (never edit
an existing one), add it to ``OLD_STORES`` and check what the new step fills in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner.errors import StoreError
from livedocs_runner.records.migrations import CURRENT, MIGRATIONS, Migration, schema_version, upgrade
from livedocs_runner.records import journal
from livedocs_runner.records.access_log import read_access
from livedocs_runner.records.store import Store
from tests.conftest import DATA, cli_runner

STORES = DATA / "stores"
OLD_STORES = {"v0_demo": 1, "v2_demo": 2, "v3_demo": 3, "v4_demo": 4}  # folder -> the schema version the release wrote (0.1.0 left user_version at 0)
JSON_FIELDS = ("parameters", "error", "metrics", "inputs", "environment", "outputs")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ro(db: Path) -> contextlib.closing[sqlite3.Connection]:
    """A read-only connection that is closed after use (immutable, creating no -wal/-shm files, unless
    a -wal holds records)."""
    wal = db.with_name(db.name + "-wal").exists()
    return contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro{'' if wal else '&immutable=1'}", uri=True))


def raw_rows(db: Path) -> list[dict[str, Any]]:
    with ro(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY rowid")]


def dump(db: Path) -> tuple[int, list[str]]:
    """Everything a store holds: its user_version and every statement that rebuilds it."""
    with ro(db) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0], list(conn.iterdump())


def user_version(db: Path) -> int:
    with ro(db) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def old_store(tmp_path: Path, name: str = "v0_demo") -> Path:
    """A copy of a committed old store as a home folder; returns the home."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(STORES / name / "runs.db", home / "runs.db")
    return home


def into_the_wal(db: Path) -> sqlite3.Connection:
    """Make ``db`` look as 0.1.0 leaves a store it is still running on: WAL mode, every record only in
    ``runs.db-wal``. Returns the idle connection that keeps the WAL from being folded in (close it)."""
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        rows = conn.execute("SELECT * FROM runs").fetchall()
        conn.execute("DELETE FROM runs")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        held = sqlite3.connect(db, isolation_level=None)
        held.execute("PRAGMA wal_autocheckpoint = 0")
        held.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.executemany(f"INSERT INTO runs VALUES ({', '.join('?' * len(rows[0]))})", rows)
    assert db.with_name("runs.db-wal").stat().st_size > 0
    return held


def expected(raw: dict[str, Any]) -> dict[str, Any]:
    """What a record read from a raw 0.1.0 row must hold, field by field."""
    out = dict(raw)
    for key in JSON_FIELDS:
        if out[key] is not None:
            out[key] = json.loads(out[key])
    return out


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize("name", sorted(OLD_STORES))
def test_an_old_store_is_upgraded_and_every_record_reads_back(tmp_path: Path, name: str, journal: str) -> None:
    home = old_store(tmp_path, name)
    db = home / "runs.db"
    held = into_the_wal(db) if journal == "wal" else None
    try:
        upgraded_and_read(home, name)
    finally:
        if held:
            held.close()


def upgraded_and_read(home: Path, name: str) -> None:
    db = home / "runs.db"
    original = dump(db)
    rows = raw_rows(db)
    assert rows, "the committed store has records"
    with ro(db) as conn:
        assert schema_version(conn) == OLD_STORES[name]

    store = Store(home)

    assert store.version == CURRENT and user_version(db) == CURRENT
    backup = home / f"runs.db.v{OLD_STORES[name]}.bak"
    assert dump(backup) == original  # the copy holds exactly what the store held before the upgrade
    assert sorted(p.name for p in home.iterdir() if p.name.endswith(".bak")) == [backup.name]
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        names = dict(conn.execute("SELECT id, notebook_name FROM runs"))
    assert {"runs_created", "runs_cache", "runs_notebook_name", "runs_notebook", "runs_status"} <= indexes
    for raw in rows:  # every record, every field, as 0.1.0 wrote it
        record = store.get(raw["id"]).to_json()
        # derived from trigger ('rerun:VARIANT'), not a column: None for every run of releases before variants
        assert record.pop("rerun_variant") is None
        # schema 4: how the user was established was not recorded before; it stays unknown (never guessed)
        assert record.pop("auth") is None
        assert record == {k: v for k, v in expected(raw).items() if k in record}, raw["id"]
        assert set(record) == set(raw) - {"notebook_name", "auth"}, "a field was added: extend this test for it"
        assert names[raw["id"]] == Path(raw["notebook"]).name
    listed = store.list(limit=None)
    assert sorted(r.id for r in listed) == sorted(r["id"] for r in rows)
    # schema 3: every run already final is journaled, in the table and in journal.jsonl, noting the upgrade
    with ro(db) as conn:
        entries = [json.loads(e) for (e,) in conn.execute("SELECT entry FROM journal ORDER BY seq")]
    final = sorted(r["id"] for r in rows if r["status"] in ("succeeded", "failed", "cancelled"))
    assert sorted(e["run"] for e in entries) == final and [e["seq"] for e in entries] == list(range(1, len(final) + 1))
    assert all(e["note"].startswith("journaled by the upgrade to store schema 3 at ") for e in entries)
    assert [json.loads(line) for line in (home / "journal.jsonl").read_text().splitlines()] == entries
    assert [r.to_json() for r in listed] == [store.get(r.id).to_json() for r in listed]
    # ... and the journal entries made by step 3 still match the records read with step 4's auth field
    by_run = {e["run"]: e for e in entries}
    for record in listed:
        if record.id in by_run:
            assert journal.sha256(journal.canonical(journal.record_fields(record))) == by_run[record.id]["record_sha256"]
    # schema 4: an empty, append-only access log with its indexes
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM access_log").fetchone() == (0,)
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"access_log_at", "access_log_user"} <= indexes
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert {"access_log_no_update", "access_log_no_delete"} <= triggers
    assert read_access(store) == []
    # schema 5: an empty durable queue with its indexes, usable at once
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM queue").fetchone() == (0,)
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"queue_state", "queue_user"} <= indexes
    assert store.claim("w:1:0") is None and store.queue_place(rows[0]["id"]) is None


def test_a_schema_4_store_upgrades_to_5_and_its_journal_still_verifies(tmp_path: Path) -> None:
    from livedocs_runner.records.verify import Summary, verify
    from livedocs_runner.records.store import RunRecord

    home = old_store(tmp_path, "v4_demo")
    summary = Summary()
    # only runs.db is committed: its runs' files (in the folder the store was made in, /tmp/fixture-home) are not,
    # and are reported missing unless that folder is on this machine; everything else must verify
    missing = {f.message for f in verify(home) if f.kind == "file"}
    assert all("/tmp/fixture-home/" in message or "further file findings" in message for message in missing)

    def findings(summary: Summary) -> list[str]:
        return [f.kind for f in verify(home, summary=summary) if f.message not in missing]

    before = findings(summary)
    store = Store(home)
    assert store.version == 5 and user_version(home / "runs.db") == 5
    after = Summary()
    assert before == ["mirror"]  # the committed store comes without its journal.jsonl ...
    assert findings(after) == [] and after.entries == summary.entries == 6  # ... the upgrade wrote it
    # the upgraded store queues, runs and journals a new run, and the whole chain still verifies
    record = store.enqueue(RunRecord(id="0a0b0c0d0e0f", notebook="/nb/x.ipynb", notebook_sha256="0" * 64, user="ana"),
                           {"plan": {}})
    job = store.claim("w:1:0")
    assert job.record.id == record.id and job.attempt == 1
    store.update(job.record, status="succeeded", finished_at="2026-11-24T09:00:00.000+00:00")
    final = Summary()
    assert findings(final) == [] and final.entries == 7


def test_the_demo_store_after_the_upgrade(tmp_path: Path) -> None:
    """What the 0.1.0 demo store holds, checked by meaning (so a broken reader cannot pass unnoticed)."""
    store = Store(old_store(tmp_path))
    records = {r.id: r for r in store.list(limit=None)}
    assert len(records) == 6
    hit = records["69a03da505cb"]
    assert (hit.cache_of, hit.status, hit.scenario) == ("ad9d025f3daf", "succeeded", "baseline")
    broken = records["f2d8f44b3e87"]
    assert (broken.status, broken.error["ename"], broken.error["cell"]) == ("failed", "ZeroDivisionError", 4)
    assert records["b68d0db373e5"].error["ename"] == "Timeout"
    assert {r.id for r in store.list(notebook="credit_risk.ipynb", limit=None)} == {
        "ad9d025f3daf", "b9558ccd9cef", "69a03da505cb", "b68d0db373e5"}
    assert store.list(notebook="CREDIT_RISK.ipynb") == [] and store.list(notebook="credit%risk.ipynb") == []
    assert [r.id for r in store.list(notebook="/work/main/notebooks/pricing_whatif.ipynb")] == ["3ef05867b62d"]
    assert store.find_cached(records["ad9d025f3daf"].cache_key).id == "ad9d025f3daf"


def test_a_second_open_does_nothing(tmp_path: Path) -> None:
    home = old_store(tmp_path)
    Store(home)
    db, backup = home / "runs.db", home / "runs.db.v1.bak"
    before = (digest(db), digest(backup), backup.stat().st_mtime_ns, sorted(p.name for p in home.iterdir()))
    again = Store(home)
    assert again.version == CURRENT
    assert (digest(db), digest(backup), backup.stat().st_mtime_ns, sorted(p.name for p in home.iterdir())) == before


OPEN = """
import sys
from livedocs_runner.records.store import Store
print(len(Store(sys.argv[1]).list(limit=None)))
"""


def test_processes_opening_an_old_store_at_once_migrate_it_once(tmp_path: Path) -> None:
    home = old_store(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", OPEN, str(home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [(p.returncode, out.strip()) for p, (out, _) in zip(procs, outs)] == [(0, "6")] * 4, outs
    assert user_version(home / "runs.db") == CURRENT
    assert sorted(p.name for p in home.iterdir() if p.name.startswith("runs.db.")) == ["runs.db.v1.bak"]
    assert dump(home / "runs.db.v1.bak") == dump(STORES / "v0_demo" / "runs.db")


def test_a_failing_step_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    db = old_store(tmp_path) / "runs.db"
    before = digest(db)

    def half_done_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE runs SET status = 'half-migrated'")
        conn.execute("ALTER TABLE runs ADD COLUMN later TEXT")
        conn.execute("SELECT no_such_column FROM runs")

    steps = (*MIGRATIONS, Migration(version=CURRENT + 1, summary="a step that fails", apply=half_done_then_fail))

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(db, timeout=30, isolation_level=None)

    with pytest.raises(StoreError) as info:
        upgrade(db, connect, steps)
    message = info.value.message
    assert f"{db}: upgrading the store from schema version 1 to {CURRENT + 1} failed at step {CURRENT + 1}" in message
    assert "no such column: no_such_column" in message and "left unchanged" in message
    assert str(db.with_name("runs.db.v1.bak")) in message
    assert digest(db) == before  # steps 1..CURRENT ran too, and were rolled back with the failing one
    assert Store(db.parent).version == CURRENT  # and the real upgrade still works afterwards


def test_an_old_store_the_upgrade_cannot_handle_is_refused_unchanged(tmp_path: Path) -> None:
    """A hand-edited 0.1.0 store that already has a notebook_name column: step 2 fails, through the CLI."""
    home = old_store(tmp_path)
    db = home / "runs.db"
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("ALTER TABLE runs ADD COLUMN notebook_name")
    before = digest(db)
    result = cli_runner(home)("runs")
    assert result.code == 2, result.stderr
    assert result.stderr.startswith(f"Error: {db}: upgrading the store from schema version 1 to {CURRENT} failed "
                                    "at step 2 (")
    assert "duplicate column name: notebook_name" in result.stderr and "Traceback" not in result.stderr
    assert digest(db) == before and user_version(db) == 0


def newer(tmp_path: Path, writer: str | None) -> Path:
    home = old_store(tmp_path)
    Store(home)
    with contextlib.closing(sqlite3.connect(home / "runs.db", isolation_level=None)) as conn:  # closed: WAL folded in
        if writer is None:
            conn.execute("DROP TABLE store_meta")
        else:
            conn.execute("UPDATE store_meta SET value = ? WHERE key = 'upgraded_by'", (writer,))
        conn.execute(f"PRAGMA user_version = {CURRENT + 1}")
    (home / "runs.db.v1.bak").unlink()
    return home


@pytest.mark.parametrize("writer, fix", [
    ("9.1.0", "Upgrade livedocs-runner to 9.1.0 or newer (the release that upgraded this store): "
              "pip install -U 'livedocs-runner>=9.1.0'"),
    (None, f"Upgrade livedocs-runner to a release that reads schema version {CURRENT + 1}: pip install -U livedocs-runner"),
    ("1.0; rm -rf /", f"Upgrade livedocs-runner to a release that reads schema version {CURRENT + 1}: "
                      "pip install -U livedocs-runner"),
])
@pytest.mark.parametrize("command", [("runs",), ("show", "ad9d"), ("compare", "ad9d", "b955")])
def test_a_newer_store_is_refused_and_never_written(tmp_path: Path, writer: str | None, fix: str,
                                                     command: tuple[str, ...]) -> None:
    home = newer(tmp_path, writer)
    db = home / "runs.db"
    before, files = digest(db), sorted(p.name for p in home.iterdir())
    result = cli_runner(home)(*command)
    assert result.code == 2, result.stderr
    from livedocs_runner import __version__
    assert result.stderr.splitlines() == [
        f"Error: {db} has store schema version {CURRENT + 1}, newer than this livedocs-runner ({__version__}) reads "
        f"(up to version {CURRENT}); it was not changed.", fix]
    assert digest(db) == before and sorted(p.name for p in home.iterdir()) == files


def test_a_newer_store_is_refused_by_the_library(tmp_path: Path) -> None:
    home = newer(tmp_path, "9.1.0")
    with pytest.raises(StoreError) as info:
        Store(home)
    assert info.value.exit_code == 2 and f"schema version {CURRENT + 1}" in info.value.message


def test_a_new_store_is_created_at_the_current_version_without_a_backup(tmp_path: Path) -> None:
    store = Store(tmp_path / "new")
    assert store.version == CURRENT and user_version(tmp_path / "new" / "runs.db") == CURRENT
    assert not list((tmp_path / "new").glob("*.bak"))
    with ro(tmp_path / "new" / "runs.db") as conn:
        assert conn.execute("SELECT value FROM store_meta WHERE key = 'upgraded_by'").fetchone()[0]


def test_a_read_only_old_store_is_read_without_upgrading(tmp_path: Path) -> None:
    from tests.test_store import files, read_only_cli
    home = old_store(tmp_path)
    before = files(home)
    listed = read_only_cli(home, home, "runs", "--json", "--limit", "50")
    assert listed.code == 0, listed.stderr
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == sorted(r["id"] for r in raw_rows(home / "runs.db"))
    by_name = read_only_cli(home, home, "runs", "--json", "--notebook", "credit_risk.ipynb")
    assert {r["id"] for r in json.loads(by_name.stdout)} == {"ad9d025f3daf", "b9558ccd9cef", "69a03da505cb",
                                                             "b68d0db373e5"}
    assert json.loads(read_only_cli(home, home, "runs", "--json", "--notebook", "CREDIT_RISK.ipynb").stdout) == []
    shown = read_only_cli(home, home, "show", "f2d8", "--json")
    assert shown.code == 0 and json.loads(shown.stdout)["error"]["ename"] == "ZeroDivisionError"
    assert files(home) == before  # not upgraded, no backup, no -wal/-shm


def test_the_cli_upgrades_an_old_store_on_first_use(tmp_path: Path) -> None:
    home = old_store(tmp_path)
    result = cli_runner(home)("runs", "--notebook", "pricing_whatif.ipynb")
    assert result.code == 0, result.stderr
    assert "3ef05867b62d" in result.stdout and result.stdout.count("\n") == 2  # header and the one run
    assert user_version(home / "runs.db") == CURRENT and (home / "runs.db.v1.bak").is_file()


def test_migrations_are_numbered_one_by_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, CURRENT + 1))
    assert all(m.summary for m in MIGRATIONS)


class TracedStore(Store):
    """A Store that records every SQL statement its connections run (observes, changes nothing)."""

    statements: list[str] = []

    def _raw_connection(self) -> sqlite3.Connection:
        db = super()._raw_connection()
        db.set_trace_callback(TracedStore.statements.append)
        return db


def test_opening_a_current_store_reads_one_pragma(tmp_path: Path) -> None:
    Store(old_store(tmp_path))  # upgraded here
    TracedStore.statements = []
    TracedStore(tmp_path / "home")
    # the connection's own busy timeout is set in _raw_connection before tracing starts
    assert TracedStore.statements == ["PRAGMA user_version"]


CRASH = """
import sqlite3, sys, time
from pathlib import Path
from livedocs_runner.records.migrations import CURRENT, MIGRATIONS, Migration, upgrade
db = Path(sys.argv[1])

def work_then_hang(conn):
    conn.execute("UPDATE runs SET status = 'half-migrated'")
    conn.execute("DELETE FROM runs WHERE rowid % 2 = 0")
    Path(sys.argv[2]).write_text("mid-migration")
    time.sleep(600)  # killed here

steps = (*MIGRATIONS, Migration(version=CURRENT + 1, summary="hangs", apply=work_then_hang))
upgrade(db, lambda: sqlite3.connect(db, timeout=30, isolation_level=None), steps)
"""


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_crash_mid_migration_leaves_the_store_as_it_was(tmp_path: Path, journal: str) -> None:
    """kill -9 in the middle of the upgrade transaction: SQLite's journal puts everything back."""
    from tests.conftest import until
    db = old_store(tmp_path) / "runs.db"
    if journal == "wal":
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        original = list(conn.iterdump())
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", CRASH, str(db), str(marker)])
    try:
        until(marker.exists, "the migration to get half way")
    finally:
        proc.kill()
        proc.wait(timeout=60)
    with contextlib.closing(sqlite3.connect(db)) as conn:  # an ordinary connection rolls the hot journal back
        assert conn.execute("PRAGMA user_version").fetchone() == (0,)
        assert list(conn.iterdump()) == original
    store = Store(db.parent)
    assert store.version == CURRENT and len(store.list(limit=None)) == 6
