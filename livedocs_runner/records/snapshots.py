"""Input snapshots: the exact bytes a run read, kept content-addressed in the home.

``blobs/<sha256>`` holds one file's bytes, written once (temp file + ``os.replace``), read-only and
shared by every run that read the same bytes. A folder input is kept as a *tree*: a manifest blob
(canonical JSON: each entry's relative path and kind, a file's blob and size, a link's target) whose
own SHA-256 is the snapshot id. The user's files are always copied into the home, never linked (a
hard link would share the inode, so editing the data file in place would edit the snapshot);
restoring a snapshot for a rerun hard-links from the blob where the filesystem allows (else copies).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..params import quote
from ..provenance import sha256_file

MAX_MB_ENV = "LIVEDOCS_SNAPSHOT_MAX_MB"
DEFAULT_MAX_MB = 1024
TREE_FORMAT = "livedocs-tree/1"
_CHUNK = 1 << 20


def max_snapshot_mb(environ: Mapping[str, str] | None = None) -> float:
    """``$LIVEDOCS_SNAPSHOT_MAX_MB`` (default 1024): the largest file kept; raises InputError for a bad value."""
    raw = (os.environ if environ is None else environ).get(MAX_MB_ENV, "").strip()
    if not raw:
        return float(DEFAULT_MAX_MB)
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise InputError(f"{MAX_MB_ENV}={quote(raw)} is not a number of megabytes.",
                         hint=f"Set it to e.g. {DEFAULT_MAX_MB} (0 keeps hashes only), or unset it.")
    return value


def _mb(value: float) -> str:
    return f"{value:g} MB"


class Blobs:
    """The content-addressed store ``HOME/blobs``. Usage: ``Blobs(home).put_file(path)`` -> sha256."""

    def __init__(self, home: str | Path) -> None:
        self.root = Path(home) / "blobs"

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256: {sha256[:70]!r}")
        return self.root / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put_file(self, source: Path, expected: str | None = None) -> str:
        """Keep ``source``'s bytes; returns their SHA-256 (the file is read once when already kept as ``expected``)."""
        if expected and self.has(expected):
            return expected
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".blob.", suffix=".tmp")
        digest = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as handle:
                while block := handle.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
            return self._settle(tmp, digest.hexdigest())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha):
            return sha
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".blob.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            return self._settle(tmp, sha)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _settle(self, tmp: str, sha: str) -> str:
        target = self.path(sha)
        if target.is_file():  # kept meanwhile (another run, another process): same bytes
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        return sha

    def read_tree(self, sha256: str) -> dict[str, Any]:
        tree = json.loads(self.path(sha256).read_bytes())
        if not isinstance(tree, dict) or tree.get("format") != TREE_FORMAT:
            raise ValueError(f"blob {sha256} is not a folder snapshot")
        return tree

    def missing(self, sha256: str, kind: str) -> list[str]:
        """The blobs a snapshot needs that are not in the home (empty when it can be restored)."""
        if not self.has(sha256):
            return [sha256]
        if kind != "folder":
            return []
        try:
            entries = self.read_tree(sha256)["entries"]
        except (ValueError, KeyError, OSError):
            return [sha256]
        return [e["sha256"] for e in entries if e.get("type") == "file" and not self.has(e["sha256"])]

    def restore(self, sha256: str, kind: str, dest: Path) -> None:
        """Materialise a snapshot at ``dest`` (a file, or a folder of read-only files)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        if kind != "folder":
            self._link(self.path(sha256), dest)
            return
        dest.mkdir()
        for entry in self.read_tree(sha256)["entries"]:
            target = dest / entry["path"]
            if not target.resolve().is_relative_to(dest.resolve()):
                raise ValueError(f"folder snapshot {sha256} names a path outside it: {entry['path']!r}")
            if entry["type"] == "dir":
                target.mkdir(parents=True, exist_ok=True)
            elif entry["type"] == "file":
                target.parent.mkdir(parents=True, exist_ok=True)
                self._link(self.path(entry["sha256"]), target)
            elif entry["type"] == "link":
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(entry["target"], target)

    @staticmethod
    def _link(blob: Path, dest: Path) -> None:
        try:
            os.link(blob, dest)
        except OSError:  # another filesystem, or one without hard links
            shutil.copyfile(blob, dest)
            os.chmod(dest, 0o444)


def snapshot_tree(blobs: Blobs, root: Path, max_bytes: float) -> tuple[str | None, str]:
    """Keep every file under ``root`` and a manifest of the folder; returns (tree id, why not)."""
    entries: list[dict[str, Any]] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        rel_folder = os.path.relpath(folder, root)
        for name in sorted(dirs + files):
            full = Path(folder, name)
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            lst = full.lstat()
            if stat.S_ISLNK(lst.st_mode):
                target = os.readlink(full)
                if full.is_file():  # a link to a file: what the notebook reads is its content
                    lst = full.stat()
                else:
                    entries.append({"path": rel, "type": "link", "target": target})
                    continue
            if stat.S_ISDIR(lst.st_mode):
                entries.append({"path": rel, "type": "dir"})
            elif stat.S_ISREG(lst.st_mode):
                if lst.st_size > max_bytes:
                    return None, f"{rel} is over {_mb(max_bytes / 2**20)}"
                sha = blobs.put_file(full, sha256_file(full))  # hashed first: a file kept before is not copied again
                entries.append({"path": rel, "type": "file", "size": lst.st_size, "sha256": sha})
            else:
                entries.append({"path": rel, "type": "other"})
    manifest = {"format": TREE_FORMAT, "entries": entries}
    return blobs.put_bytes(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()), ""


def snapshot_inputs(inputs: list[dict[str, Any]], home: str | Path, *, skip: Collection[str] = (),
                    max_mb: float | None = None) -> list[dict[str, Any]]:
    """``inputs`` (from ``provenance.hash_inputs``) with ``snapshot`` (a blob or tree id, or None with ``why``)."""
    blobs = Blobs(home)
    limit_mb = max_snapshot_mb() if max_mb is None else max_mb
    max_bytes = limit_mb * 2**20
    out = []
    for item in inputs:
        item = dict(item)
        kind = item.get("type")
        path = Path(item["path"])
        if item["parameter"] in skip:
            item.update(snapshot=None, why="snapshot: false in the config")
        elif kind == "file" and (item.get("size") or 0) > max_bytes:
            item.update(snapshot=None, why=f"over {_mb(limit_mb)}")
        elif kind == "file":
            try:
                sha = blobs.put_file(path, item.get("sha256"))
                if sha != item.get("sha256"):  # it changed while being hashed: keep what was read last
                    item.update(sha256=sha, size=Blobs(home).path(sha).stat().st_size)
                item.update(snapshot=sha)
            except OSError as exc:
                item.update(snapshot=None, why=f"could not be kept ({exc.strerror or exc})")
        elif kind == "folder":
            if item.get("sha256") is None:
                item.update(snapshot=None, why=item.get("note") or "folder too big to hash")
            else:
                try:
                    tree, why = snapshot_tree(blobs, path, max_bytes)
                except OSError as exc:
                    tree, why = None, f"could not be kept ({exc.strerror or exc})"
                item.update(snapshot=tree, **({"why": why} if why else {}))
        else:
            item.update(snapshot=None, why=f"nothing to keep ({kind})")
        out.append(item)
    return out
