"""Run records in SQLite (WAL) and a folder per run for its files.

Layout under the home folder (``--home``, ``$LIVEDOCS_HOME`` or ``.livedocs/``)::

    runs.db                       one row per run (see RunRecord); schema versions in migrations.py
    runs.db.v<N>.bak              the store as it was before an upgrade from schema version N
    notebooks/<sha256>.ipynb      the exact notebook bytes each run executed (shared by hash)
    runs/<id>/output.ipynb        the executed notebook (partial when the run failed)
    runs/<id>/report.html         the HTML report
    runs/<id>/outputs/            captured outputs: figures, metrics.json
    journal.jsonl                 the run journal's mirror (see journal.py), one hash-chained entry a line
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RunError, RunNotFound, StoreError, StoreWarning
from . import journal
from .connections import Connections
from .dialect import SQLITE
from .queue_methods import QueueMethods
from .record import (FINAL, STATUSES, BadRecord, RunRecord, _sh, _short, from_row, new_id, now,  # noqa: F401
                     to_row)  # RunRecord, FINAL, STATUSES, now, new_id: imported from here across the package
from .migrations import CURRENT, OLDEST_READABLE, newer_store, notebook_name, schema_version, upgrade

if TYPE_CHECKING:
    from .query import RunQuery



_UMASK = os.umask(0o022)  # read the process umask once (set it straight back)
os.umask(_UMASK)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temp file and ``os.replace``: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; reports are meant to be shared
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Store(QueueMethods):
    """The run store of one home folder. Safe to share between threads and processes.

    Opening it checks the schema version (one ``PRAGMA`` read when current), upgrades an older store
    in place (see :mod:`.migrations`) and refuses a newer one. A home folder or ``runs.db`` this
    process cannot write is opened read-only (:attr:`read_only`): reading works, writing raises
    :class:`StoreError`. A damaged store raises :class:`StoreError`; a damaged record is left out of
    :meth:`list` with a :class:`StoreWarning`.
    """

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home).resolve()
        self.db_path = self.home / "runs.db"
        self.location = str(self.db_path)  # where the records are, for messages (a path or a URL without password)
        self.url: str | None = None  # what open_store() was given to find the records (None: SQLite in home)
        self.dialect = SQLITE
        self._uri: str | None = None  # set for a read-only store
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot make the run store folder {self.home} ({exc.strerror or exc}).",
                             hint="Pass a folder you can write with --home or $LIVEDOCS_HOME.") from exc
        if self.db_path.exists() and not self.db_path.is_file():
            kind = "folder" if self.db_path.is_dir() else "special file"
            raise StoreError(f"{self.db_path} is a {kind}, not a run store file.",
                             hint=f"Move it away (mv {_sh(self.db_path)} {_sh(str(self.db_path) + '.old')}) and livedocs starts a "
                                  "new store there, or pass another folder with --home.")
        self.read_only = not (os.access(self.home, os.W_OK) and (not self.db_path.exists() or os.access(self.db_path, os.W_OK)))
        if self.read_only:
            self._open_read_only()
        self.version = self._open()
        self.close()  # opening leaves nothing open (no -wal/-shm files): connections are kept from the first call on

    # --- opening --------------------------------------------------------------------------

    def _open(self) -> int:
        """Check (and when needed upgrade) the schema; returns the version the store now has."""
        with self._connect() as db:
            if int(db.execute("PRAGMA user_version").fetchone()[0]) == CURRENT:
                return CURRENT  # the common case: one header read, nothing else
            found = schema_version(db)
            if found > CURRENT:
                raise newer_store(self.db_path, found, db)
        if self.read_only:
            if found == 0:
                raise StoreError(f"{self.db_path} is empty (no run store yet) and read-only here.",
                                 hint="Point --home at the folder that holds your runs, or at a folder you can write.")
            if found >= OLDEST_READABLE:
                return found  # an older schema this code still reads: read it as it is
            raise StoreError(f"{self.db_path} has store schema version {found}, which must be upgraded before "
                             "this livedocs-runner can read it, and it is read-only here.",
                             hint="Open it once with write access (e.g. `livedocs runs` as its owner) to upgrade it.")
        try:
            upgrade(self.db_path, self._raw_connection)
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from exc
        with self._connect() as db:
            _enable_wal(db)
            self._mirror(db)
        return CURRENT

    def _open_read_only(self) -> None:
        """Pick a read-only way in. With no ``-wal`` file nobody has the store open: read it as
        ``immutable`` (creates no ``-wal``/``-shm`` files, which could be left behind owned by this user
        and block the store's owner); otherwise ``mode=ro`` through the writers' WAL index."""
        if not self.db_path.is_file():
            raise StoreError(f"{self.home} holds no run store (runs.db) and is read-only, so none can be made.",
                             hint="Point --home at the folder that holds runs.db, or at a folder you can write.")
        from urllib.parse import quote

        base = "file:" + quote(str(self.db_path))
        wal = self.db_path.with_name(self.db_path.name + "-wal")
        in_use = wal.exists() and wal.stat().st_size > 0
        self._uri = base + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")
        try:
            with contextlib.closing(self._raw_connection()) as db:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc):
                raise self._failure(exc) from exc
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from exc
        if in_use:  # the WAL index cannot be made, and the WAL holds changes not yet in runs.db
            raise StoreError(f"{self.db_path} has changes not yet folded in from {wal.name}, and they cannot be "
                             "read without write access to the folder.",
                             hint="Open it once with write access (e.g. `livedocs runs` as its owner), then retry.")
        self._uri = base + "?mode=ro&immutable=1"

    def _raw_connection(self) -> sqlite3.Connection:
        if self._uri:
            db = sqlite3.connect(self._uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        else:
            db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=30000")
        return db

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one block: a kept idle one when there is one (see :class:`~.connections.Connections`)."""
        connections = self.__dict__.get("_connections")
        if connections is None:  # first use (or a Store built without __init__)
            connections = self.__dict__.setdefault("_connections", Connections())
        try:
            db, file_id, generation = connections.take(self._raw_connection, self.db_path if self._uri is None else None)
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc) from exc
        broken = False
        try:
            db.row_factory = sqlite3.Row
            yield db
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            broken = True  # e.g. a damaged or replaced file: the next call starts on a new connection
            raise self._failure(exc) from exc
        finally:
            connections.give_back(db, file_id, generation, broken=broken)

    def close(self) -> None:
        """Close the connections this store keeps open in this process; the next call opens a new one (also done
        when the store is garbage collected and at interpreter exit)."""
        connections = self.__dict__.get("_connections")
        if connections is not None:
            connections.close()

    def _failure(self, exc: sqlite3.DatabaseError) -> StoreError:
        """One clear line for what SQLite said about the store file."""
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return StoreError(f"{self.db_path} is read-only here, and this command records runs ({text}).",
                              hint="Run it with write access to the store, or record elsewhere with --home.")
        if "locked" in text or "busy" in text:
            return StoreError(f"{self.db_path} stayed locked by another process for 30 s ({text}).",
                              hint="Wait for the other livedocs process to finish, then retry.")
        if "full" in text:
            return StoreError(f"{self.db_path}: the disk is full ({text}).", hint="Free some space, then retry.")
        backups = sorted(p.name for p in self.home.glob(self.db_path.name + ".v*.bak"))
        restore = f", or restore a backup over it ({', '.join(backups)})" if backups else ""
        return StoreError(f"{self.db_path} is damaged or not a run store ({text}).",
                          hint=f"Move it aside (mv {_sh(self.db_path)} {_sh(str(self.db_path) + '.broken')}) and livedocs starts a "
                               f"new, empty store{restore}.")

    # --- files ----------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    def keep_notebook(self, raw: bytes, sha256: str) -> Path:
        """Store the exact notebook bytes that ran (once per content hash)."""
        path = self.home / "notebooks" / f"{sha256}.ipynb"
        if not path.exists():
            self._writable()
            try:
                atomic_write(path, raw)
            except OSError as exc:
                raise StoreError(f"cannot keep the copy of the notebook that runs in {path} ({exc.strerror or exc}).",
                                 hint="Free some space or fix the folder's permissions, or record elsewhere "
                                      "with --home.") from exc
        return path

    # --- records --------------------------------------------------------------------------

    def add(self, record: RunRecord) -> RunRecord:
        self._writable()
        with self._connect() as db:
            return self._insert(db, record)

    def add_all(self, records: list[RunRecord]) -> list[RunRecord]:
        """:meth:`add` for many records in one transaction: a batch's queued runs cost one commit, not one each."""
        with self._write() as db:
            return [self._insert(db, record) for record in records]

    def _insert(self, db: Any, record: RunRecord) -> RunRecord:
        record = dataclasses.replace(record, created_at=record.created_at or now(),
                                     run_dir=record.run_dir or str(self.run_dir(record.id)))
        row = to_row(record)
        row["notebook_name"] = notebook_name(record.notebook)
        columns = ", ".join(f'"{k}"' for k in row)
        db.execute(f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        return record

    def update(self, record: RunRecord, **changes: Any) -> RunRecord:
        self._writable()
        if dataclasses.replace(record, **changes).status not in FINAL:
            with self._connect() as db:
                return self._apply(db, record, changes)
        # a final record: the update and its journal entry in one transaction (this is the one place a
        # record becomes final, or changes once final, so none is missed)
        with self._write(mirror=True) as db:
            return self._apply(db, record, changes)

    def _apply(self, db: Any, record: RunRecord, changes: dict[str, Any]) -> RunRecord:
        """UPDATE the row (inside the caller's write transaction when the record is final: then it is
        journaled and its queue row, if any, closed)."""
        record = dataclasses.replace(record, **changes)
        row = to_row(record)
        columns = list(changes)
        if "notebook" in changes:
            row["notebook_name"] = notebook_name(record.notebook)
            columns.append("notebook_name")
        sets = ", ".join(f'"{k}" = ?' for k in columns)
        db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [row[k] for k in columns] + [record.id])
        if record.status in FINAL:
            stored = db.execute("SELECT * FROM runs WHERE id = ?", (record.id,)).fetchone()
            if stored is not None:
                if self.dialect.journal_lock:
                    db.execute(self.dialect.journal_lock)
                journal.append(db, self.home, journal.record_fields(from_row(stored)), at=now(),
                               key=journal.journal_key())
            if self.version >= 5:
                db.execute("UPDATE queue SET state = 'done' WHERE run_id = ? AND state <> 'done'", (record.id,))
        return record

    @contextlib.contextmanager
    def _write(self, *, mirror: bool = False) -> Iterator[Any]:
        """One write transaction that takes the write lock first (SQLite: ``BEGIN IMMEDIATE``), so what it reads
        stays true until it commits; ``mirror``: it may journal, catch the journal mirror up after it."""
        self._writable()
        with self._connect() as db:
            db.execute(self.dialect.begin_write)
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            if mirror:
                self._mirror(db)

    def _mirror(self, db: sqlite3.Connection) -> None:
        """Catch ``journal.jsonl`` up with the journal table (a failure leaves it behind, caught up next time)."""
        try:
            journal.mirror(db, self.home)
        except OSError as exc:
            warnings.warn(StoreWarning(f"{self.home / journal.MIRROR} could not be written ({exc.strerror or exc}); "
                                       "the journal table has the entries and the next run catches it up."), stacklevel=3)

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.db_path} is read-only here, and this command records runs.",
                             hint="Run it with write access to the store, or record elsewhere with --home.")

    def get(self, run_id: str) -> RunRecord:
        """A run by full id or unambiguous prefix."""
        prefix = run_id.strip()
        if not prefix or any(c not in "0123456789abcdef" for c in prefix.lower()):
            raise RunNotFound(f"{_short(run_id)} is not a run id.", hint="Run ids are hex, e.g. from `livedocs runs`.")
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE id >= ? AND id < ? ORDER BY created_at LIMIT 6",
                              (prefix.lower(), prefix.lower() + "g")).fetchall()
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in {self.home}.", hint="List runs with `livedocs runs`.")
        if len(rows) > 1:
            ids = ", ".join(str(r["id"]) for r in rows[:5])
            raise RunNotFound(f"run id prefix {run_id!r} is ambiguous ({ids}...).", hint="Give more characters.")
        try:
            return from_row(rows[0])
        except BadRecord as bad:
            raise StoreError(f"{self.db_path}: {bad}.", hint=bad.fix(self.db_path)) from None

    def list(self, *, notebook: str | None = None, scenario: str | None = None, status: str | None = None,
             config: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """Newest first, filtered. ``notebook`` with a folder in it matches that full path exactly;
        a bare file name matches runs of any notebook with exactly that name (case-sensitive).
        A damaged record is left out with a :class:`StoreWarning`."""
        where, args = [], []
        if notebook:
            if os.sep in notebook or (os.altsep and os.altsep in notebook):
                where.append("notebook = ?")
                args.append(_resolved(notebook))
            elif self.version >= 2:
                where.append("notebook_name = ?")
                args.append(notebook)
            else:  # a read-only schema-1 store: the same exact match, without the index
                where.append("substr(notebook, -?) = ?")
                args += [len(os.sep + notebook), os.sep + notebook]
        for column, value in (("scenario", scenario), ("status", status), ("config", config)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY created_at DESC, {self.dialect.order_tiebreak} DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as db:
            rows = db.execute(sql, args).fetchall()
        return self._records(rows)

    def query(self, query: RunQuery) -> list[RunRecord]:
        """Runs matching ``query`` (dates, users, triggers, parameter values...: see :mod:`.query`), newest
        first, ``query.limit`` of them from ``query.offset`` (a page). ``config`` is a path and ``notebook`` a path
        or a bare file name, as in :meth:`list`. A damaged record is left out with a :class:`StoreWarning`."""
        from .query import where

        if query.config:
            query = dataclasses.replace(query, config=_resolved(query.config))
        path = name = None
        if query.notebook and (os.sep in query.notebook or (os.altsep and os.altsep in query.notebook)):
            path = _resolved(query.notebook)
        elif query.notebook:
            name = query.notebook
        clause, args = where(query, path, name, by_suffix=self.version < 2, dialect=self.dialect.name)
        sql = (f"SELECT * FROM runs{clause} ORDER BY created_at DESC, {self.dialect.order_tiebreak} DESC "
               f"LIMIT {int(query.limit) if query.limit else self.dialect.no_limit} OFFSET ?")
        with self._connect() as db:
            rows = db.execute(sql, [*args, max(0, query.offset)]).fetchall()
        return self._records(rows)

    def _records(self, rows: list[sqlite3.Row]) -> list[RunRecord]:
        records = []
        for row in rows:
            try:
                records.append(from_row(row))
            except BadRecord as bad:
                warnings.warn(StoreWarning(f"{self.db_path}: {bad}; it is left out. {bad.fix(self.db_path)}"), stacklevel=3)
        return records

    def find_cached(self, cache_key: str) -> RunRecord | None:
        """The newest succeeded, executed (not itself cached) run with this cache key."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE cache_key = ? AND status = 'succeeded' AND cache_of IS NULL "
                              "ORDER BY created_at DESC LIMIT 5", (cache_key,)).fetchall()
        records = self._records(rows)
        return records[0] if records else None

    def abandon_stale(self) -> int:
        """Mark queued/running runs of dead processes of this host as cancelled; returns the count.
        Runs in the durable queue are left to its workers (``recover_lost`` requeues or fails them).
        A read-only store is left as it is (0)."""
        if self.read_only:
            return 0
        fixed = 0
        with self._connect() as db:  # the queue's runs are left out in SQL: a long queue costs `livedocs runs` nothing
            rows = db.execute("SELECT * FROM runs WHERE status IN ('running', 'queued') AND id NOT IN "
                              "(SELECT run_id FROM queue WHERE state <> 'done') ORDER BY status = 'queued', "
                              f"created_at DESC, {self.dialect.order_tiebreak} DESC").fetchall()
        for record in self._records(rows):
            env = record.environment or {}
            if env.get("hostname") != platform.node() or not env.get("pid") or _alive(env["pid"]):
                continue
            abandoned = RunError(ename="Abandoned", evalue="the process running it ended before the run finished")
            self.update(record, status="cancelled", finished_at=now(), error=record.error or abandoned.to_json())
            fixed += 1
        return fixed


def _enable_wal(db: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to WAL once per database. Switching can report SQLITE_BUSY without waiting on the
    busy timeout while another process opens the same new store, so check first and retry."""
    for attempt in range(attempts):
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _resolved(path: str) -> str:
    """The absolute, symlink-free form records keep; as given when it cannot name a file (a NUL in it)."""
    try:
        return str(Path(path).resolve())
    except (OSError, ValueError):
        return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True




def open_store(home: str | Path, db: str | None = None) -> Store:
    """The run store: records where ``db`` says (a ``postgresql://`` URL), else SQLite (``runs.db``) in the home
    folder; run files always in ``home``. The one way livedocs builds a store (``--db`` / ``$LIVEDOCS_DB``).

    Usage: ``open_store(".livedocs")``, ``open_store("/shared/livedocs", "postgresql://livedocs@db/livedocs")``
    """
    if not db:
        return Store(home)
    scheme = db.partition("://")[0].lower() if "://" in db else ""
    if scheme in ("postgresql", "postgres"):
        from .pg import PgStore
        return PgStore(home, db)
    if scheme == "sqlite":
        raise StoreError(f"--db {_short(db)}: SQLite is the default and lives in the home folder (runs.db).",
                         hint="Leave --db and $LIVEDOCS_DB unset for SQLite, and choose its folder with --home.")
    raise StoreError(f"--db {_short(_redact(db))} is not a store URL livedocs knows.",
                     hint="Give a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE), or leave --db unset for SQLite "
                          "in the home folder.")


def _redact(url: str) -> str:
    """A URL without its password, for messages."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url.split("@")[-1]
