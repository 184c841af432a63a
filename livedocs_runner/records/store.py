"""Run records in SQLite (WAL) and a folder per run for its files.

Layout under the home folder (``--home``, ``$LIVEDOCS_HOME`` or ``.livedocs/``)::

    runs.db                       one row per run (see RunRecord)
    notebooks/<sha256>.ipynb      the exact notebook bytes each run executed (shared by hash)
    runs/<id>/output.ipynb        the executed notebook (partial when the run failed)
    runs/<id>/report.html         the HTML report
    runs/<id>/outputs/            captured outputs: figures, metrics.json
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import RunNotFound

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")
_JSON_FIELDS = ("parameters", "error", "metrics", "inputs", "environment", "outputs")


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """Everything known about one run; the JSON of ``livedocs show --json``."""

    id: str
    status: str = "queued"
    notebook: str
    notebook_sha256: str
    notebook_copy: str = ""
    config: str | None = None
    title: str = ""
    scenario: str = "default"
    parameters: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    error: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    trigger: str = "cli"
    user: str = ""
    run_dir: str = ""
    output_notebook: str | None = None
    report_html: str | None = None
    outputs: list[str] = field(default_factory=list)
    rerun_of: str | None = None
    cache_of: str | None = None
    cache_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_COLUMNS = [f.name for f in dataclasses.fields(RunRecord)]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs ({", ".join(c + (" TEXT PRIMARY KEY" if c == "id" else "") for c in _COLUMNS)});
CREATE INDEX IF NOT EXISTS runs_created ON runs(created_at);
CREATE INDEX IF NOT EXISTS runs_cache ON runs(cache_key, status);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_id() -> str:
    """12 random hex digits: short enough to type, unique enough across processes."""
    return uuid.uuid4().hex[:12]


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


class Store:
    """The run store of one home folder. Safe to share between threads and processes."""

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home).resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.db_path = self.home / "runs.db"
        with self._connect() as db:
            _enable_wal(db)
            db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            yield db
        finally:
            db.close()

    # --- files ----------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self.home / "runs" / run_id

    def keep_notebook(self, raw: bytes, sha256: str) -> Path:
        """Store the exact notebook bytes that ran (once per content hash)."""
        path = self.home / "notebooks" / f"{sha256}.ipynb"
        if not path.exists():
            atomic_write(path, raw)
        return path

    # --- records --------------------------------------------------------------------------

    def add(self, record: RunRecord) -> RunRecord:
        record = dataclasses.replace(record, created_at=record.created_at or now(),
                                     run_dir=record.run_dir or str(self.run_dir(record.id)))
        row = _to_row(record)
        with self._connect() as db:
            db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        return record

    def update(self, record: RunRecord, **changes: Any) -> RunRecord:
        record = dataclasses.replace(record, **changes)
        row = _to_row(record)
        sets = ", ".join(f"{k} = ?" for k in changes)
        with self._connect() as db:
            db.execute(f"UPDATE runs SET {sets} WHERE id = ?", [row[k] for k in changes] + [record.id])
        return record

    def get(self, run_id: str) -> RunRecord:
        """A run by full id or unambiguous prefix."""
        prefix = run_id.strip()
        if not prefix or any(c not in "0123456789abcdef" for c in prefix.lower()):
            raise RunNotFound(f"{run_id!r} is not a run id.", hint="Run ids are hex, e.g. from `livedocs runs`.")
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs WHERE id LIKE ? ORDER BY created_at LIMIT 6", (prefix.lower() + "%",)).fetchall()
        if not rows:
            raise RunNotFound(f"no run {run_id!r} in {self.home}.", hint="List runs with `livedocs runs`.")
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise RunNotFound(f"run id prefix {run_id!r} is ambiguous ({ids}...).", hint="Give more characters.")
        return _from_row(rows[0])

    def list(self, *, notebook: str | None = None, scenario: str | None = None, status: str | None = None,
             config: str | None = None, limit: int | None = 50) -> list[RunRecord]:
        """Newest first, filtered; ``notebook`` matches the full path or its file name."""
        where, args = [], []
        if notebook:
            where.append("(notebook = ? OR notebook LIKE ?)")
            args += [str(Path(notebook).resolve()) if os.sep in notebook else notebook, f"%{os.sep}{Path(notebook).name}"]
        for column, value in (("scenario", scenario), ("status", status), ("config", config)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC, rowid DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as db:
            return [_from_row(r) for r in db.execute(sql, args).fetchall()]

    def find_cached(self, cache_key: str) -> RunRecord | None:
        """The newest succeeded, executed (not itself cached) run with this cache key."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE cache_key = ? AND status = 'succeeded' AND cache_of IS NULL "
                             "ORDER BY created_at DESC LIMIT 1", (cache_key,)).fetchone()
        return _from_row(row) if row else None

    def abandon_stale(self) -> int:
        """Mark queued/running runs of dead processes of this host as cancelled; returns the count."""
        fixed = 0
        for record in self.list(status="running", limit=None) + self.list(status="queued", limit=None):
            env = record.environment or {}
            if env.get("hostname") != platform.node() or not env.get("pid") or _alive(env["pid"]):
                continue
            self.update(record, status="cancelled", finished_at=now(),
                        error=record.error or {"ename": "Abandoned", "evalue": "the process running it ended", "cell": None})
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _to_row(record: RunRecord) -> dict[str, Any]:
    row = dataclasses.asdict(record)
    for key in _JSON_FIELDS:
        row[key] = json.dumps(row[key], ensure_ascii=False) if row[key] is not None else None
    return row


def _from_row(row: sqlite3.Row) -> RunRecord:
    data = {k: row[k] for k in row.keys() if k in _COLUMNS}
    for key in _JSON_FIELDS:
        if data.get(key) is not None:
            data[key] = json.loads(data[key])
    if data.get("duration_s") is not None:
        data["duration_s"] = float(data["duration_s"])
    return RunRecord(**{k: v for k, v in data.items() if v is not None or k in ("error",)})
