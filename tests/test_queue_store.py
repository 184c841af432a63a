"""The durable run queue in the store (records/queue.py): enqueue, atomic and fair claims, places, heartbeats
with progress, cancels, lost workers and clean releases, on every store backend (see ``store`` in
tests/store_backends.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from livedocs_runner.records.queue import QueuedJob, glob_regex, heartbeat_s
from livedocs_runner.records.store import RunRecord, new_id
from livedocs_runner.errors import InputError, StoreError
from tests.conftest import until
from tests.store_backends import Backend, backend, journal_entries, pg_server, store  # noqa: F401  (fixtures)


def queued(store, user: str = "ana", notebook: str = "/nb/credit_risk.ipynb", **job) -> RunRecord:
    record = RunRecord(id=new_id(), notebook=notebook, notebook_sha256="0" * 64, user=user, trigger="app",
                       scenario=job.pop("scenario", "default"))
    return store.enqueue(record, {"plan": {"scenario": record.scenario}, **job})


def test_enqueue_keeps_a_queued_record_and_its_payload(store) -> None:
    record = queued(store, threshold=0.5, note="é'\"")
    again = store.get(record.id)
    assert again == record and again.status == "queued" and again.started_at is None
    assert store.queue_place(record.id) == 1
    job = store.claim("host:1:0")
    assert isinstance(job, QueuedJob)
    assert job.job == {"plan": {"scenario": "default"}, "threshold": 0.5, "note": "é'\""}
    assert job.attempt == 1
    assert job.record.id == record.id and job.record.status == "running" and job.record.started_at
    assert store.get(record.id) == job.record
    assert store.claim("host:1:0") is None  # nothing else waits
    assert store.queue_place(record.id) is None  # running: no place
    live = store.progress(record.id)
    assert live.worker == "host:1:0" and live.heartbeat_at and live.cell is None


def test_a_payload_that_is_not_json_is_refused_and_nothing_is_kept(store) -> None:
    record = RunRecord(id=new_id(), notebook="/nb/a.ipynb", notebook_sha256="0" * 64)
    with pytest.raises(StoreError) as info:
        store.enqueue(record, {"when": object()})
    assert "cannot be kept as JSON" in info.value.message
    assert store.list(limit=None) == [] and store.claim("w:1:0") is None


def test_claims_follow_submission_order_and_the_notebook_glob(store) -> None:
    first = queued(store, notebook="/nb/credit_risk.ipynb")
    second = queued(store, notebook="/nb/pricing_whatif.ipynb")
    third = queued(store, notebook="/other/credit_stress.ipynb")
    assert store.claim("w:1:0", notebooks="pricing*").record.id == second.id
    assert store.claim("w:1:0", notebooks="credit_[!r]*.ipynb").record.id == third.id
    assert store.claim("w:1:0", notebooks="CREDIT*") is None  # case-sensitive, like --notebook
    assert store.claim("w:1:0", notebooks="credit?risk.ipynb").record.id == first.id


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    ("*.ipynb", "a.ipynb", True), ("*.ipynb", "a.ipynbx", False), ("a?c", "abc", True), ("a?c", "ac", False),
    ("[ab]x", "bx", True), ("[!ab]x", "bx", False), ("[!ab]x", "cx", True), ("a.b", "axb", False),
    ("[]]x", "]x", True), ("x[", "x[", True), ("(a|b)", "(a|b)", True), ("(a|b)", "a", False), ("^a$", "^a$", True),
])
def test_the_glob_means_what_fnmatch_means(store, pattern: str, name: str, matches: bool) -> None:
    import fnmatch
    import re

    assert fnmatch.fnmatchcase(name, pattern) is matches
    assert bool(re.fullmatch(glob_regex(pattern), name)) is matches
    record = queued(store, notebook=f"/nb/{name}")
    job = store.claim("w:1:0", notebooks=pattern)
    assert (job is not None and job.record.id == record.id) is matches


def test_one_users_sweep_does_not_starve_another_users_run(store) -> None:
    sweep = [queued(store, user="ana", scenario=f"SWEEP[{i}]") for i in range(20)]
    single = queued(store, user="ben")
    assert store.queue_place(sweep[0].id) == 1
    assert store.queue_place(single.id) == 2  # ahead of ana's 2nd..20th
    assert store.queue_place(sweep[1].id) == 3 and store.queue_place(sweep[19].id) == 21
    first = store.claim("w:1:0")
    assert first.record.id == sweep[0].id
    assert store.queue_place(single.id) == 1  # ana now has one running, ben none
    assert store.claim("w:2:0").record.id == single.id
    order = [store.claim("w:3:0").record.id for _ in range(19)]
    assert order == [r.id for r in sweep[1:]]
    assert store.claim("w:3:0") is None


def test_places_match_the_order_claims_take(store) -> None:
    runs = [queued(store, user=u) for u in ("ana", "ana", "ana", "ben", "cy", "ben", "ana")]
    places = {r.id: store.queue_place(r.id) for r in runs}
    assert sorted(places.values()) == list(range(1, len(runs) + 1))
    taken = []
    while (job := store.claim("w:1:0")) is not None:
        taken.append(job.record.id)
    assert taken == sorted(places, key=places.get)
    assert store.queue_place("0" * 12) is None


def test_cancel_of_a_queued_run_is_final_at_once(store) -> None:
    record = queued(store)
    cancelled = store.request_cancel(record.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at and cancelled.error["ename"] == "Cancelled"
    assert store.get(record.id) == cancelled
    assert store.claim("w:1:0") is None and store.queue_place(record.id) is None
    assert store.request_cancel(record.id) == cancelled  # final: unchanged
    assert journal_entries(store, record.id)[-1]["status"] == "cancelled"


def test_cancel_of_a_running_run_reaches_its_worker_through_the_heartbeat(store) -> None:
    record = queued(store)
    job = store.claim("w:1:0")
    assert store.heartbeat(record.id, "w:1:0", cell=1, cells=4, step="cell 1") is False
    flagged = store.request_cancel(record.id)
    assert flagged.status == "running" and store.get(record.id).status == "running"
    assert store.heartbeat(record.id, "w:1:0", cell=2) is True
    # the worker stops the run and records it as any run is recorded; that closes its queue row
    store.update(job.record, status="cancelled", finished_at="2026-11-24T09:00:00.000+00:00")
    assert store.heartbeat(record.id, "w:1:0") is True  # no longer this worker's to run
    assert store.recover_lost(0.000001) == []


def test_heartbeat_keeps_live_progress(store) -> None:
    record = queued(store)
    store.claim("w:1:0")
    before = store.progress(record.id).heartbeat_at
    assert store.heartbeat(record.id, "w:1:0", cell=3, cells=12, step="cell 3: fit the model") is False
    live = store.progress(record.id)
    assert (live.cell, live.cells, live.step, live.worker) == (3, 12, "cell 3: fit the model", "w:1:0")
    assert live.heartbeat_at >= before
    assert store.heartbeat(record.id, "w:1:0", step="saving the report") is False  # None keeps the rest
    live = store.progress(record.id)
    assert (live.cell, live.cells, live.step) == (3, 12, "saving the report")
    assert store.heartbeat(record.id, "other:9:0", cell=9) is True  # not its run: told to stop, nothing changed
    assert store.progress(record.id).cell == 3
    assert store.progress("0" * 12) is None


def lost(store, heartbeat: float = 0.001) -> list[RunRecord]:
    """Wait (polling) until the silent worker's heartbeat is older than 3 x ``heartbeat`` and recover it."""
    return until(lambda: store.recover_lost(heartbeat), "the heartbeat to go stale", timeout=30)


def test_a_lost_worker_that_had_not_started_a_cell_has_its_run_requeued_once(store) -> None:
    record = queued(store)
    store.claim("dead:1:0")
    [again] = lost(store)
    assert again.id == record.id and again.status == "queued" and again.started_at is None
    assert store.get(record.id).status == "queued" and store.queue_place(record.id) == 1
    second = store.claim("w:2:0")
    assert second.attempt == 2 and second.record.id == record.id
    [failed] = lost(store)  # silent again, still before a cell: the second time it fails
    assert failed.status == "failed" and failed.error["ename"] == "WorkerLost"
    assert "w:2:0" in failed.error["evalue"] and failed.finished_at
    assert store.get(record.id) == failed and store.claim("w:3:0") is None
    assert journal_entries(store, record.id)[-1]["status"] == "failed"


def test_a_lost_worker_mid_run_fails_the_run_with_its_partial_output(store) -> None:
    record = queued(store)
    job = store.claim("dead:1:0")
    partial = Path(job.record.run_dir) / "output.ipynb"
    partial.parent.mkdir(parents=True)
    partial.write_text("{}")
    store.heartbeat(record.id, "dead:1:0", cell=2, cells=5, step="cell 2")
    other = queued(store)
    [failed] = lost(store)
    assert failed.id == record.id and failed.status == "failed"
    assert failed.error["ename"] == "WorkerLost" and failed.error["cell"] == 2
    assert failed.output_notebook == str(partial) and failed.duration_s is not None
    assert store.get(record.id) == failed
    assert store.claim("w:2:0").record.id == other.id  # another worker takes the next one
    assert store.recover_lost(3600) == []


def test_a_lost_worker_whose_run_was_being_cancelled_ends_cancelled(store) -> None:
    record = queued(store)
    store.claim("dead:1:0")
    store.request_cancel(record.id)
    [gone] = lost(store)
    assert gone.status == "cancelled" and gone.error["ename"] == "Cancelled"


def test_a_live_worker_is_not_recovered(store) -> None:
    queued(store)
    store.claim("w:1:0")
    assert store.recover_lost(3600) == []


def test_release_gives_back_an_unstarted_run_without_counting_an_attempt(store) -> None:
    record = queued(store)
    store.claim("w:1:0")
    store.release(record.id, "other:1:0")  # not its run: nothing happens
    assert store.get(record.id).status == "running"
    store.release(record.id, "w:1:0")
    assert store.get(record.id).status == "queued" and store.queue_place(record.id) == 1
    job = store.claim("w:2:0")
    assert job.attempt == 1
    store.heartbeat(record.id, "w:2:0", cell=1)
    store.release(record.id, "w:2:0")  # started: kept, the worker must finish or fail it
    assert store.get(record.id).status == "running"


def test_heartbeat_setting() -> None:
    assert heartbeat_s({}) == 5.0 and heartbeat_s({"LIVEDOCS_HEARTBEAT_S": "0.5"}) == 0.5
    for bad in ("0", "-1", "soon", "1e9"):
        with pytest.raises(InputError) as info:
            heartbeat_s({"LIVEDOCS_HEARTBEAT_S": bad})
        assert info.value.message.startswith(f"LIVEDOCS_HEARTBEAT_S={bad!r} is not a number of seconds")


CLAIMER = """
import json, sys
from livedocs_runner.records.store import open_store
store = open_store(sys.argv[1], sys.argv[2] or None)
print("ready", flush=True)
sys.stdin.readline()  # start together
taken = []
while (job := store.claim(sys.argv[3])) is not None:
    taken.append(job.record.id)
    store.update(job.record, status="succeeded", finished_at=job.record.started_at)
print(json.dumps(taken))
"""


def test_two_processes_racing_on_50_queued_runs_claim_each_exactly_once(store, backend: Backend) -> None:
    runs = {queued(store, user=f"u{i % 3}").id for i in range(50)}
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(store.home), backend.url or "", f"w:{n}:0"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for n in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        taken = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    counts = Counter(run for each in taken for run in each)
    assert set(counts) == runs and set(counts.values()) == {1}
    assert all(r.status == "succeeded" for r in store.list(limit=None))
    assert len(store.list(limit=None)) == 50
    # both processes journaled as they finished runs: still one unbroken chain, mirrored whole
    from livedocs_runner.records.verify import Summary, verify

    summary = Summary()
    assert list(verify(store.home, summary=summary, db_url=backend.url)) == [] and summary.entries == 50


def test_abandon_stale_leaves_the_queues_runs_to_its_workers(store) -> None:
    """``livedocs runs`` cancels runs of dead local processes; a queued or claimed run whose recorded process died
    belongs to the queue (recover_lost requeues or fails it), never cancelled as abandoned."""
    import platform

    from livedocs_runner.records.store import now

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    gone = {"hostname": platform.node(), "pid": int(dead.stdout)}
    claimed = queued(store)
    job = store.claim("w:1:0")
    assert job.record.id == claimed.id
    store.update(job.record, environment=gone)
    waiting = queued(store)
    store.update(waiting, environment=gone)  # as a requeued run keeps its first worker's pid
    plain = store.add(RunRecord(id=new_id(), notebook="/nb/a.ipynb", notebook_sha256="0" * 64, status="running",
                                started_at=now(), environment=gone))
    assert store.abandon_stale() == 1
    assert store.get(plain.id).status == "cancelled"
    assert store.get(claimed.id).status == "running"
    assert store.get(waiting.id).status == "queued" and store.queue_place(waiting.id) == 1
