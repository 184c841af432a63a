"""A SQLite store's connections kept open between calls, safely across threads and ``fork`` (private to
``records``; moved out of ``store.py``)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Connections:
    """A store's idle SQLite connections in this process, kept for the next call (opening one and its ``PRAGMA``
    cost more than most of the store's statements; a run made ~6 such opens).

    Each call takes one for the length of its block: the one it used last when idle, else a new one, so a
    thread reuses the same connection call after call, concurrent threads each have their own, and a nested
    block (``store.get`` inside a write transaction) has one of its own, never joining or ending the outer
    transaction, as when every call opened its own. At most ``KEEP`` stay open. A connection is dropped for a new
    one when its block failed with a database error or left a transaction open, and when ``runs.db`` was
    replaced or removed since it was opened (another inode), so the store reads the file that is there now.
    Across ``fork`` nothing is carried: idle connections are closed before a fork, and the child never uses,
    nor closes, one its parent had in use (SQLite forbids both; see :func:`_before_fork`).
    """

    KEEP = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[tuple[sqlite3.Connection, tuple[int, int] | None]] = []  # most recently used last
        self._generation = 0  # close() moves it on: connections of an older one are closed when given back
        self._forked_at = 0  # generations before it were in use in the parent when this process was forked
        self._pid = os.getpid()
        self._finalizer = weakref.finalize(self, _close_idle, self._idle, self._lock, self._pid)
        _ALL.add(self)

    def take(self, connect: Callable[[], sqlite3.Connection],
             path: Path | None) -> tuple[sqlite3.Connection, tuple[int, int] | None, int]:
        """(connection, the inode it was opened on, generation): an idle one still on ``path``'s file, else a new one."""
        if self._pid != os.getpid():
            self.forked()
        with self._lock:
            entry = self._idle.pop() if self._idle else None
            generation = self._generation
        if entry is not None:
            current = _file_id(path) if path is not None else None
            if current == entry[1]:
                return entry[0], entry[1], generation
            _close(entry[0])
        db = connect()
        return db, _file_id(path) if path is not None else None, generation

    def give_back(self, db: sqlite3.Connection, file_id: tuple[int, int] | None, generation: int, *,
                  broken: bool = False) -> None:
        if generation < self._forked_at:  # in use by the parent when it forked this process: never touched
            _INHERITED.append(db)
            return
        if not broken and db.in_transaction:  # a block left its transaction open (a caller's bug): not kept
            broken = True
        with self._lock:
            keep = not broken and generation == self._generation and len(self._idle) < self.KEEP
            if keep:
                self._idle.append((db, file_id))
        if not keep:
            _close(db)

    def close(self) -> None:
        """Close the idle connections; those in use are closed when their blocks end."""
        if self._pid != os.getpid():
            self.forked()
            return
        with self._lock:
            self._generation += 1
        _close_idle(self._idle, self._lock, self._pid)

    def forked(self) -> None:
        """In a forked child: forget the parent's connections without touching them (kept referenced, so no
        garbage collection closes them here either)."""
        _INHERITED.extend(db for db, _ in self._idle)
        self._idle = []
        self._lock = threading.Lock()
        self._generation += 1  # a connection in use at the fork is never given back to the child's list
        self._forked_at = self._generation
        self._pid = os.getpid()
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _close_idle, self._idle, self._lock, self._pid)


_ALL: weakref.WeakSet[Connections] = weakref.WeakSet()  # every store's connections in this process, for fork
_INHERITED: list[sqlite3.Connection] = []  # connections a forked process inherited from its parent: never used


def _close(db: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        db.close()


def _close_idle(idle: list[Any], lock: threading.Lock, pid: int) -> None:
    if os.getpid() != pid:  # at a forked child's exit: its parent's connections are not its to close
        return
    with lock:
        doomed = [db for db, _ in idle]
        idle.clear()
    for db in doomed:
        _close(db)


def _before_fork() -> None:
    """Close every idle connection before ``fork``: a child that opens the store then starts from no inherited
    SQLite state, as it did when no connection outlived its call (SQLite keeps per-process lock bookkeeping
    that a child would wrongly inherit for a connection open at the fork)."""
    for connections in list(_ALL):
        if connections._pid == os.getpid():
            _close_idle(connections._idle, connections._lock, connections._pid)


def _after_fork_in_child() -> None:
    for connections in list(_ALL):
        connections.forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


__all__ = ["Connections"]
