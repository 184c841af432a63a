"""Input hashes kept within a process (a sweep over one data file hashes it once) are never stale: any change
a stat can see (size, mtime, ctime, a replaced file) is hashed again, and a file modified in the last two
seconds is never kept (a second change in the same timestamp tick could look unchanged)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from livedocs_runner import provenance
from livedocs_runner.provenance import hash_inputs, hash_tree, input_sha256

from .conftest import until


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def settled(path: Path) -> Path:
    """Wait (polling the clock) until ``path``'s last change is old enough for its hash to be kept."""
    changed = max(path.stat().st_mtime_ns, path.stat().st_ctime_ns)
    until(lambda: time.time_ns() - changed > provenance.RECENT_NS + 10_000_000, "the file to settle", timeout=10)
    return path


def rewrite_keeping_mtime(path: Path, data: bytes) -> None:
    """Same size, same modification time: only the inode change time tells."""
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_kept_hash_follows_every_change(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_bytes(b"x\n1\n")
    settled(data)
    assert input_sha256(data) == sha(b"x\n1\n")
    assert str(data.resolve()) in provenance._HASHED  # kept: the next look is a stat
    assert input_sha256(data) == sha(b"x\n1\n")
    rewrite_keeping_mtime(data, b"x\n2\n")
    assert input_sha256(data) == sha(b"x\n2\n")
    data.write_bytes(b"x\n3\n")  # same size, new mtime
    assert input_sha256(data) == sha(b"x\n3\n")
    replacement = tmp_path / "new.csv"
    replacement.write_bytes(b"x\n4\n")
    os.replace(replacement, data)  # another inode under the same name
    assert input_sha256(data) == sha(b"x\n4\n")


def test_a_recently_modified_file_is_never_kept(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_bytes(b"x\n1\n")
    assert input_sha256(data) == sha(b"x\n1\n")
    assert str(data.resolve()) not in provenance._HASHED
    rewrite_keeping_mtime(data, b"x\n2\n")  # within the same tick its whole stat may look the same
    assert input_sha256(data) == sha(b"x\n2\n")


def test_inputs_and_folders_use_it_and_stay_exact(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_bytes(b"a\n")
    settled(folder / "a.csv")
    [item] = hash_inputs({"data_file": str(folder / "a.csv")}, ["data_file"])
    assert item["sha256"] == sha(b"a\n")
    first = hash_tree(folder).sha256
    rewrite_keeping_mtime(folder / "a.csv", b"b\n")
    assert hash_tree(folder).sha256 != first
    [item] = hash_inputs({"data_file": str(folder / "a.csv")}, ["data_file"])
    assert item["sha256"] == sha(b"b\n")
