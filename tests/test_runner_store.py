"""``Store.add_all`` (a batch's queued runs in one transaction) on both backends: every record is there after
one call, and a record that cannot be added leaves none of the batch behind."""

from __future__ import annotations

from typing import Any

import pytest

from livedocs_runner.records.store import RunRecord, new_id
from tests.store_backends import backend, pg_server, store  # noqa: F401  (fixtures: SQLite and PostgreSQL)


def queued(seed: int, run_id: str | None = None) -> RunRecord:
    return RunRecord(id=run_id or new_id(), status="queued", notebook="/nb/model.ipynb", notebook_sha256="0" * 64,
                     scenario=f"s[seed={seed}]", parameters={"seed": seed}, trigger="cli", user="ana")


def test_a_batch_is_added_in_one_call(store: Any) -> None:
    added = store.add_all([queued(i) for i in range(5)])
    assert [store.get(r.id).parameters for r in added] == [{"seed": i} for i in range(5)]
    assert all(r.created_at and r.run_dir for r in added)


def test_a_record_that_cannot_be_added_leaves_none_of_the_batch(store: Any) -> None:
    taken = store.add(queued(0))
    batch = [queued(1), queued(2, run_id=taken.id), queued(3)]  # the second one's id is taken
    with pytest.raises(Exception):  # noqa: B017 - sqlite3.IntegrityError or psycopg's UniqueViolation
        store.add_all(batch)
    assert [r.id for r in store.list()] == [taken.id]
