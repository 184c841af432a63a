"""What differs between the store's SQL databases, in one small value: the store writes its SQL once, with
``?`` placeholders, and asks the :class:`Dialect` for the few pieces that differ (the write-transaction
start, row locks, pattern match, the tie-break column)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Dialect:
    """Usage: ``db.execute(store.dialect.begin_write)``; ``f"... LIMIT 1{store.dialect.lock_skip}"``."""

    name: str  # sqlite | postgresql
    begin_write: str  # takes the write lock first (SQLite: BEGIN IMMEDIATE), so check-then-write is atomic
    lock: str  # appended to a SELECT whose rows the transaction will change
    lock_skip: str  # ... and skips rows another transaction holds (the claim); the queue is aliased ``q``
    glob: str  # SQL operator matching a regex, given glob_arg(db, pattern)
    order_tiebreak: str  # the column that orders runs created in the same millisecond
    no_limit: str  # LIMIT that means all rows
    journal_lock: str  # run before appending to the journal chain, so appends follow one another ("": the write lock is enough)

    def glob_arg(self, db: Any, pattern: str) -> str:
        """The argument for ``glob`` (a regex both databases read alike), the connection made ready for it."""
        from .queue import glob_regex

        if self.name == "sqlite":  # SQLite's REGEXP calls a function the connection must provide
            db.create_function("regexp", 2, _regexp, deterministic=True)
        return glob_regex(pattern)


def _regexp(pattern: str, value: str | None) -> bool:
    return value is not None and re.search(pattern, value) is not None


SQLITE = Dialect(name="sqlite", begin_write="BEGIN IMMEDIATE", lock="", lock_skip="", glob="REGEXP",
                 order_tiebreak="rowid", no_limit="-1", journal_lock="")
POSTGRESQL = Dialect(name="postgresql", begin_write="BEGIN", lock=" FOR UPDATE", lock_skip=" FOR UPDATE OF q SKIP LOCKED",
                     glob="~", order_tiebreak="id", no_limit="ALL",
                     journal_lock="SELECT pg_advisory_xact_lock(7108)")
