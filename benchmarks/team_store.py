"""Issue 11's store targets on SQLite and PostgreSQL. Prints a table; never asserts.

    python benchmarks/team_store.py [RUNS]      # RUNS records in the big store (default 100000)

Rows (medians): queue claim-to-start latency (``Store.claim`` on a queue of 200 runs: the claim transaction that
marks the next run running; target < 20 ms); the first page of runs on a store of RUNS runs, in-process
(``Store.query``, 50 newest) and through ``livedocs runs`` (the CLI, minus a bare interpreter start; target
< 200 ms per page). PostgreSQL: ``$LIVEDOCS_BENCH_DB`` (a URL to an empty
database), else a throwaway server started here (Debian's postgresql; skipped with a note when missing).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from livedocs_runner.records.record import RunRecord, to_row  # noqa: E402
from livedocs_runner.records.store import open_store  # noqa: E402


@contextlib.contextmanager
def postgresql() -> Iterator[object | None]:
    """Something with ``new_database()``: the URL in $LIVEDOCS_BENCH_DB, or a throwaway server; None if neither."""
    if os.environ.get("LIVEDOCS_BENCH_DB"):
        class Given:
            @staticmethod
            def new_database() -> str:
                return os.environ["LIVEDOCS_BENCH_DB"]
        yield Given()
        return
    from tests.pg_fixture import PgServer, _bin

    if not (_bin("initdb") and _bin("pg_ctl")):
        yield None
        return
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


def claim_latency(home: Path, url: str | None, queued: int = 200) -> float:
    store = open_store(home, url)
    for i in range(queued):
        store.enqueue(RunRecord(id=f"{i:012x}", notebook="/nb/model.ipynb", notebook_sha256="0" * 64,
                                user=f"user{i % 5}"), {"plan": {"scenario": str(i)}})
    times = []
    for _ in range(queued):
        start = time.perf_counter()
        job = store.claim("bench:1:0")
        times.append(time.perf_counter() - start)
        assert job is not None
    return statistics.median(times)


def fill(home: Path, url: str | None, runs: int) -> None:
    """``runs`` finished records, a day of them per 1000, written in one transaction."""
    store = open_store(home, url)
    from livedocs_runner.records.migrations import notebook_name

    rows = []
    for i in range(runs):
        created = f"2026-{1 + i // 10000 % 12:02d}-{1 + i // 1000 % 28:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00.000+00:00"
        row = to_row(RunRecord(id=f"{i:012x}", status="succeeded", notebook=f"/nb/model{i % 7}.ipynb",
                               notebook_sha256="0" * 64, created_at=created, scenario=f"s{i % 100}",
                               parameters={"threshold": i % 10 / 10}, metrics={"total": i}, user=f"user{i % 20}",
                               run_dir=str(home / "runs" / f"{i:012x}")))
        row["notebook_name"] = notebook_name(row["notebook"])
        rows.append(row)
    columns = ", ".join(f'"{k}"' for k in rows[0])
    with store._write() as db:
        db.executemany(f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' * len(rows[0]))})",
                       [list(r.values()) for r in rows])
    if url is None:  # fold the bulk insert's WAL in now, not in the first timed command
        with store._connect() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with store._connect() as db:
            db.execute("ANALYZE runs")


def store_page(home: Path, url: str | None, n: int = 15) -> float:
    """The store's share of a page: ``Store.query`` for the newest 50 runs (what `livedocs runs` asks)."""
    from livedocs_runner.records.query import RunQuery

    store = open_store(home, url)
    store.query(RunQuery(limit=50))
    times = []
    for _ in range(n):
        start = time.perf_counter()
        store.query(RunQuery(limit=50))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cli_page(home: Path, url: str | None, n: int = 7) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_")}
    env.update(LIVEDOCS_HOME=str(home), **({"LIVEDOCS_DB": url} if url else {}))
    command = [sys.executable, "-m", "livedocs_runner.cli", "runs"]
    if not (REPO / "livedocs_runner" / "cli" / "__main__.py").exists():
        command = [sys.executable, "-c", "from livedocs_runner.cli import main; main()", "runs"]

    def once(argv: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(argv, env=env, cwd=home, check=True, capture_output=True)
        return time.perf_counter() - start

    once(command)
    pages = statistics.median(once(command) for _ in range(n))
    bare = statistics.median(once([sys.executable, "-c", "pass"]) for _ in range(n))
    return pages - bare


def main(argv: list[str]) -> None:
    runs = int(argv[0]) if argv else 100_000
    results: dict[str, tuple[float, float, float] | None] = {}
    with tempfile.TemporaryDirectory(prefix="livedocs-team-bench-") as tmp, postgresql() as pg:
        folder = Path(tmp)
        for name in ("SQLite", "PostgreSQL"):
            if name == "PostgreSQL" and pg is None:
                results[name] = None
                continue
            new_url = (lambda: None) if name == "SQLite" else pg.new_database  # type: ignore[union-attr]
            claim = claim_latency(folder / f"{name}-queue", new_url())
            big, url = folder / f"{name}-big", new_url()
            fill(big, url, runs)
            results[name] = (claim, store_page(big, url), cli_page(big, url))
    print(f"Team store: queue claim latency (200 queued) and `livedocs runs` first page on {runs} runs")
    print("| store      | claim-to-start | target  | met | page (store) | `livedocs runs` (CLI) | target   | met |")
    print("|------------|----------------|---------|-----|--------------|-----------------------|----------|-----|")
    for name, result in results.items():
        if result is None:
            print(f"| {name:<10} | (no PostgreSQL here: apt-get install postgresql, or set LIVEDOCS_BENCH_DB) |")
            continue
        claim, query, page = result
        print(f"| {name:<10} | {claim * 1000:11.1f} ms | < 20 ms | {'yes' if claim < 0.020 else 'NO':<3} | "
              f"{query * 1000:9.1f} ms | {page * 1000:18.0f} ms | < 200 ms | {'yes' if page < 0.200 else 'NO':<3} |")
    print("CLI: wall time minus a bare interpreter start (the CLI's own imports included); store: in-process query.")


if __name__ == "__main__":
    main(sys.argv[1:])
