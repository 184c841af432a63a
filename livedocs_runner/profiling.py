"""Where each run's time goes (``livedocs run --profile``), so the next slowdown is visible.

    profiler = Profiler()
    run_batch(plans, store, profiler=profiler)        # or execute_run(..., profiler=profiler)
    for run in profiler.runs(): print(run.run_id, run.phases)

Phases, in seconds of wall time on the run's own thread (they do not overlap):
``prepare`` (hash the inputs, capture the environment, snapshot the inputs), ``acquire`` (wait for a
kernel), ``execute`` (nbclient: connect, every cell, every message), ``outputs`` (write output.ipynb,
figures, metrics.json), ``report`` (the HTML report), ``store`` (the run's record writes) and
``other`` (the rest of the run's wall time). ``kernel_start`` is how long its kernel took to start
and become ready: in a pool that happened ahead of the run, in the background, so it is listed
apart and not in ``total``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

PHASES = ("prepare", "acquire", "execute", "release", "outputs", "report", "store", "other")


@dataclass
class RunProfile:
    """The phase times of one run (seconds)."""

    run_id: str
    scenario: str
    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    total: float = 0.0
    kernel_start: float | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to phase ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] += time.perf_counter() - start

    def close(self, total: float) -> None:
        """Set the run's wall time; what no phase accounts for becomes ``other``."""
        self.total = total
        self.phases["other"] = max(0.0, total - sum(v for k, v in self.phases.items() if k != "other"))


class Profiler:
    """Collects a :class:`RunProfile` per run; thread-safe (a batch's runs report from their threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[RunProfile] = []

    def start(self, run_id: str, scenario: str) -> RunProfile:
        profile = RunProfile(run_id, scenario)
        with self._lock:
            self._runs.append(profile)
        return profile

    def runs(self) -> list[RunProfile]:
        """Every run profiled so far, in the order they started."""
        with self._lock:
            return list(self._runs)

    def summed(self) -> RunProfile:
        """All runs' phases added up (``run_id`` is ``"all"``; ``kernel_start`` summed over the runs that know it)."""
        runs = self.runs()
        total = RunProfile("all", f"{len(runs)} run(s)")
        for run in runs:
            for name, seconds in run.phases.items():
                total.phases[name] += seconds
            total.total += run.total
            if run.kernel_start is not None:
                total.kernel_start = (total.kernel_start or 0.0) + run.kernel_start
        return total


__all__ = ["PHASES", "Profiler", "RunProfile"]
