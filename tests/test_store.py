"""The run store: prefix lookup, WAL, concurrent writers, stale runs, atomic files."""

from __future__ import annotations

import os
import platform
import sqlite3
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from livedocs_runner.errors import RunNotFound
from livedocs_runner.records.store import RunRecord, Store, atomic_write, new_id


def make(store: Store, run_id: str | None = None, **fields) -> RunRecord:
    fields.setdefault("notebook", "/nb/simple.ipynb")
    fields.setdefault("notebook_sha256", "0" * 64)
    return store.add(RunRecord(id=run_id or new_id(), **fields))


def test_round_trip_of_json_fields(tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = make(store, parameters={"a": 1, "s": "é\n'\""}, metrics={"t": {"type": "table", "columns": [], "data": []}},
                  inputs=[{"parameter": "f", "path": "/x", "size": 1, "sha256": "ab"}], environment={"python": "3.11"})
    record = store.update(record, status="failed", error={"cell": 3, "ename": "E", "evalue": "v"}, duration_s=1.5)
    again = store.get(record.id)
    assert again == record
    assert again.created_at and again.run_dir == str(tmp_path.resolve() / "runs" / record.id)


def test_prefix_lookup(tmp_path: Path) -> None:
    store = Store(tmp_path)
    a = make(store, "abc111000000")
    make(store, "abc222000000")
    assert store.get("abc1").id == a.id
    assert store.get("ABC111").id == a.id
    assert store.get(" abc111000000 ").id == a.id


def test_ambiguous_prefix(tmp_path: Path) -> None:
    store = Store(tmp_path)
    make(store, "abc111000000")
    make(store, "abc222000000")
    with pytest.raises(RunNotFound) as info:
        store.get("abc")
    assert info.value.message == "run id prefix 'abc' is ambiguous (abc111000000, abc222000000...)."
    assert info.value.hint == "Give more characters."
    assert info.value.exit_code == 2


@pytest.mark.parametrize("run_id, message", [
    ("fff", "no run 'fff' in "),
    ("", "'' is not a run id."),
    ("a%", "'a%' is not a run id."),
    ("a_", "'a_' is not a run id."),
    ("xyz", "'xyz' is not a run id."),
])
def test_not_found(tmp_path: Path, run_id: str, message: str) -> None:
    store = Store(tmp_path)
    make(store, "abc111000000")
    with pytest.raises(RunNotFound) as info:
        store.get(run_id)
    assert info.value.message.startswith(message)


def test_wal_mode(tmp_path: Path) -> None:
    Store(tmp_path)
    with sqlite3.connect(tmp_path / "runs.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_list_filters_and_order(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = make(store, scenario="one", status="succeeded")
    second = make(store, scenario="two", status="failed", notebook="/other/model.ipynb")
    third = make(store, scenario="one", status="succeeded")
    assert [r.id for r in store.list()] == [third.id, second.id, first.id]
    assert [r.id for r in store.list(scenario="one")] == [third.id, first.id]
    assert [r.id for r in store.list(status="failed")] == [second.id]
    assert [r.id for r in store.list(notebook="model.ipynb")] == [second.id]
    assert [r.id for r in store.list(notebook="/nb/simple.ipynb")] == [third.id, first.id]
    assert [r.id for r in store.list(limit=1)] == [third.id]


def test_find_cached(tmp_path: Path) -> None:
    store = Store(tmp_path)
    make(store, status="failed", cache_key="k")
    hit = make(store, status="succeeded", cache_key="k")
    make(store, status="succeeded", cache_key="k", cache_of=hit.id)
    assert store.find_cached("k").id == hit.id
    assert store.find_cached("other") is None


def test_concurrent_threads(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def work(n: int) -> None:
        for _ in range(10):
            record = make(store, scenario=f"t{n}")
            store.update(record, status="succeeded", metrics={"n": n})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(8)))
    records = store.list(limit=None)
    assert len(records) == 80 and all(r.status == "succeeded" for r in records)


WRITER = """
import sys
from livedocs_runner.records.store import RunRecord, Store, new_id
store = Store(sys.argv[1])
for i in range(25):
    r = store.add(RunRecord(id=new_id(), notebook="/nb.ipynb", notebook_sha256="0", scenario=sys.argv[2]))
    store.update(r, status="running")
    store.update(r, status="succeeded", metrics={"i": i})
"""


def test_concurrent_processes(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), f"p{n}"]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    records = Store(tmp_path).list(limit=None)
    assert len(records) == 100
    assert {r.scenario for r in records} == {"p0", "p1", "p2", "p3"}
    assert all(r.status == "succeeded" for r in records)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_abandon_stale(tmp_path: Path) -> None:
    store = Store(tmp_path)
    host = platform.node()
    dead = make(store, status="running", environment={"hostname": host, "pid": dead_pid()})
    queued = make(store, status="queued", environment={"hostname": host, "pid": dead_pid()})
    alive = make(store, status="running", environment={"hostname": host, "pid": os.getpid()})
    remote = make(store, status="running", environment={"hostname": host + "-elsewhere", "pid": dead_pid()})
    done = make(store, status="succeeded", environment={"hostname": host, "pid": dead_pid()})
    assert store.abandon_stale() == 2
    assert store.get(dead.id).status == "cancelled" and store.get(queued.id).status == "cancelled"
    assert store.get(dead.id).error["ename"] == "Abandoned" and store.get(dead.id).finished_at
    assert [store.get(r.id).status for r in (alive, remote, done)] == ["running", "running", "succeeded"]
    assert store.abandon_stale() == 0


def test_keep_notebook_once_per_hash(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = store.keep_notebook(b"{}", "abc")
    assert store.keep_notebook(b"{}", "abc") == first
    assert first.read_bytes() == b"{}"


def test_atomic_write(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "file.txt"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_atomic_write_failure_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write(target, "old")

    class Boom(str):
        def encode(self, *args, **kwargs):  # type: ignore[override]
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, Boom("new"))
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
