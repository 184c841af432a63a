"""Progress of a batch on stderr: a live line on a terminal; otherwise (logs) one line per run state change
(started, succeeded, failed, cancelled, cached), or per cell with ``verbose``."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from ..errors import LivedocsError
from ..execute import Progress
from ..records.store import FINAL, RunRecord, Store
from .format import raw_stream, safe


def cell_words(event: Progress) -> str:
    """``code cell 2 of 5 ("Score applications")``: the analyst's own cells (see ``livedocs_runner.cells``)."""
    step = f' ("{safe(event.step)}")' if event.step else ""
    return f"code cell {event.cell} of {event.cells}{step}"


class ProgressView:
    """Tracks every run's state from progress events and renders done/failed/running/queued + ETA."""

    def __init__(self, workers: int, stream: TextIO | None = None, live: bool | None = None, *,
                 verbose: bool = False, store: Store | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.verbose = verbose  # plain lines: every cell, not only state changes
        self.store = store  # to name the run a cache hit answered from
        self.terminal = raw_stream(self.stream)  # the live line's cursor controls; its text is made safe
        self.workers = max(1, workers)
        self.state: dict[str, Progress] = {}
        self.labels: dict[str, str] = {}
        self.durations: list[float] = []
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def queued(self, record: RunRecord) -> None:
        with self.lock:
            self.state[record.id] = Progress(record.id, record.scenario, "queued")
            self.labels[record.id] = record.scenario

    def __call__(self, event: Progress) -> None:
        with self.lock:
            previous = self.state.get(event.run_id)
            self.state[event.run_id] = event
            executed = event.cells > 0  # a cache hit took no time and says nothing about the others
            if event.status in FINAL and executed and (previous is None or previous.status not in FINAL):
                self.durations.append(event.elapsed)
            self._render(event, previous)

    def _counts(self) -> dict[str, int]:
        counts = {"done": 0, "failed": 0, "running": 0, "queued": 0}
        for p in self.state.values():
            key = {"succeeded": "done", "failed": "failed", "cancelled": "failed"}.get(p.status, p.status)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def eta(self) -> float | None:
        counts = self._counts()
        left = counts["running"] + counts["queued"]
        if not self.durations or not left:
            return None
        mean = sum(self.durations) / len(self.durations)
        return mean * left / self.workers

    def summary(self) -> str:
        c = self._counts()
        eta = self.eta()
        text = f"{c['done']} done, {c['failed']} failed, {c['running']} running, {c['queued']} queued"
        return text + (f", ETA {eta:.0f}s" if eta is not None else "")

    def _render(self, event: Progress, previous: Progress | None) -> None:
        where = cell_words(event) if event.cells else event.status
        if self.live:
            line = f"[{self.summary()}] {event.run_id} {safe(event.scenario)}: {where}"
            width = shutil.get_terminal_size((100, 20)).columns
            self.terminal.write("\r\x1b[2K" + line[: max(20, width - 1)])
            if event.status in FINAL:
                self.terminal.write("\r\x1b[2K")
            self.terminal.flush()
            return
        name = safe(event.scenario)
        if event.status in FINAL:
            self.stream.write(f"run {event.run_id} {name}: {self._outcome(event)} [{self.summary()}]\n")
        elif not self.verbose:
            if previous is None or previous.status != event.status:
                self.stream.write(f"run {event.run_id} {name}: started [{self.summary()}]\n")
        elif event.cells and (previous is None or previous.cell != event.cell):
            self.stream.write(f"run {event.run_id} {name}: {cell_words(event)}\n")
        elif previous is None or previous.status != event.status:
            self.stream.write(f"run {event.run_id} {name}: {event.status}\n")
        self.stream.flush()

    def _outcome(self, event: Progress) -> str:
        """``succeeded in 2.0s``, or for a cache hit ``cached: same inputs as run 3f2a9c1d0b7e (2026-11-20)``."""
        if event.status == "succeeded" and not event.cells and self.store is not None:
            try:
                record = self.store.get(event.run_id)
            except LivedocsError:
                record = None
            if record is not None and record.cache_of:
                return cache_note(self.store, record.cache_of)
        return f"{event.status} in {event.elapsed:.1f}s"

    def close(self) -> None:
        if self.live:
            self.terminal.write("\r\x1b[2K")
            self.terminal.flush()


def cache_note(store: Store, original_id: str) -> str:
    """``cached: same inputs as run 3f2a9c1d0b7e (2026-11-20)``: what a cache hit answered from, and when that ran."""
    try:
        original = store.get(original_id)
        when = f" ({(original.started_at or original.created_at)[:10]})"
    except LivedocsError:  # the original was deleted or is damaged: still say what it was
        when = ""
    return f"cached: same inputs as run {original_id}{when}"
