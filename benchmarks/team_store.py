"""Issue 11's store targets on SQLite and PostgreSQL. Prints a table; never asserts.

    python benchmarks/team_store.py [RUNS]      # RUNS records in the big store (default 100000)

Rows (medians): queue claim-to-start latency (``Store.claim`` on a queue of 200 runs: the claim transaction that
marks the next run running; target < 20 ms); the first page of runs on a store of RUNS runs of one notebook,
in-process (``Store.query``, 50 newest), through ``livedocs runs`` (the CLI, minus a bare interpreter start) and
the app's History page (``?history=credit_risk`` rerun in Streamlit's AppTest); target < 200 ms per page.
Drain: 200 queued runs of a one-cell notebook taken by 4 ``livedocs worker`` processes (separate processes, as a
team deploys them, so claims race across processes): wall time and runs/s, and each run executed exactly once.
The whole script takes about a minute here. PostgreSQL: ``$LIVEDOCS_BENCH_DB`` (a URL to an empty
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
        store.enqueue(RunRecord(id=f"{0xc0000000000 + i:012x}", notebook="/nb/model.ipynb",  # not fill()'s ids
                                notebook_sha256="0" * 64, user=f"user{i % 5}"), {"plan": {"scenario": str(i)}})
    times, claimed = [], []
    for _ in range(queued):
        start = time.perf_counter()
        job = store.claim("bench:1:0")
        times.append(time.perf_counter() - start)
        assert job is not None
        claimed.append(job.record)
    from livedocs_runner.records.store import now

    for record in claimed:  # ended, so no worker (the drain's, on a shared $LIVEDOCS_BENCH_DB) finds them lost
        store.update(record, status="succeeded", finished_at=now())
    return statistics.median(times)


DRAIN_RUNS, DRAIN_WORKERS = 200, 4


def _tiny_notebook(folder: Path) -> Path:
    """A notebook whose one real cell appends its ``tag`` to ``log``: each execution leaves one line."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells += [nbformat.v4.new_code_cell('log = ""\ntag = ""', metadata={"tags": ["parameters"]}),
                 nbformat.v4.new_code_cell('with open(log, "a") as handle:\n    handle.write(tag + "\\n")')]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "tiny.ipynb")
    return folder / "tiny.ipynb"


def _stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM each worker (``--grace 0``), then kill -9 whatever is left of its process tree (kernels included)."""
    import signal

    import psutil

    trees = {}
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            trees[proc.pid] = psutil.Process(proc.pid).children(recursive=True)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for child in trees.get(proc.pid, []):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def drain(home: Path, url: str | None, runs: int = DRAIN_RUNS, workers: int = DRAIN_WORKERS) -> dict[str, float]:
    """``runs`` queued runs of a tiny notebook drained by ``workers`` separate ``livedocs worker`` processes
    (the team setup: N x `livedocs worker`, each claiming across processes). Wall time from starting the workers
    (interpreter, imports, warm kernel) to every run final, and from the first run's start to the last one's end;
    each run's executions counted from the notebook's log (exactly once each, or the result says so)."""
    from collections import Counter

    from livedocs_runner.execute import RunOptions
    from livedocs_runner.plan import plan_runs
    from livedocs_runner.records.query import RunQuery
    from livedocs_runner.records.record import FINAL
    from livedocs_runner.submit import enqueue

    store = open_store(home, url)
    notebook, log = _tiny_notebook(home.parent / f"{home.name}-nb"), home.parent / f"{home.name}-executions.txt"
    template = plan_runs(notebook, overrides={"log": str(log), "tag": "t"})[0]
    import dataclasses

    queued = [enqueue(dataclasses.replace(template, parameters={**template.parameters, "tag": f"r{n:03d}"}), store,
                      RunOptions(trigger="cli", user=f"user{n % 4}", report=False, use_cache=False))
              for n in range(runs)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_")}
    env.update(LIVEDOCS_HOME=str(home), LIVEDOCS_USER="bench", **({"LIVEDOCS_DB": url} if url else {}))
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "livedocs_runner.cli", "worker", "--grace", "0"], env=env,
                              cwd=home.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True) for _ in range(workers)]
    try:
        deadline = start + 600
        pending = RunQuery(notebook=str(notebook.resolve()), statuses=("queued", "running"), limit=None)
        while left := len(store.query(pending)):  # this notebook's runs only: $LIVEDOCS_BENCH_DB is one database
            if time.perf_counter() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"drain: {left} runs not final (a worker exited: "
                                   f"{[p.returncode for p in procs]})")
            time.sleep(0.05)
        wall = time.perf_counter() - start
    finally:
        _stop(procs)
    records = [store.get(r.id) for r in queued]
    done = Counter(log.read_text().split()) if log.exists() else Counter()
    first = min(r.started_at for r in records if r.started_at)
    last = max(r.finished_at for r in records if r.finished_at)
    from datetime import datetime

    busy = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return {"wall": wall, "busy": busy, "succeeded": sum(r.status == "succeeded" for r in records),
            "once": sum(done[f"r{n:03d}"] == 1 for n in range(runs)), "twice": sum(c > 1 for c in done.values()),
            "missing": sum(done[f"r{n:03d}"] == 0 for n in range(runs)), "runs": runs, "workers": workers,
            "pids": len({(r.environment or {}).get("pid") for r in records})}


def fill(home: Path, url: str | None, runs: int) -> None:
    """``runs`` finished records of the demo's credit_risk notebook (its History page shows them all: the worst
    case), a day of them per 1000, written in one transaction."""
    store = open_store(home, url)
    from livedocs_runner.records.migrations import notebook_name

    notebook, config = str(REPO / "notebooks" / "credit_risk.ipynb"), str(REPO / "configs" / "credit_risk.yaml")

    rows = []
    for i in range(runs):
        created = f"2026-{1 + i // 10000 % 12:02d}-{1 + i // 1000 % 28:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00.000+00:00"
        row = to_row(RunRecord(id=f"{i:012x}", status="succeeded", notebook=notebook, config=config,
                               notebook_sha256="0" * 64, trigger=("cli", "app")[i % 2], created_at=created, scenario=f"s{i % 100}",
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


def app_history(home: Path, url: str | None, n: int = 11) -> float:
    """The app's History page (``?history=credit_risk``) rendered server-side by Streamlit's AppTest on the big
    store (no in-app worker: nothing but the page); the median of ``n`` reruns after a first one (imports)."""
    import logging

    from streamlit.testing.v1 import AppTest

    # the services are built outside a script run (AppTest's thread): Streamlit warns once per cache; not ours
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)

    from apps.livedocs_ui.services import stop_all

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("LIVEDOCS_")}
    os.environ.update(LIVEDOCS_CONFIGS=str(REPO / "configs"), LIVEDOCS_HOME=str(home), LIVEDOCS_APP_WORKER="0",
                      LIVEDOCS_USER="bench", **({"LIVEDOCS_DB": url} if url else {}))
    main = sys.modules["__main__"]  # AppTest leaves the script as __main__
    try:
        at = AppTest.from_file(str(REPO / "apps" / "livedocs_app.py"), default_timeout=120)
        at.query_params["history"] = "credit_risk"
        at.run()
        assert not at.exception and at.dataframe, f"the History page did not render: {at.exception}"
        times = []
        for _ in range(n):
            start = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        stop_all()
        sys.modules["__main__"] = main
        for k in [k for k in os.environ if k.startswith("LIVEDOCS_")]:
            del os.environ[k]
        os.environ.update(saved)


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
    results: dict[str, dict[str, object] | None] = {}
    with tempfile.TemporaryDirectory(prefix="livedocs-team-bench-") as tmp, postgresql() as pg:
        folder = Path(tmp)
        for name in ("SQLite", "PostgreSQL"):
            if name == "PostgreSQL" and pg is None:
                results[name] = None
                continue
            new_url = (lambda: None) if name == "SQLite" else pg.new_database  # type: ignore[union-attr]
            claim = claim_latency(folder / f"{name}-queue", new_url())
            drained = drain(folder / f"{name}-drain", new_url())
            big, url = folder / f"{name}-big", new_url()
            fill(big, url, runs)
            results[name] = {"claim": claim, "drain": drained, "query": store_page(big, url),
                             "cli": cli_page(big, url), "app": app_history(big, url)}

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    print(f"Team store: queue claim latency (200 queued) and the first page of runs on {runs} runs")
    print("| store      | claim-to-start | target  | met | page (store) | `livedocs runs` (CLI) | History page (app) "
          "| target   | met |")
    print("|------------|----------------|---------|-----|--------------|-----------------------|--------------------"
          "|----------|-----|")
    for name, result in results.items():
        if result is None:
            print(f"| {name:<10} | (no PostgreSQL here: apt-get install postgresql, or set LIVEDOCS_BENCH_DB) |")
            continue
        claim, query, page, app = (float(result[k]) for k in ("claim", "query", "cli", "app"))  # type: ignore[arg-type]
        print(f"| {name:<10} | {claim * 1000:11.1f} ms | < 20 ms | {met(claim < 0.020):<3} | {query * 1000:9.1f} ms | "
              f"{page * 1000:18.0f} ms | {app * 1000:15.0f} ms | < 200 ms | {met(max(page, app) < 0.200):<3} |")
    print("CLI: wall time minus a bare interpreter start (the CLI's own imports included); store: in-process query; "
          "History: one rerun of ?history=credit_risk in Streamlit's AppTest (server side: 1000 newest runs, filters).")
    print()
    print(f"Drain: {DRAIN_RUNS} queued runs of a one-cell notebook, {DRAIN_WORKERS} `livedocs worker` processes "
          "(one slot each) started together")
    print("| store      | wall (start workers → all final) | runs/s | first start → last end | runs/s | succeeded "
          "| executed once | twice | never | workers used |")
    print("|------------|----------------------------------|--------|------------------------|--------|-----------"
          "|---------------|-------|-------|--------------|")
    for name, result in results.items():
        if result is None:
            continue
        d = result["drain"]  # type: ignore[assignment]
        print(f"| {name:<10} | {d['wall']:29.1f} s | {d['runs'] / d['wall']:6.1f} | {d['busy']:19.1f} s | "  # type: ignore[index]
              f"{d['runs'] / d['busy']:6.1f} | {d['succeeded']:5d}/{d['runs']:<3d} | {d['once']:9d}/{d['runs']:<3d} | "  # type: ignore[index]
              f"{d['twice']:5d} | {d['missing']:5d} | {d['pids']:7d}/{d['workers']:<4d} |")  # type: ignore[index]
    print("Exactly once: each run's tag counted in the log its one cell appends to (an execution leaves one line).")


if __name__ == "__main__":
    main(sys.argv[1:])
