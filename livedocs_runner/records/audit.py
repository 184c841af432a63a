"""Audit bundles: ``livedocs audit export`` writes a self-contained zip of chosen runs; ``audit verify`` checks one.

A bundle keeps the home's layout for files (``runs/<id>/output.ipynb``, ``runs/<id>/report.html``,
``runs/<id>/outputs/...``, ``blobs/<sha>`` input snapshots, ``environments/<sha>.json``,
``notebooks/<sha>.ipynb``), so each journal entry's file names are the bundle's member names. Beside
them: ``index.html`` (a static table of the runs linking to each report; built with an autoescaping
Jinja template: text from records stays text), ``runs.csv``, ``runs.jsonl`` (the records),
``journal.jsonl`` (the journal entries from the first selected run's to the last's, so the chain can be
followed), ``access.jsonl`` (the access log from the first selected run's creation to the export: who
signed in, ran, cancelled, downloaded, exported or was refused), and ``MANIFEST.sha256`` (``sha256sum -c`` format). The zip is written to a temp file beside
the destination and renamed: a full or read-only destination leaves no half-written bundle.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..errors import InputError, LivedocsError
from . import journal
from .store import RunRecord, Store

MANIFEST = "MANIFEST.sha256"
_CSV_FIELDS = ("id", "status", "notebook", "config", "scenario", "created_at", "finished_at", "duration_s",
               "user", "auth", "trigger", "cache_of", "rerun_of", "parameters", "metrics", "error")

_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.failed{color:#b00}</style>
</head><body>
<h1>{{ title }}</h1>
<p>{{ runs|length }} runs exported on {{ exported_at }} from {{ home }}. Every file's SHA-256 is in
<a href="MANIFEST.sha256">MANIFEST.sha256</a> (check with <code>sha256sum -c MANIFEST.sha256</code>); the records are in
<a href="runs.csv">runs.csv</a> and <a href="runs.jsonl">runs.jsonl</a>, the journal entries in
<a href="journal.jsonl">journal.jsonl</a>, the access log of the period in <a href="access.jsonl">access.jsonl</a>.</p>
<table id="runs"><thead><tr><th>Run</th><th>Status</th><th>Notebook</th><th>Scenario</th><th>Created (UTC)</th>
<th>Metrics</th><th>Files</th></tr></thead><tbody>
{% for run in runs %}<tr class="{{ run.status }}"><td>{{ run.id }}</td><td>{{ run.status }}{% if run.cache_of %} (cache hit of {{ run.cache_of }}){% endif %}</td><td>{{ run.notebook }}</td>
<td>{{ run.scenario }}</td><td>{{ run.created_at }}</td><td>{{ run.metrics }}</td><td>
{% for label, href in run.links %}<a href="{{ href }}">{{ label }}</a>{% if not loop.last %} · {% endif %}{% endfor %}
</td></tr>
{% endfor %}</tbody></table>
</body></html>
"""
_index = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(_INDEX)


class ExportError(LivedocsError):
    """The bundle could not be written (full or read-only destination): nothing was left behind."""

    exit_code = 1


@dataclass(frozen=True, kw_only=True)
class Selection:
    """Which runs to export. Usage: ``Selection(notebook="model.ipynb", since="2026-01-01")``."""

    notebook: str | None = None
    config: str | None = None
    status: str | None = None
    since: str | None = None
    until: str | None = None
    ids: tuple[str, ...] = ()  # only these runs (full ids), e.g. those picked in the app's History

    def keeps(self, record: RunRecord) -> bool:
        day = record.created_at[:10]
        return ((not self.since or record.created_at >= self.since) and (not self.until or day <= self.until)
                and (not self.ids or record.id in self.ids))


def _files(home: Path, record: RunRecord, entry: dict[str, Any] | None) -> dict[str, Path]:
    """Bundle member name -> file in the home, for one run (its entry's names; a cache hit's are its original's)."""
    names: dict[str, Path] = {}
    fields = journal.record_fields(record)
    for name in journal.artifacts(home, fields) if entry is None or entry.get("artifacts_of") else entry["artifacts"]:
        path = Path(name) if os.path.isabs(name) else home / name
        if not os.path.isabs(name) and path.is_file():
            names[name] = path
    return names


def _entries(db: sqlite3.Connection, run_ids: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The journal lines from the first selected run's entry to the last's, and each run's latest entry."""
    latest: dict[str, dict[str, Any]] = {}
    seqs: list[int] = []
    for run_id in run_ids:
        rows = db.execute("SELECT seq, entry FROM journal WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
        seqs += [r[0] for r in rows]
        if rows:
            latest[run_id] = json.loads(rows[-1][1])
            origin = latest[run_id].get("artifacts_of")
            if origin:
                row = db.execute("SELECT seq FROM journal WHERE hash = ?", (origin.get("entry"),)).fetchone()
                if row:
                    seqs.append(row[0])
    if not seqs:
        return [], latest
    lines = [r[0] for r in db.execute("SELECT entry FROM journal WHERE seq BETWEEN ? AND ? ORDER BY seq",
                                      (min(seqs), max(seqs)))]
    return lines, latest


def export(store: Store, destination: Path, selection: Selection) -> tuple[int, int]:
    """Write the bundle of the selected runs to ``destination``; returns (runs, files)."""
    from .store import now
    from .verify import open_read_only

    records = [r for r in reversed(store.list(notebook=selection.notebook, config=selection.config,
                                              status=selection.status, limit=None)) if selection.keeps(r)]
    if not records:
        raise InputError("no run matches the selection; nothing was exported.",
                         hint="List the runs with `livedocs runs` and widen the filters.")
    with contextlib.closing(open_read_only(store.home, store.url)) as db:
        lines, latest = _entries(db, [r.id for r in records])
    members: dict[str, Path | bytes] = {}
    rows = []
    for record in records:
        files = _files(store.home, record, latest.get(record.id))
        members.update(files)
        links = [(Path(n).name, n) for n in files if n.startswith("runs/") and n.endswith((".html", ".ipynb"))]
        links += [("environment", n) for n in files if n.startswith("environments/")]
        links += [(f"input {n[6:18]}", n) for n in files if n.startswith("blobs/")]
        rows.append({"id": record.id, "status": record.status, "cache_of": record.cache_of, "notebook": Path(record.notebook).name,
                     "scenario": record.scenario, "created_at": record.created_at,
                     "metrics": ", ".join(f"{k}={v}" for k, v in record.metrics.items() if not isinstance(v, (dict, list))),
                     "links": links})
    members["runs.jsonl"] = "".join(json.dumps(journal.record_fields(r), ensure_ascii=False, sort_keys=True) + "\n"
                                    for r in records).encode("utf-8")
    members["runs.csv"] = _csv(records)
    members["journal.jsonl"] = "".join(line + "\n" for line in lines).encode("utf-8")
    members["access.jsonl"] = _access_lines(store, records[0].created_at)
    members["index.html"] = _index.render(title="Run evidence", runs=rows, exported_at=now(),
                                          home=str(store.home)).encode("utf-8")
    _write_zip(destination, members)
    return len(records), len(members) + 1


def _access_lines(store: Store, since: str) -> bytes:
    """The access log from ``since`` on, oldest first, one JSON object a line."""
    from .access_log import read_access

    events = read_access(store, since=since, limit=None)
    return "".join(json.dumps(e.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for e in reversed(events)).encode("utf-8")


def _csv(records: list[RunRecord]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_FIELDS)
    for record in records:
        data = journal.record_fields(record)
        writer.writerow([json.dumps(data[k], ensure_ascii=False) if isinstance(data.get(k), (dict, list)) else
                         ("" if data.get(k) is None else data[k]) for k in _CSV_FIELDS])
    return out.getvalue().encode("utf-8")


def _write_zip(destination: Path, members: dict[str, Path | bytes]) -> None:
    destination = destination.resolve()
    try:
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp")
    except OSError as exc:
        raise ExportError(f"cannot write {destination} ({exc.strerror or exc}); nothing was written.",
                          hint="Export to a folder you can write, with room for the bundle.") from exc
    try:
        manifest = []
        with os.fdopen(fd, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, source in sorted(members.items()):
                data = source if isinstance(source, bytes) else source.read_bytes()
                bundle.writestr(name, data)
                manifest.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
            bundle.writestr(MANIFEST, "".join(manifest))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ExportError(f"cannot write {destination} ({exc.strerror or exc}); nothing was written.",
                              hint="Export to a folder you can write, with room for the bundle.") from exc
        raise


# --- checking a bundle offline ------------------------------------------------------------------


def check(bundle_path: Path, key: bytes | None = None) -> Iterator[str]:
    """Yield one line per problem in the bundle: manifest, records against entries, files, chain excerpt."""
    try:
        bundle = zipfile.ZipFile(bundle_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{bundle_path} is not a readable zip ({exc}).",
                         hint="Give the evidence.zip that `livedocs audit export` wrote.") from None
    with bundle:
        names = set(bundle.namelist())
        if MANIFEST not in names:
            yield f"{MANIFEST} is missing from the bundle."
            return
        listed: dict[str, str] = {}
        for number, line in enumerate(bundle.read(MANIFEST).decode("utf-8", "replace").splitlines(), 1):
            sha, sep, name = line.partition("  ")
            if not sep or len(sha) != 64:
                yield f"{MANIFEST} line {number} is not '<sha256>  <file>'."
                continue
            listed[name] = sha
        for name, sha in sorted(listed.items()):
            if name not in names:
                yield f"{name} is listed in {MANIFEST} but missing from the bundle."
            elif hashlib.sha256(bundle.read(name)).hexdigest() != sha:
                yield f"{name} was changed: its SHA-256 differs from {MANIFEST}."
        for name in sorted(names - set(listed) - {MANIFEST}):
            yield f"{name} is in the bundle but not in {MANIFEST}."
        yield from _check_entries(bundle, names, key)


def _check_entries(bundle: zipfile.ZipFile, names: set[str], key: bytes | None) -> Iterator[str]:
    from .verify import _hash_ok

    entries = []
    for number, line in enumerate(bundle.read("journal.jsonl").decode("utf-8").splitlines(), 1) \
            if "journal.jsonl" in names else []:
        try:
            entries.append(json.loads(line))
        except ValueError:
            yield f"journal.jsonl line {number} is not a journal entry."
    for before, entry in zip([None, *entries], entries):
        if _hash_ok(entry, key) is False:
            yield f"journal.jsonl: entry {entry.get('seq')} was edited (its hash does not match its content)."
        if before is not None and entry.get("prev") != before.get("hash"):
            yield f"journal.jsonl: chain broken at entry {entry.get('seq')}."
    latest = {e.get("run"): e for e in entries}
    by_hash = {e.get("hash"): e for e in entries}
    if "runs.jsonl" not in names:
        yield "runs.jsonl is missing from the bundle."
        return
    for line in bundle.read("runs.jsonl").decode("utf-8").splitlines():
        fields = json.loads(line)
        run_id = fields.get("id")
        entry = latest.get(run_id)
        if entry is None:
            yield f"run {run_id}: no journal entry in the bundle."
            continue
        if journal.sha256(journal.canonical(fields)) != entry.get("record_sha256"):
            then = entry.get("fields") or {}
            changed = sorted(k for k, v in journal.field_hashes(fields).items() if then.get(k) != v)
            yield f"run {run_id}: runs.jsonl no longer matches its journal entry {entry.get('seq')} ({', '.join(changed)})."
        source = by_hash.get((entry.get("artifacts_of") or {}).get("entry"), entry)
        for name, sha in sorted((source.get("artifacts") or {}).items()):
            if sha is None or os.path.isabs(name):
                continue
            if name not in names:
                yield f"run {run_id}: {name} is missing from the bundle."
            elif hashlib.sha256(bundle.read(name)).hexdigest() != sha:
                yield f"run {run_id}: {name} differs from its journal entry {source.get('seq')}."
