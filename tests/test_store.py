"""The run store: prefix lookup, WAL, concurrent writers, stale runs, atomic files."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from livedocs_runner.errors import RunNotFound, StoreError, StoreWarning
from livedocs_runner.records.store import RunRecord, Store, atomic_write, new_id
from tests.conftest import CLI, CliResult, cli_env, cli_runner


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


# --- read-only stores (issue 7, item 10) --------------------------------------------------------

def _can_unshare() -> bool:
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0 if shutil.which("unshare") else False


READ_ONLY = """mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@" """


def read_only_run(target: Path, argv: list[str], env: dict[str, str] | None = None,
                  cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` while ``target`` (the home folder, or runs.db alone) is read-only for it.

    root ignores file permissions, so as root the target becomes a read-only bind mount in a private
    mount namespace (nothing outside it changes); any other user gets the write bits removed."""
    if os.geteuid() == 0:
        if not _can_unshare():
            pytest.skip("needs `unshare -m` (a private mount namespace) to make a read-only store as root")
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", READ_ONLY, "sh", str(target),
                               *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    mode = target.stat().st_mode
    target.chmod(mode & ~0o222)
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    finally:
        target.chmod(mode)


def read_only_cli(target: Path, home: Path, *args: str | Path) -> CliResult:
    done = read_only_run(target, [*CLI, *map(str, args)], env=cli_env(home))
    return CliResult(done.returncode, done.stdout, done.stderr)


def populated(home: Path) -> tuple[RunRecord, RunRecord, RunRecord]:
    """Two succeeded runs with an executed notebook each, and one stale 'running' run of a dead process."""
    import nbformat
    store = Store(home)
    runs = []
    for n in (1, 2):
        record = make(store, scenario=f"s{n}", parameters={"a": n, "name": "é ✓"}, status="succeeded",
                      metrics={"m": n + 0.5}, duration_s=1.0, started_at="2026-01-01T00:00:00+00:00")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# Result {n}"),
                                             nbformat.v4.new_code_cell("print(a)", outputs=[
                                                 nbformat.v4.new_output("stream", text=f"value {n}\n")])])
        path = store.run_dir(record.id) / "output.ipynb"
        atomic_write(path, nbformat.writes(nb))
        runs.append(store.update(record, output_notebook=str(path)))
    stale = make(store, status="running", environment={"hostname": platform.node(), "pid": dead_pid()})
    return runs[0], runs[1], stale


def files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("what", ["folder", "file"])
def test_history_commands_work_on_a_read_only_store(tmp_path: Path, what: str) -> None:
    home = tmp_path / "home"
    a, b, stale = populated(home)
    target = home if what == "folder" else home / "runs.db"
    before = files(home)

    listed = read_only_cli(target, home, "runs", "--json")
    assert listed.code == 0, listed.stderr
    assert {r["id"]: r["status"] for r in json.loads(listed.stdout)} == {
        a.id: "succeeded", b.id: "succeeded", stale.id: "running"}  # abandon_stale left it: it cannot write
    assert [r["id"] for r in json.loads(read_only_cli(target, home, "runs", "--json", "--notebook", "simple.ipynb")
                                        .stdout)] == [stale.id, b.id, a.id]
    shown = read_only_cli(target, home, "show", a.id[:6])
    assert shown.code == 0 and f"Run:              {a.id}" in shown.stdout, shown.stderr
    compared = read_only_cli(target, home, "compare", a.id, b.id, "--json")
    assert compared.code == 0, compared.stderr
    assert json.loads(compared.stdout)["metrics"] == {"m": [1.5, 2.5]}
    out = tmp_path / "elsewhere" / "report.html"
    reported = read_only_cli(target, home, "report", a.id, "-o", out)
    assert reported.code == 0, reported.stderr
    assert "value 1" in out.read_text() and a.id in out.read_text()
    in_place = read_only_cli(target if what == "folder" else home / "runs" / a.id, home, "report", a.id)
    error, hint = in_place.stderr.splitlines()  # "(Read-only file system)" or, as a user, "(Permission denied)"
    assert in_place.code == 2 and error.startswith(f"Error: cannot write the report to {home / 'runs' / a.id / 'report.html'} (")
    assert hint == f"Write it elsewhere with -o, e.g. `livedocs report {a.id} -o report.html`."

    assert files(home) == before  # nothing written, no -wal/-shm left behind


@pytest.mark.parametrize("what", ["folder", "file"])
def test_recording_into_a_read_only_store_is_a_clean_error(tmp_path: Path, what: str) -> None:
    home = tmp_path / "home"
    populated(home)
    target = home if what == "folder" else home / "runs.db"
    script = ("import sys\nfrom livedocs_runner.errors import StoreError\n"
              "from livedocs_runner.records.store import RunRecord, Store\n"
              "store = Store(sys.argv[1])\nassert store.read_only\n"
              "try:\n    store.add(RunRecord(id='abc123abc123', notebook='/nb.ipynb', notebook_sha256='0'))\n"
              "except StoreError as exc:\n    print(exc.exit_code, exc.message, exc.hint, sep='|')\n")
    done = read_only_run(target, [sys.executable, "-c", script, str(home)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"2|{home / 'runs.db'} is read-only here, and this command records runs."
                                   "|Run it with write access to the store, or record elsewhere with --home.")


@pytest.mark.parametrize("what", ["folder", "file"])
def test_livedocs_run_into_a_read_only_store_is_refused_before_anything_runs(tmp_path: Path, what: str) -> None:
    from tests.conftest import NOTEBOOKS
    home = tmp_path / "home"
    populated(home)
    before = files(home)
    result = read_only_cli(home if what == "folder" else home / "runs.db", home, "run", NOTEBOOKS / "simple.ipynb",
                           "--no-cache", "--no-report")
    assert result.code == 2 and result.stderr.splitlines() == [
        f"Error: {home / 'runs.db'} is read-only here, and this command records runs.",
        "Run it with write access to the store, or record elsewhere with --home."]
    assert files(home) == before


def test_a_read_only_store_in_use_by_a_writer_is_read_through_its_wal(tmp_path: Path) -> None:
    """A writer (outside the read-only view) holds the store open: its -wal has records not yet in runs.db."""
    home = tmp_path / "home"
    store = Store(home)
    first = make(store)
    writer = sqlite3.connect(home / "runs.db", isolation_level=None)
    try:
        writer.execute("SELECT count(*) FROM runs").fetchone()  # keeps the WAL open: no checkpoint on close
        second = make(store, scenario="only-in-the-wal")
        assert (home / "runs.db-wal").stat().st_size > 0
        listed = read_only_cli(home, home, "runs", "--json")
        assert listed.code == 0, listed.stderr
        assert [r["id"] for r in json.loads(listed.stdout)] == [second.id, first.id]
    finally:
        writer.close()


def test_a_missing_store_in_a_read_only_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = read_only_cli(home, home, "runs")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"Error: {home} holds no run store (runs.db) and is read-only, so none can be made.",
        "Point --home at the folder that holds runs.db, or at a folder you can write."]
    (home / "runs.db").touch()
    result = read_only_cli(home, home, "runs")
    assert result.code == 2
    assert result.stderr.splitlines() == [
        f"Error: {home / 'runs.db'} is empty (no run store yet) and read-only here.",
        "Point --home at the folder that holds your runs, or at a folder you can write."]


# --- damaged stores and records (issue 7, item 10) ----------------------------------------------

def damaged_store(home: Path, how: str) -> Path:
    db = home / "runs.db"
    if how == "garbage":
        home.mkdir(parents=True)
        db.write_bytes(b"this is not a database\n" * 200)
    elif how == "truncated":
        store = Store(home)
        for n in range(300):
            make(store, parameters={"n": n, "text": "x" * 200})
        store.close()  # its last connection folds the WAL into runs.db, as a CLI process does when it ends
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
    elif how == "folder":
        (db / "inside").mkdir(parents=True)
    return db


@pytest.mark.parametrize("how, says", [
    ("garbage", "is damaged or not a run store (file is not a database)."),
    ("truncated", "is damaged or not a run store (database disk image is malformed)."),
    ("folder", "is a folder, not a run store file."),
])
@pytest.mark.parametrize("command", [("runs",), ("show", "abc"), ("compare", "abc", "def"), ("report", "abc")])
def test_a_damaged_store_is_one_clear_error(tmp_path: Path, how: str, says: str, command: tuple[str, ...]) -> None:
    home = tmp_path / "home"
    db = damaged_store(home, how)
    before = files(home)
    result = cli_runner(home)(*command)
    assert result.code == 2, result.stderr
    error, fix = result.stderr.splitlines()
    assert error == f"Error: {db} {says}"
    assert fix.startswith(f"Move it {'aside' if how != 'folder' else 'away'} (mv {db} {db}.")
    assert files(home) == before


def test_a_damaged_store_names_its_backups(tmp_path: Path) -> None:
    home = tmp_path / "Bob's runs"  # the suggested command must still be one a shell runs as meant
    db = damaged_store(home, "garbage")
    (home / "runs.db.v1.bak").write_bytes(b"")
    result = cli_runner(home)("runs")
    assert result.code == 2
    assert result.stderr.splitlines()[1] == (
        f"Move it aside (mv {shlex.quote(str(db))} {shlex.quote(str(db) + '.broken')}) and livedocs starts a new, "
        "empty store, or restore a backup over it (runs.db.v1.bak).")
    assert "'\"'\"'" in result.stderr  # the quote in the folder name, escaped for the shell


DAMAGE = [
    ("parameters", "'{\"a\": 1'", "not JSON: Expecting ',' delimiter: line 1 column 8 (char 7)"),
    ("metrics", "'[1, 2]'", "JSON list where a dict belongs"),
    ("error", "'\"boom\"'", "JSON str where a dict belongs"),
    ("inputs", "X'00ff'", "bytes where text belongs"),
    ("duration_s", "'fast'", "'fast' is not a number"),
    ("status", "42", "int where text belongs"),
]


@pytest.mark.parametrize("field, value, problem", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_damaged_record_is_left_out_of_lists_with_a_warning(tmp_path: Path, field: str, value: str,
                                                              problem: str) -> None:
    store = Store(tmp_path)
    good, bad, other = make(store, "aaa000000000"), make(store, "bbb000000000"), make(store, "ccc000000000")
    with sqlite3.connect(store.db_path) as db:
        db.execute(f"UPDATE runs SET {field} = {value} WHERE id = ?", (bad.id,))  # noqa: S608 (test data)
    with pytest.warns(StoreWarning) as caught:
        listed = store.list()
    assert [r.id for r in listed] == [other.id, good.id]
    assert [str(w.message) for w in caught] == [
        f"{store.db_path}: run 'bbb000000000' has a damaged field '{field}' ({problem}); it is left out. "
        f"Delete it with: sqlite3 {store.db_path} \"DELETE FROM runs WHERE id = 'bbb000000000'\""]
    with pytest.raises(StoreError) as info:
        store.get("bbb")
    assert info.value.message == f"{store.db_path}: run 'bbb000000000' has a damaged field '{field}' ({problem})."
    assert info.value.exit_code == 2
    assert store.get(good.id) == good


def test_the_cli_shows_a_damaged_record_as_a_warning(tmp_path: Path) -> None:
    store = Store(tmp_path)
    good, bad = make(store, "aaa000000000"), make(store, "bbb000000000")
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE runs SET parameters = 'nope', status = 'running' WHERE id = ?", (bad.id,))
    run = cli_runner(tmp_path)
    listed = run("runs", "--json")
    assert listed.code == 0 and [r["id"] for r in listed.json()] == [good.id]
    assert len(listed.stderr.splitlines()) == 1  # once, though abandon_stale met it too
    assert listed.stderr.startswith(f"Warning: {store.db_path}: run 'bbb000000000' has a damaged field 'parameters' "
                                    "(not JSON: Expecting value: line 1 column 1 (char 0)); it is left out.")
    shown = run("show", "bbb")
    assert shown.code == 2 and "Traceback" not in shown.stderr
    assert shown.stderr.splitlines()[0] == (f"Error: {store.db_path}: run 'bbb000000000' has a damaged field "
                                            "'parameters' (not JSON: Expecting value: line 1 column 1 (char 0)).")


def test_a_damaged_cache_candidate_is_skipped(tmp_path: Path) -> None:
    store = Store(tmp_path)
    older = make(store, "aaa000000000", status="succeeded", cache_key="k")
    newer = make(store, "bbb000000000", status="succeeded", cache_key="k")
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE runs SET metrics = '{' WHERE id = ?", (newer.id,))
    with pytest.warns(StoreWarning, match="run 'bbb000000000' has a damaged field 'metrics'"):
        assert store.find_cached("k") == older


# --- what cannot be stored is refused before the insert -----------------------------------------

@pytest.mark.parametrize("fields, says", [
    ({"scenario": "a\udc80b"}, "field 'scenario' holds text that is not valid Unicode ('\\udc80', a lone surrogate)"),
    ({"parameters": {"s": "\ud800"}}, "field 'parameters' holds text that is not valid Unicode ('\\ud800', a lone surrogate)"),
    ({"parameters": {"n": 10 ** 5000}}, "field 'parameters' cannot be stored as JSON (Exceeds the limit (4300 digits)"),
])
def test_values_that_cannot_be_stored_are_refused(tmp_path: Path, fields: dict, says: str) -> None:
    store = Store(tmp_path)
    with pytest.raises(StoreError) as info:
        make(store, "abc000000000", **fields)
    assert info.value.message.startswith(f"run abc000000000: {says}")
    assert store.list() == []
    record = make(store, "def000000000")
    with pytest.raises(StoreError):
        store.update(record, **fields)
    assert store.get(record.id) == record


# --- the notebook filter (issue 7, item 14) -----------------------------------------------------

def test_notebook_filter_is_exact(tmp_path: Path) -> None:
    store = Store(tmp_path)
    names = ["/a/credit_risk.ipynb", "/b/creditXrisk.ipynb", "/c/CREDIT_RISK.ipynb", "/d/xcredit_risk.ipynb",
             "/e/credit_risk.ipynb.bak", "/f/credit_risk.ipynb", "/g/100%_done.ipynb", "/h/100xxdone.ipynb"]
    ids = {name: make(store, notebook=name).id for name in names}
    assert {r.notebook for r in store.list(notebook="credit_risk.ipynb")} == {"/a/credit_risk.ipynb", "/f/credit_risk.ipynb"}
    assert [r.id for r in store.list(notebook="/a/credit_risk.ipynb")] == [ids["/a/credit_risk.ipynb"]]
    assert [r.notebook for r in store.list(notebook="100%_done.ipynb")] == ["/g/100%_done.ipynb"]
    assert store.list(notebook="/A/credit_risk.ipynb") == [] and store.list(notebook="risk.ipynb") == []
    assert store.list(notebook="%") == [] and store.list(notebook="_redit_risk.ipynb") == []
    moved = store.update(store.get(ids["/b/creditXrisk.ipynb"]), notebook="/b/credit_risk.ipynb")
    assert moved.id in {r.id for r in store.list(notebook="credit_risk.ipynb")}


def test_notebook_filter_by_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "home")
    (tmp_path / "work" / "nb").mkdir(parents=True)
    here = make(store, notebook=str((tmp_path / "work" / "nb" / "m.ipynb").resolve()))
    make(store, notebook="/elsewhere/nb/m.ipynb")
    monkeypatch.chdir(tmp_path / "work")
    assert [r.id for r in store.list(notebook=f"nb{os.sep}m.ipynb")] == [here.id]


def test_another_users_store_is_read_as_it_is(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The everyday read-only case: a colleague's store (folder 0755, runs.db 0644) read by someone else.
    As root the CLI runs as `nobody` (setpriv); no -wal/-shm owned by the reader may be left behind, or
    the owner could no longer write."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root (to run the CLI as another user with setpriv)")
    probe = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-c",
                            "import sys; print(sys.base_prefix)"], capture_output=True, text=True, cwd="/")
    if probe.stdout.strip() != sys.base_prefix:
        pytest.skip(f"`nobody` cannot read this Python's standard library ({sys.base_prefix})")
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="livedocs-shared-"))  # pytest's tmp folders are private to root
    try:
        base.chmod(0o755)
        home, out = base / "home", base / "out"
        a, b, stale = populated(home)
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        before = files(home)
        as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *CLI]
        env = cli_env(home)

        def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*as_nobody, *map(str, args)], capture_output=True, text=True, env=env, cwd=base,
                                  timeout=120)

        listed = run("runs", "--json")
        assert listed.returncode == 0, listed.stderr
        assert {r["id"] for r in json.loads(listed.stdout)} == {a.id, b.id, stale.id}
        assert run("show", a.id).returncode == 0
        assert run("compare", a.id, b.id).returncode == 0
        reported = run("report", a.id, "-o", out / "a.html")
        assert reported.returncode == 0, reported.stderr
        assert files(home) == before
        assert Store(home).abandon_stale() == 1  # the owner can still write
    finally:
        shutil.rmtree(base)
