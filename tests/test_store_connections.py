"""The SQLite store keeps its connections open between calls (issue 12): reused by a thread, one each for
concurrent threads and nested blocks, never carried across ``fork``, dropped when ``runs.db`` is replaced."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from livedocs_runner.errors import StoreError
from livedocs_runner.records import connections as connections_module
from livedocs_runner.records.store import RunRecord, Store, new_id
from tests.conftest import in_forked_child


def make(store: Store, **fields) -> RunRecord:
    fields.setdefault("notebook", "/nb/simple.ipynb")
    fields.setdefault("notebook_sha256", "0" * 64)
    return store.add(RunRecord(id=new_id(), **fields))


class CountingStore(Store):
    """A real store that counts the connections it opens."""

    opened = 0

    def _raw_connection(self) -> sqlite3.Connection:
        type(self).opened += 1
        return super()._raw_connection()


def test_calls_in_one_thread_share_one_connection(tmp_path: Path) -> None:
    CountingStore.opened = 0
    store = CountingStore(tmp_path)
    opened_by_init = CountingStore.opened
    record = make(store)
    for n in range(5):
        record = store.update(record, metrics={"n": n})
        assert store.get(record.id).metrics == {"n": n}
    store.update(record, status="succeeded")  # a final record: its write transaction and journal entry
    assert store.list()[0].status == "succeeded"
    assert CountingStore.opened - opened_by_init == 1
    with store._connect() as first:
        pass
    with store._connect() as second:
        assert second is first


def test_a_nested_block_gets_a_connection_of_its_own(tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = make(store)
    with store._write() as outer:
        outer.execute("UPDATE runs SET scenario = 'inside' WHERE id = ?", (record.id,))
        with store._connect() as inner:
            assert inner is not outer
            # another connection: the outer transaction's uncommitted change is not visible, as before
            assert inner.execute("SELECT scenario FROM runs WHERE id = ?", (record.id,)).fetchone()[0] != "inside"
    assert store.get(record.id).scenario == "inside"


def test_concurrent_threads_each_use_their_own(tmp_path: Path) -> None:
    store = Store(tmp_path)
    seen: set[int] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def work(k: int) -> list[str]:
        ids = []
        for n in range(25):
            with store._connect() as db:
                with lock:
                    seen.add(id(db))
                if n == 0:
                    barrier.wait(30)  # all four hold a connection at once
            record = make(store, scenario=f"t{k}", parameters={"n": n})
            ids.append(store.update(record, status="succeeded", metrics={"k": k, "n": n}).id)
        return ids

    with ThreadPoolExecutor(4) as pool:
        ids = [i for chunk in pool.map(work, range(4)) for i in chunk]
    assert len(seen) >= 4
    records = {r.id: r for r in store.list(limit=None)}
    assert set(ids) <= records.keys() and len(ids) == 100
    assert all(records[i].status == "succeeded" for i in ids)
    with store._connect() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM journal").fetchone()[0] == 100


def test_a_forked_child_never_uses_its_parents_connections(tmp_path: Path) -> None:
    store = Store(tmp_path)
    make(store, scenario="parent-before")
    in_use = threading.Event()
    release = threading.Event()

    def hold() -> None:  # a connection in use in another thread while the process forks
        with store._connect() as db:
            db.execute("SELECT count(*) FROM runs").fetchone()
            in_use.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert in_use.wait(30)
    with store._connect() as parents:
        parent_id = id(parents)

    def child() -> bytes:
        assert not store._connections._idle  # idle ones were closed before the fork
        with store._connect() as db:
            fresh = id(db) != parent_id
        make(store, scenario="child")
        store.close()
        return b"ok" if fresh else b"reused"

    said = in_forked_child(child)
    release.set()
    holder.join(30)
    assert said == (b"ok", 0)
    make(store, scenario="parent-after")
    assert sorted(r.scenario for r in store.list()) == ["child", "parent-after", "parent-before"]
    with store._connect() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_connection_made_in_another_process_is_never_used(tmp_path: Path) -> None:
    """Even without the fork hooks (a fork outside os.fork): the pid check alone starts over."""
    store = Store(tmp_path)
    make(store)
    connections = store._connections
    kept = connections._idle[-1][0]
    connections._pid = -1  # as if these were made by another process
    with store._connect() as db:
        assert db is not kept
    assert kept in connections_module._INHERITED  # kept referenced, never closed by this process
    connections_module._INHERITED.remove(kept)
    kept.close()


def test_a_replaced_store_file_is_read_anew(tmp_path: Path) -> None:
    """Removed (with its -wal and -shm) and another put in its place, as a restore with the store's users
    stopped would: a kept connection would still read (and write) the old, unlinked file."""
    first, second = tmp_path / "first", tmp_path / "second"
    store = Store(first)
    make(store, scenario="old")
    other = Store(second)
    make(other, scenario="new")
    other.close()
    for path in first.glob("runs.db*"):
        path.unlink()
    os.replace(second / "runs.db", first / "runs.db")
    assert [r.scenario for r in store.list()] == ["new"]


def test_close_folds_the_wal_in_and_the_next_call_reopens(tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = make(store)
    assert (tmp_path / "runs.db-wal").exists()  # a connection is open
    store.close()
    assert not (tmp_path / "runs.db-wal").exists()
    assert store.get(record.id) == record


def test_a_database_error_drops_the_connection(tmp_path: Path) -> None:
    store = Store(tmp_path)
    make(store)
    with store._connect() as before:
        pass
    with pytest.raises(StoreError), store._connect() as db:
        db.execute("SELECT * FROM no_such_table")
    with store._connect() as after:
        assert after is not before
        assert after.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_a_block_that_leaves_a_transaction_open_is_rolled_back_not_kept(tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = make(store)
    with pytest.raises(KeyError), store._connect() as db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE runs SET scenario = 'half' WHERE id = ?", (record.id,))
        raise KeyError("a bug in the caller")
    assert store.get(record.id).scenario == record.scenario
    make(store)  # the write lock was released: another write goes through


def test_close_while_in_use_closes_it_when_its_block_ends(tmp_path: Path) -> None:
    store = Store(tmp_path)
    make(store)
    with store._connect() as db:
        store.close()
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1  # its block goes on
    with pytest.raises(sqlite3.ProgrammingError):  # closed at the end of its block, not kept
        db.execute("SELECT 1")
    assert not store._connections._idle
    assert len(store.list()) == 1


def test_at_most_keep_idle_connections(tmp_path: Path) -> None:
    store = Store(tmp_path)
    make(store)
    keep = connections_module.Connections.KEEP
    with contextlib.ExitStack() as stack:  # more blocks open at once than are kept afterwards
        held = [stack.enter_context(store._connect()) for _ in range(keep + 3)]
        assert len({id(db) for db in held}) == keep + 3
    assert len(store._connections._idle) == keep
