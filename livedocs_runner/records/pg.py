"""The run store on PostgreSQL (psycopg 3): the same :class:`~.store.Store`, records in a database, run files in
the home folder (a shared filesystem for a team).

The store's SQL is written once with ``?`` placeholders over DB-API; :class:`Connection` adapts a psycopg
connection to the few sqlite3 habits the store relies on (``execute`` returning a cursor, rows read by name
or position, ``in_transaction``). One connection per thread is kept open; after a server restart the first
statement of the next call finds it broken and reconnects once (nothing was done on it yet, so that is safe).
psycopg is imported only here, only for a ``postgresql://`` URL.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .dialect import POSTGRESQL
from .migrations import MIGRATIONS, Migration, pg_schema_version, upgrade_pg
from .store import Store, _redact

try:
    import psycopg
    from psycopg import pq
except ImportError:  # pragma: no cover - the hint says what to install
    psycopg = None  # type: ignore[assignment]


_INHERITED: list[Any] = []  # connections a forked process inherited (kept, never used or closed)


class Row:
    """A row read by column name or position, and unpacked like a tuple (as ``sqlite3.Row``)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, int):
            return self._values[key]
        return self._values[self._names.index(key)]

    def keys(self) -> list[str]:
        return list(self._names)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _rows(cursor: Any) -> Any:
    names = [c.name for c in cursor.description] if cursor.description else []
    return lambda values: Row(names, values)


def _sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Connection:
    """A psycopg connection (autocommit; ``BEGIN``/``COMMIT`` sent as statements) with sqlite3's calls."""

    def __init__(self, store: PgStore, raw: Any, *, owned: bool = False) -> None:
        self._store = store
        self._raw = raw
        self._owned = owned  # its own connection (a reader): closed by close()
        self._fresh = True  # nothing sent yet in this use: a broken connection may be replaced and retried

    @property
    def in_transaction(self) -> bool:
        return self._raw.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> Any:
        fresh, self._fresh = self._fresh, False
        try:
            return self._raw.execute(_sql(sql) if args else sql, list(args) if args else None)
        except psycopg.OperationalError:
            if not fresh or not self._raw.broken and not self._raw.closed:
                raise
            self._raw = self._store._reconnect()
            return self._raw.execute(_sql(sql) if args else sql, list(args) if args else None)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._fresh = False
        with self._raw.cursor() as cursor:
            cursor.executemany(_sql(sql), [list(r) for r in rows])

    def close(self) -> None:  # the thread's connection stays open for its next call
        if self._owned:
            self._raw.close()


class PgStore(Store):
    """The run store with records in PostgreSQL. Usage: ``open_store(home, "postgresql://livedocs@db/livedocs")``."""

    def __init__(self, home: str | Path, url: str, *, migrations: Sequence[Migration] | None = None) -> None:
        """``migrations``: the steps to bring it to (default all; a shorter list makes an older store, for tests)."""
        if psycopg is None:
            raise StoreError("a PostgreSQL store needs psycopg 3, which is not installed.",
                             hint="Install it with: pip install 'livedocs-runner[team]'")
        self.home = Path(home).resolve()
        self.url = url
        self.location = _redact(url)
        self.db_path = Path(self.location)  # what messages name
        self.dialect = POSTGRESQL
        self.read_only = False
        self._uri = None
        self._local = threading.local()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot make the run files folder {self.home} ({exc.strerror or exc}).",
                             hint="Pass a folder you can write with --home or $LIVEDOCS_HOME (a shared folder "
                                  "for a team).") from exc
        self.version = self._open(migrations or MIGRATIONS)

    def _open(self, migrations: Sequence[Migration]) -> int:  # type: ignore[override]
        target = migrations[-1].version
        with self._connect() as db:
            if pg_schema_version(db) == target:
                return target  # the common case: one query
        upgrade_pg(self, migrations)
        return target

    # --- connections ----------------------------------------------------------------------

    def _new(self) -> Any:
        try:
            raw = psycopg.connect(self.url, autocommit=True, connect_timeout=30, row_factory=_rows)
        except psycopg.Error as exc:
            raise self._failure(exc) from exc
        raw.execute("SET TIME ZONE 'UTC'")
        return raw

    def _reconnect(self) -> Any:
        old = getattr(self._local, "conn", None)
        if old is not None and getattr(self._local, "pid", None) != os.getpid():
            _INHERITED.append(old)  # a forked child's copy of its parent's session: never closed here (that would end it)
        elif old is not None:
            with contextlib.suppress(Exception):
                old.close()
        self._local.conn = self._new()
        self._local.pid = os.getpid()
        return self._local.conn

    def _raw_connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken or self._local.pid != os.getpid():
            conn = self._reconnect()
        return Connection(self, conn)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Any]:
        db = self._raw_connection()
        try:
            yield db
        except psycopg.IntegrityError:
            self._settle(db)
            raise
        except psycopg.Error as exc:
            self._settle(db)
            raise self._failure(exc) from exc
        except BaseException:
            self._settle(db)
            raise
        self._settle(db)

    def _settle(self, db: Connection) -> None:
        """Leave the thread's connection idle for its next use (a transaction left open is rolled back)."""
        raw = db._raw
        if not raw.closed and not raw.broken and db.in_transaction:
            with contextlib.suppress(psycopg.Error):
                raw.execute("ROLLBACK")

    def _failure(self, exc: Exception) -> StoreError:  # type: ignore[override]
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, psycopg.OperationalError):
            return StoreError(f"cannot reach the PostgreSQL store {self.location} ({text}).",
                              hint="Check that the server is running and the URL (--db / $LIVEDOCS_DB: "
                                   "postgresql://USER@HOST:PORT/DATABASE, password in ~/.pgpass), then retry.")
        return StoreError(f"the PostgreSQL store {self.location} refused a request ({text}).",
                          hint="Report this with the output of `livedocs --debug ...`.")

    def reader(self) -> Connection:
        """A connection of its own whose every transaction is a read-only snapshot (``verify``, audit export)."""
        raw = self._new()
        raw.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return Connection(self, raw, owned=True)

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def abandon_stale(self) -> int:
        return super().abandon_stale()
