"""Which scenarios to run again: those whose latest run did not succeed (``livedocs run --failed-only``).

"Latest" is the newest run recorded for the scenario's name under the same config (or, for a bare
notebook, the same notebook run without a config), whatever started it: the CLI, the app or a rerun.
A run that failed, timed out (recorded failed), was cancelled or abandoned (recorded cancelled) is due
again; a scenario still running, or never run, is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .plan import RunPlan
from .records.store import RunRecord, Store

RETRY_STATUSES = ("failed", "cancelled")


@dataclass(frozen=True, kw_only=True)
class Latest:
    """A scenario of a config and its newest run (None: it never ran)."""

    scenario: str
    record: RunRecord | None

    @property
    def due(self) -> bool:
        """Whether ``--failed-only`` runs it again."""
        return self.record is not None and self.record.status in RETRY_STATUSES


def latest_runs(store: Store, plans: Sequence[RunPlan]) -> list[Latest]:
    """The newest run of each plan's scenario (under the plan's config, or of its notebook run without one)."""
    newest: dict[tuple[str | None, str], RunRecord] = {}
    for config, notebook in {(p.config, p.notebook.path.resolve()) for p in plans}:
        if config is not None:
            records = store.list(config=str(config), limit=None)
        else:
            records = [r for r in store.list(notebook=str(notebook), limit=None) if r.config is None]
        for record in records:  # newest first
            newest.setdefault((str(config) if config else None, record.scenario), record)
    return [Latest(scenario=p.scenario, record=newest.get((str(p.config) if p.config else None, p.scenario)))
            for p in plans]


def describe(latest: Sequence[Latest]) -> str:
    """``2 last succeeded, 1 never ran`` (what the latest runs of ``latest`` were, in counts)."""
    counts: dict[str, int] = {}
    for item in latest:
        status = item.record.status if item.record else None
        key = {None: "never ran", "queued": "queued now", "running": "running now"}.get(status, f"last {status}")
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {key}" for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
