"""How often a runner process collects garbage (private): called by the processes that run notebooks (the CLI, the app).

A run allocates tens of thousands of short-lived objects in the runner (every kernel message, its header, content
and metadata dicts, the notebook nodes), nearly all freed by reference counting, none in cycles that matter. With
Python's default threshold (a young-generation collection every 700 net allocations) the collector ran ~1.7 times
a run and took ~1.2 ms of a run's ~19 ms of runner CPU (benchmarks/runner_cpu.py, 60-run batch); every 5000: 0.37
ms, and the runner's CPU per run 19.3 -> 17.1 ms (two runs each). Objects in cycles are still collected, a little
later; the older generations keep their thresholds. Never called in a kernel: a notebook sees Python's defaults.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 5000  # net allocations between collections of the youngest generation (Python: 700)


def collect_less_often() -> None:
    """Raise the youngest generation's threshold to ``YOUNG_COLLECTION_EVERY`` (never lower a higher one)."""
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_COLLECTION_EVERY:  # 0: collection turned off by the host, left so
        gc.set_threshold(YOUNG_COLLECTION_EVERY, middle, old)
