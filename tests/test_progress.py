"""Progress on stderr: a live line on a terminal, plain lines otherwise; counts and ETA."""

from __future__ import annotations

import io

from livedocs_runner.cli.progress import ProgressView
from livedocs_runner.execute import Progress
from livedocs_runner.records.store import RunRecord


def queued(view: ProgressView, run_id: str, scenario: str) -> None:
    view.queued(RunRecord(id=run_id, notebook="n.ipynb", notebook_sha256="0" * 64, scenario=scenario))


def test_plain_lines_say_which_run_and_which_cell() -> None:
    out = io.StringIO()
    view = ProgressView(workers=2, stream=out, live=False, verbose=True)
    queued(view, "aaa", "baseline")
    queued(view, "bbb", "stress")
    view(Progress("aaa", "baseline", "running", 1, 3, 0.1))
    view(Progress("aaa", "baseline", "running", 2, 3, 0.2))
    view(Progress("aaa", "baseline", "succeeded", 3, 3, 2.0))
    lines = out.getvalue().splitlines()
    assert lines[0] == "run aaa baseline: code cell 1 of 3"
    assert lines[1] == "run aaa baseline: code cell 2 of 3"
    assert lines[2] == "run aaa baseline: succeeded in 2.0s [1 done, 0 failed, 0 running, 1 queued, ETA 1s]"
    assert "\r" not in out.getvalue()


def test_plain_lines_are_quiet_by_default_one_line_per_state_change() -> None:
    out = io.StringIO()
    view = ProgressView(workers=2, stream=out, live=False)
    queued(view, "aaa", "baseline")
    queued(view, "bbb", "stress")
    view(Progress("aaa", "baseline", "running", 0, 3, 0.0))
    view(Progress("aaa", "baseline", "running", 1, 3, 0.1))
    view(Progress("bbb", "stress", "running", 1, 2, 0.1))
    view(Progress("aaa", "baseline", "running", 2, 3, 0.2))
    view(Progress("bbb", "stress", "failed", 2, 2, 1.0))
    view(Progress("aaa", "baseline", "succeeded", 3, 3, 2.0))
    assert out.getvalue().splitlines() == [
        "run aaa baseline: started [0 done, 0 failed, 1 running, 1 queued]",
        "run bbb stress: started [0 done, 0 failed, 2 running, 0 queued]",
        "run bbb stress: failed in 1.0s [0 done, 1 failed, 1 running, 0 queued, ETA 0s]",
        "run aaa baseline: succeeded in 2.0s [1 done, 1 failed, 0 running, 0 queued]",
    ]


def test_live_line_rewrites_itself_with_counts() -> None:
    out = io.StringIO()
    view = ProgressView(workers=1, stream=out, live=True)
    queued(view, "aaa", "baseline")
    queued(view, "bbb", "stress")
    view(Progress("aaa", "baseline", "running", 2, 5, 0.5))
    text = out.getvalue()
    assert text.startswith("\r\x1b[2K[0 done, 0 failed, 1 running, 1 queued] aaa baseline: code cell 2 of 5")
    assert "\n" not in text
    view(Progress("aaa", "baseline", "failed", 2, 5, 1.0))
    assert view.summary() == "0 done, 1 failed, 0 running, 1 queued, ETA 1s"
    view.close()
    assert out.getvalue().endswith("\r\x1b[2K")


def test_cache_hits_do_not_shrink_the_eta() -> None:
    view = ProgressView(workers=1, stream=io.StringIO(), live=False)
    for run_id in ("hit", "ran", "next"):
        queued(view, run_id, run_id)
    view(Progress("hit", "hit", "succeeded"))  # answered from the cache: no cells, no time
    view(Progress("ran", "ran", "succeeded", 4, 4, 3.0))
    assert view.summary() == "2 done, 0 failed, 0 running, 1 queued, ETA 3s"
