"""Errors a user of livedocs-runner can see, each carrying the exit code the CLI uses.

    LivedocsError                 exit 1   base class; message is shown as ``Error: <message>``
    ├── InputError                exit 2   bad input, nothing was executed
    │   ├── NotebookError                  missing/invalid notebook, no ``parameters`` cell
    │   ├── ConfigError                    missing/malformed config YAML
    │   ├── ParameterError                 unknown name, wrong type, out of bounds ...
    │   └── RunNotFound                    no run (or an ambiguous prefix) for a RUN_ID
    ├── RunFailed                 exit 1   at least one run did not succeed
    └── Interrupted               exit 130 Ctrl-C or SIGTERM

All of them are picklable (they travel back from worker processes) and keep structured
fields next to the message.

:class:`RunError` is not an exception but a value: why one run did not succeed, as kept in its
record's ``error`` field and rendered the same way by the CLI, the report and the app.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .plain import plain_line, plain_text

TRACEBACK_CHARS = 4000  # the end of a traceback is what explains it; the record keeps no more


class LivedocsError(Exception):
    """Base class: ``str(err)`` is the message shown after ``Error:``."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} {self.hint}"

    def __reduce__(self):  # keep keyword-only fields when pickled
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[LivedocsError], state: dict) -> LivedocsError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message"), state.get("hint"))
    err.__dict__.update(state)
    return err


class InputError(LivedocsError):
    """Bad input: the run was refused before anything executed."""

    exit_code = 2


class NotebookError(InputError):
    """The notebook is missing, unreadable or has no usable ``parameters`` cell."""


class ConfigError(InputError):
    """A scenario config is missing, malformed or inconsistent with its notebook."""


class ParameterError(InputError):
    """A parameter name or value is not acceptable for the notebook's schema."""


class RunNotFound(InputError):
    """A RUN_ID (or prefix) matches no run, or more than one."""


class RunFailed(LivedocsError):
    """One or more runs failed; the records and partial outputs are kept."""

    exit_code = 1


class Interrupted(LivedocsError):
    """The user interrupted (Ctrl-C, SIGTERM); running runs were recorded as cancelled."""

    exit_code = 130


def located(source: str | Path | None, line: int | None, message: str) -> str:
    """Prefix ``message`` with ``file, line N:`` where those are known."""
    if source is None:
        return message
    where = str(source)
    if line is not None:
        where += f", line {line}"
    return f"{where}: {message}"


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """``"Did you mean 'x'?"`` for the closest candidate, or None."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"Did you mean '{close[0]}'?" if close else None


@dataclass(frozen=True, kw_only=True)
class RunError:
    """Why a run did not succeed: the record's ``error`` field, with one rendering everywhere.

    ``ename`` is the Python exception name from the notebook (``ZeroDivisionError``) or one of
    livedocs' own causes (``Timeout``, ``Cancelled``, ``DeadKernelError``, ``KernelStartError``,
    ``ReportError``, ``DiskFull``, ``Abandoned`` ...). Where it happened, for programs and for people:
    ``cell`` is the 1-based index in the executed notebook (``output.ipynb``, its injected-parameters
    cell included); ``code_cell`` of ``code_cells`` counts the analyst's own code cells, ``source_cell``
    all of the analyst's cells (text cells too), ``step`` names the cell and ``first_line`` is its first
    line (see :mod:`livedocs_runner.cells`). Every text field is plain text (:func:`~livedocs_runner.plain.plain_text`:
    no terminal escape codes), also when read from a record written before that was so.

    Usage: ``RunError(ename="Timeout", evalue="...", cell=3).summary()``
    """

    ename: str
    evalue: str = ""
    cell: int | None = None
    traceback: str = ""
    source_cell: int | None = None
    code_cell: int | None = None
    code_cells: int | None = None
    first_line: str = ""
    step: str = ""

    def __post_init__(self) -> None:
        if len(self.traceback) > 4 * TRACEBACK_CHARS:  # escape codes take room: cut with a margin, clean, cut
            object.__setattr__(self, "traceback", self.traceback[-4 * TRACEBACK_CHARS:])
        for name in ("ename", "evalue", "traceback"):
            object.__setattr__(self, name, plain_text(getattr(self, name)))
        for name in ("first_line", "step"):
            object.__setattr__(self, name, plain_line(getattr(self, name)))
        if len(self.traceback) > TRACEBACK_CHARS:
            object.__setattr__(self, "traceback", self.traceback[-TRACEBACK_CHARS:])

    @property
    def where(self) -> str:
        """``"in code cell 5 of 7"`` (the analyst's numbering), ``"in cell 7"`` (an older record's index in
        the executed notebook), or ``""`` when the failure was not in a cell."""
        if self.code_cell:
            return f"in code cell {self.code_cell}" + (f" of {self.code_cells}" if self.code_cells else "")
        return f"in cell {self.cell}" if self.cell else ""

    def summary(self) -> str:
        """One line: ``ZeroDivisionError: division by zero`` (no location; see :attr:`where`)."""
        return f"{self.ename}: {self.evalue}" if self.evalue else self.ename

    def describe(self) -> str:
        """``in code cell 5 of 7 ("Score applications"): ZeroDivisionError: division by zero``; the summary alone
        when the failure was not in a cell."""
        if not self.where:
            return self.summary()
        step = f' ("{self.step}")' if self.step else ""
        return f"{self.where}{step}: {self.summary()}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RunError | None:
        """Read a record's ``error`` (also the looser dicts older releases stored, without the analyst's numbering)."""
        if not data:
            return None

        def number(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

        return cls(ename=str(data.get("ename") or "Error"), evalue=str(data.get("evalue") or ""),
                   cell=number("cell"), traceback=str(data.get("traceback") or ""),
                   source_cell=number("source_cell"), code_cell=number("code_cell"), code_cells=number("code_cells"),
                   first_line=str(data.get("first_line") or ""), step=str(data.get("step") or ""))


class StoreError(InputError):
    """The run store (``runs.db``) cannot be used as it is: damaged, read-only for a write, newer than
    this release, or a damaged record asked for by id. Nothing was written."""


class StoreWarning(UserWarning):
    """A problem the store worked around, e.g. a damaged record left out of a listing (the CLI shows
    these as ``Warning: ...`` on stderr)."""
