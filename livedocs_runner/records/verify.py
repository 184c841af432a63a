"""``livedocs verify``: recompute the journal's chain, each final record's hashes and each file's hash.

Read-only (the store is opened ``mode=ro``; nothing is written, not even a torn journal line is cut).
Streams: the journal table, ``journal.jsonl`` and the runs are read row by row, so memory stays
constant whatever the store's size (a bounded cache keeps shared files from being hashed twice).
Each problem is one :class:`Finding`, named: which run, which field, which file, which entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import StoreError
from . import journal
from .migrations import schema_version
from .record import FINAL, BadRecord, from_row

_MAX_SAME = 20  # findings of one kind printed before "and N more"


@dataclass(frozen=True)
class Finding:
    """One thing that is off. ``kind``: record, file, chain, mirror, unjournaled, deleted, key."""

    kind: str
    message: str
    run: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "run": self.run, "message": self.message}


@dataclass
class Summary:
    runs: int = 0
    entries: int = 0
    mirror_lines: int = 0
    keyed: int = 0
    unkeyed: int = 0
    findings: int = 0
    torn_tail: bool = False

    @property
    def clean(self) -> bool:
        return self.findings == 0

    def keying(self) -> str:
        if self.keyed and self.unkeyed:
            return f"{self.keyed} entries keyed (HMAC-SHA256), {self.unkeyed} not keyed"
        if self.keyed:
            return "entries keyed (HMAC-SHA256)"
        return "entries not keyed (plain SHA-256; set LIVEDOCS_JOURNAL_KEY when recording to key them)"

    def to_json(self) -> dict[str, Any]:
        return {"summary": True, "clean": self.clean, "runs": self.runs, "entries": self.entries,
                "mirror_lines": self.mirror_lines, "keyed": self.keyed, "unkeyed": self.unkeyed,
                "findings": self.findings, "torn_last_line": self.torn_tail}


def open_read_only(home: Path, url: str | None = None) -> Any:
    """A connection for reading the journal and records (``url``: the PostgreSQL store's; a connection of its own
    whose transactions are read-only snapshots)."""
    if url:
        from .pg import PgStore

        return PgStore(home, url).reader()
    db_path = home / "runs.db"
    if not db_path.is_file():
        raise StoreError(f"{home} holds no run store (runs.db).", hint="Point --home at the folder that holds runs.db.")
    try:
        db = sqlite3.connect(f"file:{quote(str(db_path))}?mode=ro", uri=True, timeout=30, isolation_level=None)
        version = schema_version(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db_path} is damaged or not a run store ({exc}).",
                         hint="Restore it from a backup; `livedocs verify` never changes it.") from exc
    if version < 3:
        db.close()
        raise StoreError(f"{db_path} has store schema version {version}, which has no journal yet.",
                         hint="Open it once with write access (e.g. `livedocs runs`): the upgrade journals its runs.")
    return db


class _Hashes:
    """SHA-256 of files by path, a bounded number remembered (files shared by many runs are read once)."""

    def __init__(self, limit: int = 4096) -> None:
        self._seen: OrderedDict[Path, str | None] = OrderedDict()
        self._limit = limit

    def __call__(self, path: Path) -> str | None:
        if path in self._seen:
            self._seen.move_to_end(path)
            return self._seen[path]
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            value: str | None = digest.hexdigest()
        except OSError:
            value = None
        self._seen[path] = value
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return value


def verify(home: Path, *, since: str | None = None, run: str | None = None, key: bytes | None = None,
           summary: Summary | None = None, progress: Callable[[str], None] | None = None,
           db_url: str | None = None) -> Iterator[Finding]:
    """Yield every finding in ``home`` (records in PostgreSQL when ``db_url``); fills ``summary``. ``since``
    (ISO date) and ``run`` (id prefix) narrow the records checked; the whole chain is always checked."""
    summary = summary if summary is not None else Summary()
    home = home.resolve()
    db = open_read_only(home, db_url)
    seen: dict[str, int] = {}

    def found(kind: str, message: str, run_id: str | None = None) -> Iterator[Finding]:
        summary.findings += 1
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] <= _MAX_SAME:
            yield Finding(kind, message, run_id)
        elif seen[kind] == _MAX_SAME + 1:
            yield Finding(kind, f"(further {kind} findings are counted, not listed)")

    with contextlib.closing(db):
        db.execute("BEGIN")  # one consistent snapshot of the store for the whole check
        yield from _check_chain(db, key, summary, found, progress)
        yield from _check_mirror(db, home / journal.MIRROR, key, summary, found)
        yield from _check_runs(db, home, since, run, summary, found, progress)
        db.execute("ROLLBACK")


def _hash_ok(entry: dict[str, Any], key: bytes | None) -> bool | None:
    """Whether the entry's hash matches its content (None: keyed, and no key to check it with)."""
    if entry.get("keyed") and key is None:
        return None
    want = journal.entry_hash(entry, key if entry.get("keyed") else None)
    return hmac.compare_digest(want, str(entry.get("hash")))


def _parse(text: Any) -> dict[str, Any] | None:
    try:
        entry = json.loads(text)
    except (ValueError, TypeError):
        return None
    return entry if isinstance(entry, dict) else None


def _check_chain(db: sqlite3.Connection, key: bytes | None, summary: Summary, found: Any,
                 progress: Callable[[str], None] | None) -> Iterator[Finding]:
    prev, expect = journal.GENESIS, 1
    unchecked = 0
    for seq, run_id, column_hash, text in db.execute("SELECT seq, run_id, hash, entry FROM journal ORDER BY seq"):
        summary.entries += 1
        entry = _parse(text)
        if entry is None:
            yield from found("chain", f"journal entry {seq} (run {run_id}) is not a JSON entry: edited.", run_id)
            prev, expect = str(column_hash), seq + 1
            continue
        summary.keyed += bool(entry.get("keyed"))
        summary.unkeyed += not entry.get("keyed")
        if seq != expect:
            yield from found("chain", f"journal entries {expect}..{seq - 1} are missing (the table jumps to entry {seq}).")
        ok = _hash_ok(entry, key)
        if ok is None:
            unchecked += 1
        elif not ok or entry.get("hash") != column_hash or entry.get("seq") != seq or entry.get("run") != run_id:
            yield from found("chain", f"journal entry {seq} (run {run_id}) was edited: its hash does not match "
                                      "its content.", run_id)
        if entry.get("prev") != prev and seq == expect:
            yield from found("chain", f"chain broken at entry {seq}: it does not follow entry {seq - 1} "
                                      "(an entry before it was removed, reordered or edited).", run_id)
        prev, expect = str(entry.get("hash")), seq + 1
        if progress and summary.entries % 2000 == 0:
            progress(f"checked {summary.entries} journal entries")
    if unchecked:
        yield from found("key", f"{unchecked} journal entries are keyed (HMAC-SHA256) and {journal.KEY_ENV} is not "
                                "set: their hashes were not checked (the chain links, records and files were).")


def _check_mirror(db: sqlite3.Connection, path: Path, key: bytes | None, summary: Summary,
                  found: Any) -> Iterator[Finding]:
    name = journal.MIRROR
    if not path.is_file():
        if summary.entries:
            yield from found("mirror", f"{name} is missing ({summary.entries} entries in the journal table).")
        return
    prev, expect = journal.GENESIS, 1
    try:
        for line in journal.read_mirror(path):
            summary.mirror_lines += 1
            if line.torn:
                summary.torn_tail = True
                yield from found("mirror", f"{name} line {line.number} is a torn last line (a write cut short by a "
                                           "crash); the journal table holds the entries, the next run rewrites it.")
                break
            entry = line.entry
            if entry is None or not isinstance(entry.get("seq"), int):
                yield from found("mirror", f"{name} line {line.number} is not a journal entry: edited.")
                continue
            seq = entry["seq"]
            if seq < expect:
                yield from found("mirror", f"{name} line {line.number}: entry {seq} again where entry {expect} "
                                           "belongs (duplicated or reordered).")
            elif seq > expect:
                yield from found("mirror", f"{name} line {line.number}: entry {seq} where entry {expect} belongs "
                                           f"(entries {expect}..{seq - 1} removed or reordered).")
            elif entry.get("prev") != prev:
                yield from found("mirror", f"{name} line {line.number}: chain broken at entry {seq}.")
            if _hash_ok(entry, key) is False:
                yield from found("mirror", f"{name} line {line.number}: entry {seq} was edited (its hash does not "
                                           "match its content).")
            row = db.execute("SELECT entry FROM journal WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                yield from found("mirror", f"{name} line {line.number}: entry {seq} is not in the journal table.")
            elif row[0].encode("utf-8") != line.raw:
                yield from found("mirror", f"{name} line {line.number}: entry {seq} differs from the journal table's.")
            prev, expect = str(entry.get("hash")), max(expect, seq + 1)
    except OSError as exc:
        yield from found("mirror", f"{name} cannot be read ({exc.strerror or exc}).")
        return
    if expect <= summary.entries and not summary.torn_tail:
        yield from found("mirror", f"{name} lacks entries {expect}..{summary.entries} that the journal table has "
                                   "(removed, or not yet mirrored after a crash; the next run catches it up).")


def _check_runs(db: sqlite3.Connection, home: Path, since: str | None, run: str | None, summary: Summary,
                found: Any, progress: Callable[[str], None] | None) -> Iterator[Finding]:
    where, args = [], []
    if since:
        where.append("created_at >= ?")
        args.append(since)
    if run:
        where.append("id >= ? AND id < ?")
        args += [run.lower(), run.lower() + "g"]
    sqlite = isinstance(db, sqlite3.Connection)
    sql = ("SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY created_at, {'rowid' if sqlite else 'id'}")
    hashes = _Hashes()
    rows = db.cursor() if sqlite else db  # PostgreSQL: each execute's rows are fetched whole
    if sqlite:
        rows.row_factory = sqlite3.Row
    for row in rows.execute(sql, args):
        summary.runs += 1
        run_id = str(row["id"])
        last = db.execute("SELECT seq, entry FROM journal WHERE run_id = ? ORDER BY seq DESC LIMIT 1", (run_id,)).fetchone()
        try:
            record = from_row(row)
        except BadRecord as bad:
            yield from found("record", f"run {run_id}: {bad} (edited outside livedocs).", run_id)
            continue
        if last is None:
            if record.status in FINAL:
                yield from found("unjournaled", f"run {run_id} is {record.status} but has no journal entry "
                                                "(added or finished outside livedocs).", run_id)
            continue
        seq, entry = last[0], _parse(last[1])
        if entry is None:
            continue  # named by the chain check
        fields = journal.record_fields(record)
        if journal.sha256(journal.canonical(fields)) != entry.get("record_sha256"):
            now = journal.field_hashes(fields)
            then = entry.get("fields") if isinstance(entry.get("fields"), dict) else {}
            changed = sorted(k for k in set(now) | set(then) if now.get(k) != then.get(k)) or ["(the record as a whole)"]
            yield from found("record", f"run {run_id}: the record no longer matches its journal entry {seq}: "
                                       f"field{'s' if len(changed) > 1 else ''} {', '.join(changed)} changed.", run_id)
        files = entry.get("artifacts") if isinstance(entry.get("artifacts"), dict) else {}
        for name, sha in sorted(files.items()):
            path = Path(name) if name.startswith("/") else home / name
            now_sha = hashes(path)
            if sha is None:
                continue  # already missing when journaled (e.g. a failed run's report)
            if now_sha is None:
                yield from found("file", f"run {run_id}: {name} is missing (journal entry {seq} has its hash).", run_id)
            elif now_sha != sha:
                yield from found("file", f"run {run_id}: {name} was edited (its SHA-256 differs from journal entry "
                                         f"{seq}).", run_id)
        origin = entry.get("artifacts_of")
        if isinstance(origin, dict):
            hit = db.execute("SELECT 1 FROM journal WHERE run_id = ? AND hash = ?",
                             (str(origin.get("run")), str(origin.get("entry")))).fetchone()
            if hit is None:
                yield from found("chain", f"run {run_id}: its files are its original run {origin.get('run')}'s, whose "
                                          "journal entry it names is gone.", run_id)
        if progress and summary.runs % 1000 == 0:
            progress(f"checked {summary.runs} runs")
    if not run and not since:
        for (run_id,) in db.execute("SELECT DISTINCT run_id FROM journal WHERE run_id NOT IN (SELECT id FROM runs) "
                                    "ORDER BY run_id"):
            yield from found("deleted", f"run {run_id} has journal entries but no record: deleted from runs.db.", run_id)
    elif run:
        for (run_id,) in db.execute("SELECT DISTINCT run_id FROM journal WHERE run_id >= ? AND run_id < ? AND "
                                    "run_id NOT IN (SELECT id FROM runs)", (run.lower(), run.lower() + "g")):
            yield from found("deleted", f"run {run_id} has journal entries but no record: deleted from runs.db.", run_id)
