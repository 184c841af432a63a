"""The tamper-evident run journal: one hash-chained entry each time a run's record becomes final.

An entry names the run, the SHA-256 of its record's canonical JSON (and of each field, so a check can
say *which* field changed), the SHA-256 of each of its files, the previous entry's hash and its own
hash (HMAC-SHA256 with ``$LIVEDOCS_JOURNAL_KEY`` when set, so rewriting the chain needs the key). It is
kept twice: the ``journal`` table of ``runs.db`` (appended to in the same transaction as the final
update; the code has no UPDATE or DELETE of it) and ``HOME/journal.jsonl``, a mirror appended with
one ``O_APPEND`` write per whole line and fsync'd, caught up from the table under a file lock (so a
crash between the commit and the mirror is repaired by the next append). A last line without its
newline is a torn write: recognised as such when read, cut off by the next append.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .record import plain, record_dict

KEY_ENV = "LIVEDOCS_JOURNAL_KEY"
MIRROR = "journal.jsonl"
FORMAT = "livedocs-journal/1"
GENESIS = "0" * 64
_HEX = frozenset("0123456789abcdef")


def canonical(value: Any) -> bytes:
    """The one canonical JSON of the journal: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=plain).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_fields(record: Any) -> dict[str, Any]:
    """A RunRecord as the plain mapping the journal hashes (its stored fields, nothing derived). A field
    added later is left out while unset, so records journaled before it existed still verify."""
    fields = record_dict(record)
    for name in _LATER_FIELDS:
        if fields.get(name) is None:
            fields.pop(name, None)
    return fields


_LATER_FIELDS = ("auth",)  # store schema 4


def field_hashes(fields: dict[str, Any]) -> dict[str, str]:
    return {name: sha256(canonical(value)) for name, value in sorted(fields.items())}


def journal_key(environ: dict[str, str] | None = None) -> bytes | None:
    raw = (os.environ if environ is None else environ).get(KEY_ENV, "")
    return raw.encode("utf-8") if raw else None


def entry_hash(body: dict[str, Any], key: bytes | None) -> str:
    """The hash of an entry without its ``hash`` field: HMAC-SHA256 when keyed, else SHA-256."""
    data = canonical({k: v for k, v in body.items() if k != "hash"})
    return hmac.new(key, data, hashlib.sha256).hexdigest() if key else sha256(data)


def _sha_file(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (OSError, ValueError):  # ValueError: a recorded path with a NUL byte names no file
        return None
    return digest.hexdigest()


def _named(home: Path, path: str) -> str:
    """A path as the journal names it: relative to the home when inside it."""
    try:
        return Path(path).resolve().relative_to(home).as_posix()
    except (ValueError, OSError):
        return path


def _is_sha(text: object) -> bool:
    return isinstance(text, str) and len(text) == 64 and set(text) <= _HEX


def artifacts(home: Path, fields: dict[str, Any]) -> dict[str, str | None]:
    """Each file of a run -> its SHA-256 (None: missing). Content-addressed files (``notebooks/<sha>.ipynb``,
    ``blobs/<sha>``, ``environments/<sha>.json``) are named by their hash, so are not read here."""
    found: dict[str, str | None] = {}
    copy = fields.get("notebook_copy")
    sha = fields.get("notebook_sha256")
    if copy:
        name = _named(home, copy)
        found[name] = sha if _is_sha(sha) and name == f"notebooks/{sha}.ipynb" and Path(copy).is_file() else _sha_file(Path(copy))
    for key in ("output_notebook", "report_html"):
        if fields.get(key):
            found[_named(home, fields[key])] = _sha_file(Path(fields[key]))
    for path in fields.get("outputs") or []:
        if isinstance(path, str):
            found[_named(home, path)] = _sha_file(Path(path))
    for item in fields.get("inputs") or []:
        snap = item.get("snapshot") if isinstance(item, dict) else None
        if _is_sha(snap):
            found[f"blobs/{snap}"] = snap if (home / "blobs" / snap).is_file() else None
            if item.get("type") == "folder":  # the tree's manifest, and every file it lists
                for sha in _tree_files(home, snap):
                    found[f"blobs/{sha}"] = sha if (home / "blobs" / sha).is_file() else None
    env_id = (fields.get("environment") or {}).get("environment_id")
    if _is_sha(env_id):
        found[f"environments/{env_id}.json"] = env_id if (home / "environments" / f"{env_id}.json").is_file() else None
    return found


def _tree_files(home: Path, tree: str) -> list[str]:
    """The file blobs a folder snapshot lists ([] when its manifest is missing or damaged: verify names that)."""
    from .snapshots import Blobs

    try:
        entries = Blobs(home).read_tree(tree)["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [e["sha256"] for e in entries if isinstance(e, dict) and e.get("type") == "file" and _is_sha(e.get("sha256"))]


def last(db: sqlite3.Connection) -> tuple[int, str]:
    row = db.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def append(db: sqlite3.Connection, home: Path, fields: dict[str, Any], *, at: str, note: str | None = None,
           key: bytes | None = None) -> dict[str, Any]:
    """Append the entry for a final record (inside the caller's write transaction); returns it."""
    seq, prev = last(db)
    body: dict[str, Any] = {"format": FORMAT, "seq": seq + 1, "run": fields["id"], "status": fields.get("status"),
                            "at": at, "record_sha256": sha256(canonical(fields)), "fields": field_hashes(fields),
                            "prev": prev, "keyed": key is not None}
    original = fields.get("cache_of")
    row = db.execute("SELECT hash FROM journal WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                     (original,)).fetchone() if original else None
    if row:  # a cache hit's files are its original's: point at the original's entry instead of rehashing
        body["artifacts_of"] = {"run": original, "entry": row[0]}
        body["artifacts"] = {}
    else:
        body["artifacts"] = artifacts(home, fields)
    if note:
        body["note"] = note
    body["hash"] = entry_hash(body, key)
    db.execute("INSERT INTO journal (seq, run_id, hash, entry) VALUES (?, ?, ?, ?)",
               (body["seq"], body["run"], body["hash"], canonical(body).decode("utf-8")))
    return body


# --- the journal.jsonl mirror --------------------------------------------------------------------


def _last_line(fd: int, size: int) -> tuple[bytes, int]:
    """The last complete line of the file (without newline) and where a torn tail starts (``size`` if none)."""
    end = size
    chunk = 1 << 16
    tail = b""
    pos = size
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        if tail.count(b"\n") >= 2 or (pos == 0 and b"\n" in tail):
            break
    if not tail.endswith(b"\n"):
        cut = tail.rfind(b"\n") + 1
        end = pos + cut
        tail = tail[:cut]
    lines = tail[:-1].split(b"\n") if tail else []
    return (lines[-1] if lines else b""), end


def mirror(db: sqlite3.Connection, home: Path) -> int:
    """Bring ``journal.jsonl`` up to the table (under an exclusive lock); returns how many lines it wrote."""
    path = home / MIRROR
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        line, end = _last_line(fd, size)
        if end < size:  # a torn last line (a write cut short by a crash): it was never a whole entry
            os.ftruncate(fd, end)
        have = 0
        if line:
            try:
                have = int(json.loads(line)["seq"])
            except (ValueError, TypeError, KeyError, AttributeError):
                return 0  # an edited last line: left as it is for `livedocs verify` to name, never rewritten
        written = 0
        for (text,) in db.execute("SELECT entry FROM journal WHERE seq > ? ORDER BY seq", (have,)):
            os.write(fd, text.encode("utf-8") + b"\n")  # one write of a whole line (O_APPEND)
            written += 1
        if written or end < size:
            os.fsync(fd)
        return written
    finally:
        os.close(fd)


@dataclasses.dataclass(frozen=True)
class Line:
    number: int
    entry: dict[str, Any] | None  # None: not a JSON object
    raw: bytes
    torn: bool = False


def read_mirror(path: Path) -> Iterator[Line]:
    """The lines of ``journal.jsonl``, one at a time (a last line without newline comes ``torn``)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            torn = not raw.endswith(b"\n")
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            yield Line(number, entry if isinstance(entry, dict) else None, raw.rstrip(b"\n"), torn)
