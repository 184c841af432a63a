"""The store backends the store tests run against: SQLite in a temp folder, and PostgreSQL on a throwaway
server started for the session (tests/pg_fixture.py). ``store`` is parametrized over both; a test that
needs the URL (to open the same store in another process) asks for ``backend`` too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from livedocs_runner.records.store import open_store
from tests.pg_fixture import pg_server  # noqa: F401  (a fixture; import it with `store`)

BACKENDS = ["sqlite", "postgresql"]


@dataclass(frozen=True)
class Backend:
    name: str
    url: str | None  # None: SQLite in the home folder


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", None)
    pg = request.getfixturevalue("pg_server")
    return Backend("postgresql", pg.new_database())


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> Any:
    store = open_store(tmp_path / "home", backend.url)
    yield store
    if hasattr(store, "close"):
        store.close()


def journal_entries(store: Any, run_id: str) -> list[dict[str, Any]]:
    with store._connect() as db:
        return [json.loads(r[0]) for r in db.execute("SELECT entry FROM journal WHERE run_id = ? ORDER BY seq", (run_id,))]
