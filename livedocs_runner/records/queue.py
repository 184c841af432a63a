"""The durable run queue: queued runs, the workers that claim them, heartbeats, cancels and lost workers.

The store holds the truth (store schema 5, the ``queue`` table): a submitted run is a ``queued`` record plus
a queue row with its job payload. A worker :func:`claim` s the next one atomically (SQLite: ``BEGIN
IMMEDIATE``, the write lock; PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``), heartbeats while it runs
(with live progress; the answer says whether a cancel was requested) and finishes the record with
``Store.update`` as any run does, which also closes its queue row. :func:`recover_lost` finds runs whose
worker stopped heartbeating.

Fairness: the next run is the one of the user with the fewest runs claimed now, then the oldest
submission; :func:`queue_place` is the place that order gives a queued run (1 = next).

Queue row states: ``queued`` -> ``claimed`` (a worker has it) -> ``done`` (the record is final).
Usage (a worker)::

    job = store.claim(worker_id())
    while running: cancel = store.heartbeat(job.record.id, worker, cell=3, cells=12, step="cell 3")
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..errors import InputError, RunError, StoreError
from .record import FINAL, RunRecord, from_row, now

if TYPE_CHECKING:
    from .store import Store

HEARTBEAT_ENV = "LIVEDOCS_HEARTBEAT_S"
DEFAULT_HEARTBEAT_S = 5.0
SCHEMA = 5  # the store schema that has the queue table


@dataclass(frozen=True)
class QueuedJob:
    """A claimed run: its record (``running``, ``started_at`` set), the job payload given to ``enqueue``, and
    which claim this is (1 the first, 2 after a requeue)."""

    record: RunRecord
    job: dict[str, Any]
    attempt: int


@dataclass(frozen=True)
class LiveProgress:
    """What the worker running a run last said: cell ``cell`` of ``cells``, a free ``step`` text, who and when."""

    cell: int | None
    cells: int | None
    step: str | None
    worker: str | None
    heartbeat_at: str | None


def heartbeat_s(environ: dict[str, str] | None = None) -> float:
    """``$LIVEDOCS_HEARTBEAT_S`` (seconds between heartbeats; default 5)."""
    raw = (os.environ if environ is None else environ).get(HEARTBEAT_ENV, "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise InputError(f"{HEARTBEAT_ENV}={raw[:40]!r} is not a number of seconds between 0 and 3600.",
                         hint=f"Set it to e.g. {HEARTBEAT_ENV}=5, or unset it for the default (5).")
    return value


def worker_id(n: int = 0) -> str:
    """This process's worker id: ``host:pid:n``."""
    return f"{platform.node()}:{os.getpid()}:{n}"


def _json(job: dict[str, Any]) -> str:
    try:
        return json.dumps(job, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"the job payload of a queued run cannot be kept as JSON ({str(exc)[:120]}).",
                         hint="Queue JSON-compatible plans and options (text, numbers, booleans, lists, mappings).") from None


def _needs_queue(store: Store) -> None:
    if store.version < SCHEMA:
        raise StoreError(f"{store.location} has store schema version {store.version}, which has no run queue, "
                         "and it is read-only here.", hint="Open it once with write access to upgrade it.")


def enqueue(store: Store, record: RunRecord, job: dict[str, Any]) -> RunRecord:
    """Keep a ``queued`` record and its job payload (one transaction); returns the record as stored."""
    _needs_queue(store)
    payload = _json(job)
    record = dataclasses.replace(record, status="queued", started_at=None, finished_at=None)
    with store._write() as db:
        record = store._insert(db, record)
        db.execute('INSERT INTO queue (run_id, "user", notebook_name, submitted_at, state, job) '
                   "VALUES (?, ?, ?, ?, 'queued', ?)",
                   (record.id, record.user or "", _name(record.notebook), record.created_at, payload))
    return record


def _name(notebook: str) -> str | None:
    from .migrations import notebook_name
    return notebook_name(notebook)


def glob_regex(pattern: str) -> str:
    """A shell glob (``*``, ``?``, ``[...]``, ``[!...]``; case-sensitive, the whole name) as the POSIX regex
    PostgreSQL's ``~`` matches the same names with."""
    out, i, n = ["^"], 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + (pattern[i:i + 1] == "!")
            j += pattern[j:j + 1] == "]"
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal '['
                out.append("\\[")
                continue
            body, i = pattern[i:j], j + 1
            negate = body.startswith("!")
            body = (body[1:] if negate else body).replace("\\", "\\\\").replace("^", "\\^")
            out.append("[" + ("^" if negate else "") + body + "]")
        else:
            out.append(re.escape(c))
    out.append("$")
    return "".join(out)


_CLAIMED = 'SELECT "user", count(*) AS n FROM queue WHERE state = \'claimed\' GROUP BY "user"'


def claim(store: Store, worker: str, *, notebooks: str | None = None) -> QueuedJob | None:
    """Take the next queued run (fair between users), mark it running for ``worker``; None when none waits."""
    _needs_queue(store)
    if not worker:
        raise InputError("a worker needs an id to claim runs.", hint="Use worker_id() (host:pid:n).")
    match = f" AND q.notebook_name {store.dialect.glob} ?" if notebooks else ""
    sql = (f"SELECT q.seq, q.run_id, q.job, q.attempt FROM queue AS q LEFT JOIN ({_CLAIMED}) AS c "
           f'ON c."user" = q."user" WHERE q.state = \'queued\'{match} '
           f"ORDER BY coalesce(c.n, 0), q.seq LIMIT 1{store.dialect.lock_skip}")
    at = now()
    with store._write() as db:
        args = [store.dialect.glob_arg(db, notebooks)] if notebooks else []
        row = db.execute(sql, args).fetchone()
        if row is None:
            return None
        db.execute("UPDATE queue SET state = 'claimed', worker = ?, claimed_at = ?, heartbeat_at = ?, "
                   "attempt = attempt + 1, cell = NULL, cells = NULL, step = NULL WHERE seq = ?",
                   (worker, at, at, row["seq"]))
        db.execute("UPDATE runs SET status = 'running', started_at = ? WHERE id = ?", (at, row["run_id"]))
        stored = db.execute("SELECT * FROM runs WHERE id = ?", (row["run_id"],)).fetchone()
    return QueuedJob(record=from_row(stored), job=json.loads(row["job"]), attempt=int(row["attempt"]) + 1)


def heartbeat(store: Store, run_id: str, worker: str, *, cell: int | None = None, cells: int | None = None,
              step: str | None = None) -> bool:
    """Refresh ``worker``'s heartbeat on ``run_id`` and its live progress (a None field keeps the last value).
    True means stop: a cancel was requested, or the run is no longer this worker's (recovered as lost)."""
    store._writable()
    with store._connect() as db:
        row = db.execute("UPDATE queue SET heartbeat_at = ?, cell = coalesce(?, cell), cells = coalesce(?, cells), "
                         "step = coalesce(?, step) WHERE run_id = ? AND worker = ? AND state = 'claimed' "
                         "RETURNING cancel_requested",
                         (now(), cell, cells, None if step is None else str(step)[:500], run_id, worker)).fetchone()
    return row is None or bool(row[0])


def request_cancel(store: Store, run_id: str) -> RunRecord:
    """A queued run is cancelled at once (final); a running one is flagged for its worker's next heartbeat.
    A finished run is returned as it is."""
    record = store.get(run_id)
    if record.status in FINAL:
        return record
    with store._write(mirror=True) as db:
        row = db.execute("SELECT state FROM queue WHERE run_id = ?" + store.dialect.lock, (record.id,)).fetchone()
        current = from_row(db.execute("SELECT * FROM runs WHERE id = ?", (record.id,)).fetchone())
        if current.status in FINAL:
            return current
        if row is not None and row["state"] == "claimed":
            db.execute("UPDATE queue SET cancel_requested = 1 WHERE run_id = ?", (record.id,))
            return current
        if row is None and current.status == "running":  # not a queued run (e.g. a CLI run): nothing can reach it
            return current
        cancelled = RunError(ename="Cancelled", evalue="cancelled before it started")
        return store._apply(db, current, {"status": "cancelled", "finished_at": now(),
                                          "error": current.error or cancelled.to_json()})


def progress(store: Store, run_id: str) -> LiveProgress | None:
    if store.version < SCHEMA:
        return None
    with store._connect() as db:
        row = db.execute("SELECT cell, cells, step, worker, heartbeat_at FROM queue WHERE run_id = ?",
                         (run_id,)).fetchone()
    if row is None:
        return None
    return LiveProgress(cell=row["cell"], cells=row["cells"], step=row["step"], worker=row["worker"],
                        heartbeat_at=row["heartbeat_at"])


def queue_place(store: Store, run_id: str) -> int | None:
    """1-based place of a queued run in the fair order claims follow (None: not queued). A user's k-th queued
    run comes after every user's runs with a smaller ``claimed + k``; ties go to the older submission."""
    if store.version < SCHEMA:
        return None
    with store._connect() as db:
        claimed = {r["user"]: int(r["n"]) for r in db.execute(_CLAIMED)}
        rows = db.execute('SELECT seq, run_id, "user" FROM queue WHERE state = \'queued\' ORDER BY seq').fetchall()
    seen: dict[str, int] = {}
    keys = []
    for row in rows:
        user = row["user"]
        k = seen.get(user, 0)
        seen[user] = k + 1
        keys.append((claimed.get(user, 0) + k, int(row["seq"]), row["run_id"]))
    for place, (_, _, rid) in enumerate(sorted(keys), 1):
        if rid == run_id:
            return place
    return None


def _cutoff(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


def recover_lost(store: Store, heartbeat_s: float) -> list[RunRecord]:
    """Runs whose worker has not heartbeated for 3 x ``heartbeat_s``: requeued once when no cell had started
    (first attempt), else finished ``failed`` with ``WorkerLost`` (partial output kept; ``cancelled`` when a
    cancel had been asked for). Returns them as they are now."""
    if store.read_only or store.version < SCHEMA:
        return []
    found = []
    with store._write(mirror=True) as db:
        rows = db.execute("SELECT run_id, worker, attempt, cell, cancel_requested, heartbeat_at FROM queue AS q "
                          "WHERE state = 'claimed' AND heartbeat_at < ? ORDER BY seq" + store.dialect.lock_skip,
                          (_cutoff(3 * heartbeat_s),)).fetchall()
        for row in rows:
            stored = db.execute("SELECT * FROM runs WHERE id = ?", (row["run_id"],)).fetchone()
            if stored is None:
                continue
            record = from_row(stored)
            if record.status in FINAL:  # finished, its queue row not closed (a run recorded by an older release)
                db.execute("UPDATE queue SET state = 'done' WHERE run_id = ?", (record.id,))
                continue
            if int(row["attempt"]) < 2 and row["cell"] is None and not row["cancel_requested"]:
                db.execute("UPDATE queue SET state = 'queued', worker = NULL, claimed_at = NULL, heartbeat_at = NULL, "
                           "step = NULL WHERE run_id = ?", (record.id,))
                db.execute("UPDATE runs SET status = 'queued', started_at = NULL WHERE id = ?", (record.id,))
                found.append(dataclasses.replace(record, status="queued", started_at=None))
                continue
            found.append(store._apply(db, record, _lost(record, row)))
    return found


def _lost(record: RunRecord, row: Any) -> dict[str, Any]:
    at = now()
    changes: dict[str, Any] = {"finished_at": at}
    if record.started_at:
        try:
            started = datetime.fromisoformat(record.started_at)
            changes["duration_s"] = round((datetime.fromisoformat(at) - started).total_seconds(), 3)
        except ValueError:
            pass
    partial = os.path.join(record.run_dir, "output.ipynb") if record.run_dir else None
    if not record.output_notebook and partial and os.path.isfile(partial):
        changes["output_notebook"] = partial
    if row["cancel_requested"]:
        changes["status"] = "cancelled"
        changes["error"] = record.error or RunError(ename="Cancelled", evalue="cancelled; its worker "
                                                    f"{row['worker']} stopped answering").to_json()
        return changes
    where = f" in cell {row['cell']}" if row["cell"] is not None else ""
    changes["status"] = "failed"
    changes["error"] = RunError(ename="WorkerLost", evalue=f"worker {row['worker']} stopped heartbeating{where} "
                                f"(last heartbeat {row['heartbeat_at']})", cell=row["cell"]).to_json()
    return changes


def release(store: Store, run_id: str, worker: str) -> None:
    """A worker shutting down gives back a run it claimed but has not started (no cell yet): queued again,
    the claim not counted as an attempt. A started run, or one not this worker's, is left alone."""
    with store._write() as db:
        row = db.execute("SELECT cell FROM queue WHERE run_id = ? AND worker = ? AND state = 'claimed'"
                         + store.dialect.lock, (run_id, worker)).fetchone()
        if row is None or row["cell"] is not None:
            return
        db.execute("UPDATE queue SET state = 'queued', worker = NULL, claimed_at = NULL, heartbeat_at = NULL, "
                   "attempt = attempt - 1, step = NULL WHERE run_id = ?", (run_id,))
        db.execute("UPDATE runs SET status = 'queued', started_at = NULL WHERE id = ?", (run_id,))


__all__ = ["QueuedJob", "LiveProgress", "HEARTBEAT_ENV", "heartbeat_s", "worker_id"]
