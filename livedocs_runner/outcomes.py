"""How a run ends other than by its notebook's own outcome: cancelled before it started, crashed outside
the notebook, a write after the run that failed (a full disk), and how such problems combine with the
notebook's own outcome. Used by :mod:`livedocs_runner.execute` and the runners around it (batch, worker,
Dask)."""

from __future__ import annotations

import dataclasses
import errno
from typing import Any

from .errors import RunError
from .records.store import RunRecord, Store, now

# what ``sys.exit()`` / ``raise SystemExit`` with no or a zero code shows as: a clean stop (as papermill)
CLEAN_EXIT_VALUES = ("", "0", "None", "False")


def formatted_traceback(exc: BaseException) -> str:
    """``exc``'s traceback as text (traceback, with textwrap and linecache, loads only when one is needed)."""
    import traceback

    return "".join(traceback.format_exception(exc))


def finish_cancelled(store: Store, record: RunRecord, *, pending: dict[str, Any] | None = None) -> RunRecord:
    """End ``record`` as cancelled before it started (writing ``pending`` start changes with it)."""
    error = RunError(ename="Cancelled", evalue="cancelled before it started")
    return store.update(record, **(pending or {}), status="cancelled", finished_at=now(), error=error.to_json())


def finish_crashed(store: Store, record: RunRecord, exc: BaseException, *,
                   pending: dict[str, Any] | None = None) -> RunRecord:
    """End ``record`` as failed because running it raised ``exc`` outside the notebook (unless already final),
    writing ``pending`` start changes with it."""
    from .records.store import FINAL

    current = store.get(record.id)
    if current.status in FINAL:
        return current
    error = RunError(ename=type(exc).__name__, evalue=str(exc),
                     traceback=formatted_traceback(exc))
    return store.update(current, **(pending or {}), status="failed", finished_at=now(), error=error.to_json())


def is_clean_exit(ename: str, evalue: str) -> bool:
    """``sys.exit()``, ``sys.exit(0)`` or ``raise SystemExit``: the notebook chose to stop early, successfully."""
    return ename == "SystemExit" and evalue.strip() in CLEAN_EXIT_VALUES


def write_error(exc: BaseException, what: str) -> RunError:
    """The RunError for failing to write ``what`` after the run: ``DiskFull``, or ``OutputError``."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" ({exc.filename})" if exc.filename else ""
        return RunError(ename="DiskFull", evalue=f"no space left on the device while writing {what}{where}; "
                        "free some space (or give the home a bigger disk) and run again")
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return RunError(ename="OutputError", evalue=f"cannot write {what} ({exc.strerror or exc}{where})")
    return RunError(ename="OutputError", evalue=f"could not produce {what} ({type(exc).__name__}: {exc})",
                    traceback=formatted_traceback(exc))


def with_problems(status: str, error: RunError | None, problems: list[RunError]) -> tuple[str, RunError | None]:
    """The outcome once ``problems`` after the run are known: the first fails a succeeded run; for a run
    that had already failed its own error stays first and the problems are noted in its traceback."""
    if not problems:
        return status, error
    if status == "succeeded" or error is None:
        first, rest = problems[0], problems[1:]
        status, error = "failed", first
    else:
        rest = problems
    if rest:
        note = "\n".join(f"After the run: {p.summary()}" for p in rest)
        error = dataclasses.replace(error, traceback=f"{error.traceback}\n{note}".strip())
    return status, error
