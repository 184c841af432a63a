"""Schema versions of the run store and the ordered steps that upgrade an older ``runs.db``.

``PRAGMA user_version`` holds the schema version. Release 0.1.0 did not set it: a store with
``user_version = 0`` and a ``runs`` table *is* schema 1 (read as such, never rewritten before an
upgrade); ``user_version = 0`` without a table is an empty file. Each :class:`Migration` takes the
schema from ``version - 1`` to ``version``; :func:`upgrade` runs the missing ones in order inside one
``BEGIN IMMEDIATE`` transaction (so two processes opening an old store do not both migrate, and a
failing step leaves the store exactly as it was), after a consistent backup copy made with SQLite's
backup API (``runs.db.v1.bak``). A store newer than :data:`CURRENT` is refused and never written.

Every later change to what the store keeps appends one step here and extends
``tests/test_migrations.py`` (the models are MLflow's ``_upgrade_db`` and Django's migrations).
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from ..errors import StoreError

if TYPE_CHECKING:
    from .pg import PgStore


@dataclass(frozen=True, kw_only=True)
class Migration:
    """One step: ``apply(db)`` turns schema ``version - 1`` into ``version`` (no COMMIT inside).

    Usage: ``Migration(version=3, summary="...", apply=lambda db: db.execute("ALTER TABLE ..."))``
    """

    version: int
    summary: str
    apply: Callable[[sqlite3.Connection], None]
    postgresql: Callable[[Any], None] | None = None  # the same step on PostgreSQL (see upgrade_pg)


def notebook_name(path: object) -> str | None:
    """The file name a ``--notebook NAME`` filter matches (kept in the ``notebook_name`` column)."""
    return PurePath(path).name if isinstance(path, str) and path else None


# The 0.1.0 table, spelled out (never derived from RunRecord: later fields arrive by migrations).
_V1_COLUMNS = ("id TEXT PRIMARY KEY", "status", "notebook", "notebook_sha256", "notebook_copy", "config", "title",
               "scenario", "parameters", "created_at", "started_at", "finished_at", "duration_s", "error", "metrics",
               "inputs", "environment", "trigger", "user", "run_dir", "output_notebook", "report_html", "outputs",
               "rerun_of", "cache_of", "cache_key")


def _v1_runs_table(db: sqlite3.Connection) -> None:
    db.execute(f"CREATE TABLE IF NOT EXISTS runs ({', '.join(_V1_COLUMNS)})")
    db.execute("CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at)")
    db.execute("CREATE INDEX IF NOT EXISTS runs_cache ON runs(cache_key, status)")


def _v2_notebook_name_and_meta(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE runs ADD COLUMN notebook_name TEXT")
    rows = db.execute("SELECT rowid, notebook FROM runs").fetchall()
    db.executemany("UPDATE runs SET notebook_name = ? WHERE rowid = ?", [(notebook_name(nb), rowid) for rowid, nb in rows])
    db.execute("CREATE INDEX runs_notebook_name ON runs(notebook_name, created_at)")
    db.execute("CREATE INDEX runs_notebook ON runs(notebook, created_at)")
    db.execute("CREATE INDEX runs_status ON runs(status)")
    db.execute("CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _v3_journal(db: sqlite3.Connection) -> None:
    """The append-only journal (see journal.py); every run already final is journaled as found now."""
    from . import journal
    from .record import BadRecord, from_row, now

    db.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, hash TEXT NOT NULL, "
               "entry TEXT NOT NULL)")
    db.execute("CREATE INDEX journal_run ON journal(run_id, seq)")
    for verb in ("UPDATE", "DELETE"):  # the code never does either; this stops a casual edit too
        db.execute(f"CREATE TRIGGER journal_no_{verb.lower()} BEFORE {verb} ON journal "
                   f"BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END")
    home = Path(db.execute("PRAGMA database_list").fetchone()[2]).resolve().parent
    key, at = journal.journal_key(), now()
    note = (f"journaled by the upgrade to store schema 3 at {at}: the record and files as found then "
            "(changes made before that are not attested)")
    db.row_factory = sqlite3.Row
    try:
        rows = db.execute("SELECT * FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled') "
                          "ORDER BY (cache_of IS NOT NULL), created_at, rowid").fetchall()
        for row in rows:
            try:
                record = from_row(row)
            except BadRecord:
                continue  # left without an entry: verify names it
            journal.append(db, home, journal.record_fields(record), at=at, note=note, key=key)
    finally:
        db.row_factory = None


def _v4_access_log_and_auth(db: sqlite3.Connection) -> None:
    """The append-only access log (see access_log.py) and how each run's user was established (``auth``:
    none | oidc | proxy; NULL on runs recorded before, which nobody can now attest)."""
    db.execute("CREATE TABLE access_log (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, "
               "auth TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, address TEXT, detail TEXT NOT NULL)")
    db.execute("CREATE INDEX access_log_at ON access_log(at)")
    db.execute("CREATE INDEX access_log_user ON access_log(user, at)")
    for verb in ("UPDATE", "DELETE"):  # the code never does either; this stops a casual edit too
        db.execute(f"CREATE TRIGGER access_log_no_{verb.lower()} BEFORE {verb} ON access_log "
                   f"BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END")
    db.execute("ALTER TABLE runs ADD COLUMN auth TEXT")


# The durable run queue (see queue.py): one row per submitted run, kept after it ends (state ``done``).
QUEUE_COLUMNS = ('run_id TEXT NOT NULL UNIQUE', '"user" TEXT NOT NULL', "notebook_name TEXT",
                 "submitted_at TEXT NOT NULL", "state TEXT NOT NULL", "job TEXT NOT NULL", "worker TEXT",
                 "claimed_at TEXT", "heartbeat_at TEXT", "attempt INTEGER NOT NULL DEFAULT 0",
                 "cancel_requested INTEGER NOT NULL DEFAULT 0", "cell INTEGER", "cells INTEGER", "step TEXT")


def queue_table(db: sqlite3.Connection, serial: str = "INTEGER PRIMARY KEY") -> None:
    """``seq`` is the submission order (SQLite: the rowid; PostgreSQL: a BIGSERIAL)."""
    db.execute(f"CREATE TABLE queue (seq {serial}, {', '.join(QUEUE_COLUMNS)})")
    db.execute("CREATE INDEX queue_state ON queue(state, seq)")
    db.execute('CREATE INDEX queue_user ON queue(state, "user")')


def _v5_queue(db: sqlite3.Connection) -> None:
    """The durable queue: job payload, worker, heartbeat, attempt, cancel flag and live progress per run.
    Runs left ``queued`` by an in-process queue of an older release have no payload: they stay as they are
    (the app's start-up marks them abandoned as before)."""
    queue_table(db)


# --- the same steps on PostgreSQL ----------------------------------------------------------------------
# A PostgreSQL store is new with this release: its steps run on an empty database (no runs to fill in or
# journal), in one transaction (PostgreSQL's DDL is transactional). Text compares byte-wise (COLLATE "C"),
# as in SQLite, so id prefixes and ISO times order the same way whatever the database's locale.


def _pg_columns(columns: Sequence[str]) -> str:
    out = []
    for column in columns:
        name = column.split()[0]
        if name == "duration_s":
            out.append("duration_s DOUBLE PRECISION")
        elif name == "id":
            out.append('id TEXT COLLATE "C" PRIMARY KEY')
        else:
            out.append(f'"{name}" TEXT COLLATE "C"')
    return ", ".join(out)


def _pg_v1(db: Any) -> None:
    db.execute(f"CREATE TABLE runs ({_pg_columns(_V1_COLUMNS)})")
    db.execute("CREATE INDEX runs_created ON runs(created_at)")
    db.execute("CREATE INDEX runs_cache ON runs(cache_key, status)")
    # a JSON value read leniently: NULL for a damaged (non-JSON) field, so a query never fails on one record
    db.execute("CREATE FUNCTION livedocs_jsonb(value text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$ "
               "BEGIN RETURN value::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$")
    db.execute("CREATE FUNCTION livedocs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
               "BEGIN RAISE EXCEPTION 'the % is append-only', TG_TABLE_NAME; END $$")


def _pg_v2(db: Any) -> None:
    db.execute('ALTER TABLE runs ADD COLUMN notebook_name TEXT COLLATE "C"')
    db.execute("UPDATE runs SET notebook_name = regexp_replace(notebook, '^.*/', '')")
    db.execute("CREATE INDEX runs_notebook_name ON runs(notebook_name, created_at)")
    db.execute("CREATE INDEX runs_notebook ON runs(notebook, created_at)")
    db.execute("CREATE INDEX runs_status ON runs(status)")
    db.execute('CREATE TABLE store_meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)')


def _pg_v3(db: Any) -> None:
    db.execute('CREATE TABLE journal (seq BIGINT PRIMARY KEY, run_id TEXT COLLATE "C" NOT NULL, hash TEXT NOT NULL, '
               "entry TEXT NOT NULL)")
    db.execute("CREATE INDEX journal_run ON journal(run_id, seq)")
    db.execute("CREATE INDEX journal_hash ON journal(hash)")
    db.execute("CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal "
               "FOR EACH ROW EXECUTE FUNCTION livedocs_append_only()")


def _pg_v4(db: Any) -> None:
    db.execute('CREATE TABLE access_log (seq BIGSERIAL PRIMARY KEY, at TEXT COLLATE "C" NOT NULL, "user" TEXT NOT NULL, '
               "auth TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, address TEXT, detail TEXT NOT NULL)")
    db.execute("CREATE INDEX access_log_at ON access_log(at)")
    db.execute('CREATE INDEX access_log_user ON access_log("user", at)')
    db.execute("CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log "
               "FOR EACH ROW EXECUTE FUNCTION livedocs_append_only()")
    db.execute("ALTER TABLE runs ADD COLUMN auth TEXT")


def _pg_v5(db: Any) -> None:
    queue_table(db, serial="BIGSERIAL PRIMARY KEY")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, summary="the runs table of release 0.1.0", apply=_v1_runs_table,
              postgresql=_pg_v1),
    Migration(version=2, summary="exact notebook file-name filter (indexed notebook_name column), status index, "
                                 "store_meta table naming the release that upgraded the store", apply=_v2_notebook_name_and_meta,
              postgresql=_pg_v2),
    Migration(version=3, summary="the append-only, hash-chained run journal (journal table; runs already final "
                                 "are journaled, noted as such)", apply=_v3_journal,
              postgresql=_pg_v3),
    Migration(version=4, summary="the append-only access log (access_log table) and the runs' auth column",
              apply=_v4_access_log_and_auth, postgresql=_pg_v4),
    Migration(version=5, summary="the durable run queue (queue table: job payload, worker, heartbeat, attempt, "
                                 "cancel flag, live progress)", apply=_v5_queue, postgresql=_pg_v5),
)
CURRENT = MIGRATIONS[-1].version
OLDEST_READABLE = 1  # a read-only store this old or newer (up to CURRENT) is read as it is, without upgrading


def schema_version(db: sqlite3.Connection) -> int:
    """The store's schema version (0: empty file; 1: release 0.1.0, which left ``user_version`` at 0)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == 0 and db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone():
        return 1
    return version


def backup_path(db_path: Path, version: int) -> Path:
    return db_path.with_name(f"{db_path.name}.v{version}.bak")


def backup(db_path: Path, version: int) -> Path:
    """A consistent copy of the store (SQLite's backup API, so WAL contents are included)."""
    target = backup_path(db_path, version)
    tmp = target.with_name(f".{target.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as source, \
                contextlib.closing(sqlite3.connect(tmp)) as copy:
            source.backup(copy)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return target


def step_failed(where: object, found: int, target: int, step: Migration, exc: Exception, after: str = "") -> StoreError:
    """The error of an upgrade step that failed (its transaction rolled back: the store is as it was)."""
    return StoreError(
        f"{where}: upgrading the store from schema version {found} to {target} failed at step {step.version} "
        f"({step.summary}): {type(exc).__name__}: {str(exc)[:200]}. The store was left unchanged.{after}",
        hint="Keep using the release that wrote it, and report this with the output of `livedocs --debug runs`.")


def upgrade(db_path: Path, connect: Callable[[], sqlite3.Connection],
            migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Run the steps the store lacks, all in one transaction; returns the version it had.

    ``connect`` gives a connection in autocommit mode (``isolation_level=None``) with a busy timeout.
    Raises :class:`StoreError` for a store newer than ``migrations`` knows, or when a step fails (the
    store is then unchanged).
    """
    target = migrations[-1].version
    with contextlib.closing(connect()) as db:
        db.execute("BEGIN IMMEDIATE")  # the write lock first: a second process waits here, then finds it done
        try:
            found = schema_version(db)
            if found > target:
                raise newer_store(db_path, found, db, target)
            if found == target:
                db.execute("ROLLBACK")
                return found
            saved = backup(db_path, found) if found else None
            for step in migrations:
                if step.version <= found:
                    continue
                try:
                    step.apply(db)
                except Exception as exc:
                    where = f" A backup of the store as it was is at {saved}." if saved else ""
                    raise step_failed(db_path, found, target, step, exc, where) from exc
            if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'").fetchone():
                db.execute("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('upgraded_by', ?)", (_release(),))
            db.execute(f"PRAGMA user_version = {int(target)}")
            _pause_for_tests()
            db.execute("COMMIT")
            return found
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


_VERSION = re.compile(r"[0-9][0-9A-Za-z.+!-]{0,39}")


def newer_store(db_path: Path, found: int, db: sqlite3.Connection, readable: int = CURRENT) -> StoreError:
    """The refusal of a store written by a newer release, with the release to install when it says."""
    writer = None
    with contextlib.suppress(sqlite3.Error):
        row = db.execute("SELECT value FROM store_meta WHERE key = 'upgraded_by'").fetchone()
        if row and isinstance(row[0], str) and _VERSION.fullmatch(row[0]):
            writer = row[0]
    if writer:
        fix = (f"Upgrade livedocs-runner to {writer} or newer (the release that upgraded this store): "
               f"pip install -U 'livedocs-runner>={writer}'")
    else:
        fix = f"Upgrade livedocs-runner to a release that reads schema version {found}: pip install -U livedocs-runner"
    return StoreError(f"{db_path} has store schema version {found}, newer than this livedocs-runner "
                      f"({_release()}) reads (up to version {readable}); it was not changed.", hint=fix)


def _release() -> str:
    from .. import __version__
    return __version__


# --- upgrading a PostgreSQL store ------------------------------------------------------------------------

PAUSE_ENV = "LIVEDOCS_TEST_MIGRATION_PAUSE"  # tests only: a file to create, then wait inside the upgrade
_LOCK = 0x6C697665646F6373  # pg_advisory_xact_lock key ('livedocs'): one migrator at a time


def _pause_for_tests() -> None:
    """When ``$LIVEDOCS_TEST_MIGRATION_PAUSE`` names a file: create it and wait, mid-transaction (so a test can
    kill -9 the process there). Unset in real use."""
    marker = os.environ.get(PAUSE_ENV)
    if marker:
        import time

        Path(marker).write_text("migrating\n")
        time.sleep(600)


def pg_schema_version(db: Any) -> int:
    row = db.execute("SELECT to_regclass('store_meta') IS NOT NULL, to_regclass('runs') IS NOT NULL").fetchone()
    if not row[0]:
        return 1 if row[1] else 0
    found = db.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    return int(found[0]) if found else 2


def upgrade_pg(store: PgStore, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The steps a PostgreSQL store lacks, in one transaction under an advisory lock; returns the version it had.
    A store newer than ``migrations`` is refused unchanged; a failing (or killed) upgrade leaves it as it was.

    The lock is taken before the transaction starts, not inside it: a transaction that began before another
    migrator committed keeps that backend's stale catalog cache (``to_regclass`` sees no tables) and would
    run step 1 again; a new transaction after the lock sees what the other one made."""
    with store._connect() as db:
        db.execute("SELECT pg_advisory_lock(?)", (_LOCK,))  # session lock: released below, or when the session ends
        try:
            return _upgrade_pg_locked(store, db, migrations)
        finally:
            with contextlib.suppress(Exception):  # a broken connection has released it already
                db.execute("SELECT pg_advisory_unlock(?)", (_LOCK,))


def _upgrade_pg_locked(store: PgStore, db: Any, migrations: Sequence[Migration]) -> int:
    target = migrations[-1].version
    db.execute("BEGIN")
    try:
        found = pg_schema_version(db)
        if found > target:
            raise newer_store(Path(store.location), found, db, target)
        if found == target:
            db.execute("ROLLBACK")
            return found
        for step in migrations:
            if step.version <= found:
                continue
            if step.postgresql is None:
                raise StoreError(f"{store.location}: store schema step {step.version} has no PostgreSQL form.",
                                 hint="Report this; keep using the release that wrote the store.")
            try:
                step.postgresql(db)
            except Exception as exc:
                raise step_failed(store.location, found, target, step, exc) from exc
        db.execute("INSERT INTO store_meta (key, value) VALUES ('schema_version', ?), ('upgraded_by', ?) "
                   "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", (str(target), _release()))
        _pause_for_tests()
        db.execute("COMMIT")
        return found
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
