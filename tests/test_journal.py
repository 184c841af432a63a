"""The run journal and ``livedocs verify``: real runs, then the tamper matrix (each edit caught and named),
keyed entries, kill -9 during appends, and the journal of an upgraded 0.1.0 store."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from livedocs_runner.records import journal
from livedocs_runner.records.store import Store
from tests.conftest import CliResult, cli_runner, make_path_project, until

pytestmark = pytest.mark.kernel


def sql(db: Path, statement: str) -> None:
    """Edit the store the way someone with write access would: the sqlite3 shell (Python's module without it)."""
    if shutil.which("sqlite3"):
        subprocess.run(["sqlite3", str(db), statement], check=True)
    else:
        subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                        "c.execute(sys.argv[2]); c.commit()", str(db), statement], check=True)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A home with a real run (report, outputs, an input snapshot) and its cache hit; returns (home, run)."""
    root = tmp_path_factory.mktemp("journal")
    config = make_path_project(root / "project")
    home = root / "home"
    run = cli_runner(home)
    first = run("run", config, "--json", cwd=config.parent)
    assert first.code == 0, first.stderr
    again = run("run", config, "--json", cwd=config.parent)
    assert again.code == 0, again.stderr
    [record] = json.loads(first.stdout)
    [hit] = json.loads(again.stdout)
    assert hit["cache_of"] == record["id"]
    return home, record


@pytest.fixture
def copy(pristine: tuple[Path, dict], tmp_path: Path) -> tuple[Path, dict, Callable[..., CliResult]]:
    home, record = pristine
    target = tmp_path / "home"
    shutil.copytree(home, target)
    return target, record, cli_runner(target)


def flip_byte(path: Path, at: int = 10) -> None:
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def findings(result: CliResult) -> list[str]:
    assert result.code == 1, (result.stdout, result.stderr)
    return result.stdout.splitlines()[:-1]


def test_a_fresh_store_verifies_clean_and_every_final_run_has_an_entry(copy) -> None:
    home, record, run = copy
    result = run("verify")
    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("Verified 2 runs, 2 journal entries, entries not keyed")
    lines = [json.loads(line) for line in (home / "journal.jsonl").read_text().splitlines()]
    assert [e["seq"] for e in lines] == [1, 2] and lines[1]["prev"] == lines[0]["hash"]
    first, hit = lines
    names = set(first["artifacts"])
    assert {f"runs/{record['id']}/output.ipynb", f"runs/{record['id']}/report.html"} <= names
    assert any(n.startswith("blobs/") for n in names) and any(n.startswith("environments/") for n in names)
    assert any(n.startswith("notebooks/") for n in names)
    assert hit["artifacts"] == {} and hit["artifacts_of"] == {"run": record["id"], "entry": first["hash"]}
    as_json = run("verify", "--json")
    assert as_json.code == 0 and json.loads(as_json.stdout.splitlines()[-1])["clean"] is True


def snapshot_of(home: Path, record: dict) -> Path:
    [item] = [i for i in record["inputs"] if i.get("snapshot")]
    return home / "blobs" / item["snapshot"]


@pytest.mark.parametrize("tamper, expected", [
    ("metric", "run {id}: the record no longer matches its journal entry 1: field metrics changed."),
    ("output", "run {id}: runs/{id}/output.ipynb was edited (its SHA-256 differs from journal entry 1)."),
    ("report", "run {id}: runs/{id}/report.html was edited (its SHA-256 differs from journal entry 1)."),
    ("snapshot", "run {id}: blobs/{snap} was edited (its SHA-256 differs from journal entry 1)."),
    ("snapshot-deleted", "run {id}: blobs/{snap} is missing (journal entry 1 has its hash)."),
    ("record-deleted", "run {id} has journal entries but no record: deleted from runs.db."),
    ("line-removed", "journal.jsonl line 1: entry 2 where entry 1 belongs (entries 1..1 removed or reordered)."),
    ("line-duplicated", "journal.jsonl line 2: entry 1 again where entry 2 belongs (duplicated or reordered)."),
    ("lines-reordered", "journal.jsonl line 1: entry 2 where entry 1 belongs (entries 1..1 removed or reordered)."),
])
def test_verify_names_each_edit(copy, tamper: str, expected: str) -> None:
    home, record, run = copy
    run_id = record["id"]
    snap = snapshot_of(home, record)
    mirror = home / "journal.jsonl"
    lines = mirror.read_text().splitlines(keepends=True)
    if tamper == "metric":
        sql(home / "runs.db", f"UPDATE runs SET metrics = json_set(metrics, '$.rows', 4) WHERE id = '{run_id}'")
    elif tamper == "output":
        flip_byte(home / "runs" / run_id / "output.ipynb")
    elif tamper == "report":
        flip_byte(home / "runs" / run_id / "report.html")
    elif tamper == "snapshot":
        flip_byte(snap, 0)
    elif tamper == "snapshot-deleted":
        snap.unlink()
    elif tamper == "record-deleted":
        sql(home / "runs.db", f"DELETE FROM runs WHERE id = '{run_id}'")
    elif tamper == "line-removed":
        mirror.write_text("".join(lines[1:]))
    elif tamper == "line-duplicated":
        mirror.write_text("".join([lines[0], lines[0], lines[1]]))
    elif tamper == "lines-reordered":
        mirror.write_text("".join([lines[1], lines[0]]))
    result = run("verify")
    assert expected.format(id=run_id, snap=snap.name) in findings(result), result.stdout
    assert result.stdout.splitlines()[-1].endswith("problem(s) found.")


def test_a_journal_row_cannot_be_changed_and_a_rewritten_row_is_named(copy) -> None:
    home, record, run = copy
    db = home / "runs.db"
    with pytest.raises(subprocess.CalledProcessError):  # the table refuses UPDATE and DELETE
        sql(db, "DELETE FROM journal WHERE seq = 1")
    sql(db, "DROP TRIGGER journal_no_update")
    sql(db, "UPDATE journal SET entry = replace(entry, '\"status\":\"succeeded\"', '\"status\":\"failed\"') WHERE seq = 1")
    out = findings(run("verify"))
    assert f"journal entry 1 (run {record['id']}) was edited: its hash does not match its content." in out


def test_keyed_entries_need_the_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(home)
    os.environ[journal.KEY_ENV] = "s3cret"
    try:
        from livedocs_runner.records.store import RunRecord
        record = store.add(RunRecord(id="abc123abc123", notebook="/nb.ipynb", notebook_sha256="0" * 64))
        store.update(record, status="succeeded")
    finally:
        del os.environ[journal.KEY_ENV]
    run = cli_runner(home)
    unkeyed = run("verify")
    assert unkeyed.code == 1 and "are keyed (HMAC-SHA256) and LIVEDOCS_JOURNAL_KEY is not set" in unkeyed.stdout
    keyed = run("verify", env={journal.KEY_ENV: "s3cret"})
    assert keyed.code == 0 and "entries keyed (HMAC-SHA256)" in keyed.stdout
    wrong = run("verify", env={journal.KEY_ENV: "guess"})
    assert wrong.code == 1 and "journal entry 1 (run abc123abc123) was edited" in wrong.stdout


@pytest.mark.parametrize("args, message", [
    (("--from", "yesterday"), "Error: --from 'yesterday' is not a date."),
    (("--run", "xyz"), "Error: 'xyz' is not a run id."),
])
def test_bad_input_is_refused(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    Store(tmp_path / "home")
    result = cli_runner(tmp_path / "home")("verify", *args)
    assert result.code == 2 and result.stderr.splitlines()[0] == message


APPEND_FOREVER = """
import sys
from livedocs_runner.records.store import RunRecord, Store, new_id
store = Store(sys.argv[1])
print("ready", flush=True)
while True:
    record = store.add(RunRecord(id=new_id(), notebook="/nb.ipynb", notebook_sha256="0" * 64))
    store.update(record, status="succeeded", metrics={"x": 1})
"""


def test_kill_9_during_appends_leaves_the_journal_consistent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rng = random.Random(13)
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", APPEND_FOREVER, str(home)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        before = (home / "journal.jsonl").stat().st_size if (home / "journal.jsonl").exists() else 0
        target = before + rng.randrange(1, 4000)  # a random number of appends, killed wherever it then is
        until(lambda: (home / "journal.jsonl").exists() and (home / "journal.jsonl").stat().st_size > target,
              "appends")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        result = cli_runner(home)("verify")
        problems = result.stdout.splitlines()[:-1]
        # nothing but a mirror behind its table (killed between commit and mirror) or a torn last line
        assert all(p.startswith("journal.jsonl lacks entries") or "torn last line" in p for p in problems), problems
    Store(home).update(Store(home).list(limit=1)[0], metrics={"x": 2})  # the next append catches the mirror up
    result = cli_runner(home)("verify")
    assert result.code == 0, result.stdout
    with sqlite3.connect(home / "runs.db") as db:
        count = db.execute("SELECT count(*) FROM journal").fetchone()[0]
    assert len((home / "journal.jsonl").read_text().splitlines()) == count


def test_the_migration_journals_the_old_stores_runs(tmp_path: Path) -> None:
    from tests.test_migrations import old_store

    home = old_store(tmp_path)
    store = Store(home)
    entries = [json.loads(line) for line in (home / "journal.jsonl").read_text().splitlines()]
    assert sorted(e["run"] for e in entries) == sorted(r.id for r in store.list(limit=None))
    assert all(e["note"].startswith("journaled by the upgrade to store schema 3") for e in entries)
    hit = next(e for e in entries if e["run"] == "69a03da505cb")
    assert hit["artifacts_of"]["run"] == "ad9d025f3daf"  # the original was journaled first
    result = cli_runner(home)("verify")
    assert result.code == 0, result.stdout
    assert "Verified 6 runs, 6 journal entries" in result.stdout


def tree(home: Path) -> dict[str, tuple[int, bytes]]:
    """Every file's mtime and bytes; runs.db-shm left out: SQLite's shared-memory WAL index, which
    readers use too (it holds no data)."""
    return {str(p.relative_to(home)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(home.rglob("*"))
            if p.is_file() and p.name != "runs.db-shm"}


def test_verify_changes_nothing(copy) -> None:
    home, _, run = copy
    before = tree(home)
    assert run("verify").code == 0
    (home / "journal.jsonl").write_bytes((home / "journal.jsonl").read_bytes() + b'{"seq": 3, "tor')
    before = tree(home)
    assert run("verify").code == 1
    assert tree(home) == before  # not even the torn line is cut: verify is read-only


def test_a_torn_last_line_is_named_and_cut_by_the_next_append(tmp_path: Path) -> None:
    from livedocs_runner.records.store import RunRecord

    home = tmp_path / "home"
    store = Store(home)
    first = store.add(RunRecord(id="aaaa00000001", notebook="/nb.ipynb", notebook_sha256="0" * 64))
    store.update(first, status="failed", error={"ename": "ValueError", "evalue": "x"})
    whole = (home / "journal.jsonl").read_bytes()
    (home / "journal.jsonl").write_bytes(whole + whole[:40])  # a write cut short by a crash
    out = findings(cli_runner(home)("verify"))
    assert out == ["journal.jsonl line 2 is a torn last line (a write cut short by a crash); the journal table "
                   "holds the entries, the next run rewrites it."]
    second = store.add(RunRecord(id="aaaa00000002", notebook="/nb.ipynb", notebook_sha256="0" * 64))
    store.update(second, status="running", environment={"hostname": os.uname().nodename, "pid": 2 ** 22 + 7})
    assert store.abandon_stale() == 1  # a run of a dead process, marked cancelled: journaled too
    assert cli_runner(home)("verify").code == 0
    entries = [json.loads(line) for line in (home / "journal.jsonl").read_text().splitlines()]
    assert [(e["run"], e["status"]) for e in entries] == [("aaaa00000001", "failed"), ("aaaa00000002", "cancelled")]


def test_a_file_inside_a_folder_snapshot_is_checked_too(tmp_path: Path) -> None:
    """A folder input is kept as a tree (a manifest blob plus a blob per file): editing one of its files is named."""
    from tests.conftest import write_notebook

    (tmp_path / "data" / "parts").mkdir(parents=True)
    (tmp_path / "data" / "parts" / "a.csv").write_text("x\n1\n")
    (tmp_path / "data" / "parts" / "b.csv").write_text("x\n2\n3\n")
    write_notebook(tmp_path / "folder.ipynb", [
        ('folder = "data/parts"', ["parameters"]),
        "import os\nfrom livedocs_runner import record\nrecord('files', len(os.listdir(folder)))"])
    (tmp_path / "folder.yaml").write_text("notebook: folder.ipynb\nparameters:\n  folder: {type: path}\n")
    run = cli_runner(tmp_path / "home")
    done = run("run", tmp_path / "folder.yaml", "--json", "--no-report", cwd=tmp_path)
    assert done.code == 0, done.stderr
    [record] = json.loads(done.stdout)
    [item] = record["inputs"]
    assert item["type"] == "folder" and item["snapshot"]
    assert run("verify").code == 0
    tree = json.loads((tmp_path / "home" / "blobs" / item["snapshot"]).read_bytes())
    inner = next(e["sha256"] for e in tree["entries"] if e["path"] == "b.csv")
    flip_byte(tmp_path / "home" / "blobs" / inner, at=2)
    assert f"run {record['id']}: blobs/{inner} was edited" in "\n".join(findings(run("verify")))
