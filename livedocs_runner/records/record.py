"""One run's record: :class:`RunRecord`, its statuses, and how it maps to and from a ``runs`` row
(JSON fields as text, a damaged row refused as :class:`BadRecord` with the fix)."""

from __future__ import annotations

import dataclasses
import json
import shlex
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import StoreError

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL = ("succeeded", "failed", "cancelled")
_JSON_FIELDS = ("parameters", "error", "metrics", "inputs", "environment", "outputs")
_JSON_TYPES: dict[str, type] = {"parameters": dict, "error": dict, "metrics": dict, "inputs": list,
                                                   "environment": dict, "outputs": list}


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
    auth: str | None = None  # how ``user`` was established: none | oidc | proxy (None: recorded before 0.3)

    @property
    def rerun_variant(self) -> str | None:
        """``exact``, ``inputs-current``, ``notebook-current``, ``params`` (joined by '+'): kept in ``trigger``
        as ``rerun:VARIANT`` (``TRIGGER:VARIANT`` when another trigger, e.g. the app, asked for the rerun)."""
        return self.trigger.partition(":")[2] or None if self.rerun_of else None

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "rerun_variant": self.rerun_variant}


_COLUMNS = [f.name for f in dataclasses.fields(RunRecord)]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_id() -> str:
    """12 random hex digits: short enough to type, unique enough across processes."""
    return uuid.uuid4().hex[:12]


class BadRecord(Exception):
    """A row whose field cannot be read back (bad JSON, wrong type)."""

    def __init__(self, run_id: object, field: str, problem: str) -> None:
        super().__init__(f"run {_short(run_id)} has a damaged field '{field}' ({problem})")
        self.run_id = run_id

    def fix(self, db_path: Path) -> str:
        if isinstance(self.run_id, str) and self.run_id.isalnum():
            return f"Delete it with: sqlite3 {_sh(db_path)} \"DELETE FROM runs WHERE id = '{self.run_id}'\""
        return f"Restore the store from a backup, or delete that row with the sqlite3 shell ({db_path})."


def _sh(path: str | Path) -> str:
    """A path as a shell word, for the commands error messages suggest."""
    return shlex.quote(str(path))


def _short(value: object, limit: int = 40) -> str:
    """``repr`` of an untrusted value, cut short: control characters escaped, never a huge echo."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"


def record_dict(record: RunRecord) -> dict[str, Any]:
    """The record's fields as a mapping whose values are the record's own (read them, never change them):
    ``dataclasses.asdict`` copies every nested mapping and list, ~1 ms a run for an environment's package list."""
    return {name: getattr(record, name) for name in _FIELD_NAMES}


def plain(value: Any) -> Any:
    """``json.dumps``'s ``default`` for the records' JSON: a dataclass inside a field as ``dataclasses.asdict``
    makes it (as the records were written when they were copied with asdict), anything else refused."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_row(record: RunRecord) -> dict[str, Any]:
    row = record_dict(record)
    for key, value in row.items():
        try:
            if key in _JSON_FIELDS and value is not None:
                row[key] = value = json.dumps(value, ensure_ascii=False, default=plain)
            if isinstance(value, str):
                value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise StoreError(f"run {record.id}: field '{key}' holds text that is not valid Unicode "
                             f"({_short(exc.object[exc.start:exc.end])}, a lone surrogate); it was not recorded.",
                             hint="Pass text as proper Unicode (no lone surrogates such as '\\udc80').") from None
        except (ValueError, RecursionError) as exc:
            raise StoreError(f"run {record.id}: field '{key}' cannot be stored as JSON ({str(exc)[:120]}); it was "
                             "not recorded.", hint="Use JSON-compatible values: text, numbers of at most 4300 digits, "
                                                   "booleans, null, lists and mappings with text keys.") from None
    return row


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(RunRecord))
_TEXT_FIELDS = [f.name for f in dataclasses.fields(RunRecord) if f.name != "duration_s"]  # JSON is kept as text too


def from_row(row: sqlite3.Row) -> RunRecord:
    data = {k: row[k] for k in row.keys() if k in _COLUMNS}
    run_id = data.get("id")
    for key in _TEXT_FIELDS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise BadRecord(run_id, key, f"{type(data[key]).__name__} where text belongs")
    for key in _JSON_FIELDS:
        if data.get(key) is not None:
            try:
                data[key] = json.loads(data[key])
            except (ValueError, TypeError, RecursionError) as exc:
                raise BadRecord(run_id, key, f"not JSON: {str(exc)[:80]}") from None
            if not isinstance(data[key], _JSON_TYPES[key]):
                raise BadRecord(run_id, key, f"JSON {type(data[key]).__name__} where a "
                                              f"{_JSON_TYPES[key].__name__} belongs")
    if data.get("duration_s") is not None:
        try:
            data["duration_s"] = float(data["duration_s"])
        except (TypeError, ValueError):
            raise BadRecord(run_id, "duration_s", f"{_short(data['duration_s'])} is not a number") from None
    return RunRecord(**{k: v for k, v in data.items() if v is not None or k in ("error",)})
