"""One cell numbering for people: the cells of the notebook the analyst wrote, and each step's name.

The executed notebook (``output.ipynb``) has one cell more than the analyst's: the
``injected-parameters`` cell livedocs adds after the ``parameters`` cell. Progress, errors, the
app and the report all count the analyst's cells instead, as they see them in Jupyter:

- ``code_cell`` of ``code_cells``: the cell's place among the analyst's code cells ("code cell 5 of 7",
  which the app calls "step 5");
- ``source_cell``: its place among all the analyst's cells, text cells included;
- ``step``: a name for the cell, the first of: the last Markdown heading in the text cell(s) right
  before it (only text cells between it and the code cell before, and not the notebook's first cell,
  which holds its title; the report shows these headings, as it hides code), the cell's leading ``#``
  comment, or its first line of code;
- ``first_line``: its first line of code.

A record's ``error.cell`` stays the 1-based index in ``output.ipynb``; :func:`record_error` fills in
the rest for records written before these fields existed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RunError
from .inject import HEADER as INJECTED_HEADER
from .notebook import INJECTED_TAG, PARAMETERS_TAG
from .plain import plain_line

if TYPE_CHECKING:
    from .records.store import RunRecord

STEP_CHARS = 60  # a step name or first line is cut to this many characters (with "…")
INJECTED_STEP = "the injected parameters"
_ATX = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(?P<text>.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # old records only: a bigger notebook is not read to number cells


@dataclass(frozen=True)
class CellPlace:
    """Where cell ``cell`` (1-based, in the executed notebook) is in the analyst's notebook."""

    cell: int
    source_cell: int | None  # None for the injected cell
    code_cell: int | None  # None for the injected cell and text cells
    code_cells: int
    first_line: str
    step: str


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(s for s in source if isinstance(s, str)) if isinstance(source, list) else str(source or "")


def _tags(cell: Mapping[str, Any]) -> list[Any]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, Mapping) else None
    return tags if isinstance(tags, list) else []


def _is_code(cell: Any) -> bool:
    return isinstance(cell, Mapping) and cell.get("cell_type") == "code"


def first_line(source: str) -> str:
    """The first non-blank line of ``source``, as plain text cut to :data:`STEP_CHARS`."""
    return next((plain_line(line, STEP_CHARS) for line in source.splitlines() if line.strip()), "")


def heading(markdown: str) -> str:
    """The last heading (``## Score applications`` or an underlined one) in a text cell, or ``""``."""
    found = ""
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        atx = _ATX.match(line)
        if atx and atx.group("text"):
            found = atx.group("text")
        elif index and _SETEXT.match(line) and lines[index - 1].strip() and not _ATX.match(lines[index - 1]):
            found = lines[index - 1].strip()
    return plain_line(found, STEP_CHARS)


def leading_comment(source: str) -> str:
    """The text of the cell's leading ``#`` comment, or ``""``; cell magics and rulers (``# -----``) skipped."""
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("%%"):
            continue
        if not stripped.startswith("#") or stripped.startswith("#!"):
            return ""
        comment = plain_line(stripped.lstrip("#"), STEP_CHARS)
        if any(char.isalnum() for char in comment):
            return comment
    return ""


class Numbering:
    """The analyst's numbering of an executed notebook's cells (its injected-parameters cell left out).

    Usage: ``Numbering(nb.cells).place(3)`` for the cell at 0-based index 3 of ``output.ipynb``.
    """

    def __init__(self, cells: Sequence[Any]) -> None:
        self.cells = list(cells)
        self.injected = {i for i, c in enumerate(self.cells) if isinstance(c, Mapping) and INJECTED_TAG in _tags(c)}
        self._source_cell: dict[int, int] = {}
        self._code_cell: dict[int, int] = {}
        for index, cell in enumerate(self.cells):
            if index in self.injected:
                continue
            self._source_cell[index] = len(self._source_cell) + 1
            if _is_code(cell):
                self._code_cell[index] = len(self._code_cell) + 1
        self.code_cells = len(self._code_cell)

    @classmethod
    def of_source(cls, cells: Sequence[Any], injected: bool) -> Numbering:
        """The numbering of the notebook ``cells`` as executed: with an injected cell when ``injected``,
        placed as :func:`~livedocs_runner.inject.parameterize` places it (earlier injected cells dropped)."""
        kept = [c for c in cells if not (isinstance(c, Mapping) and INJECTED_TAG in _tags(c))]
        if injected:
            position = next((i + 1 for i, c in enumerate(kept) if isinstance(c, Mapping) and PARAMETERS_TAG in _tags(c)), 0)
            kept.insert(position, {"cell_type": "code", "metadata": {"tags": [INJECTED_TAG]}, "source": INJECTED_HEADER})
        return cls(kept)

    def is_analyst_code(self, index: int) -> bool:
        """Whether the cell at 0-based ``index`` is one of the analyst's code cells (not the injected one)."""
        return index in self._code_cell

    def code_cells_started(self, index: int) -> int:
        """How many of the analyst's code cells are at or before 0-based ``index`` (progress: "k of n")."""
        return sum(1 for i in self._code_cell if i <= index)

    def step(self, index: int) -> str:
        """The name of the cell at 0-based ``index``: heading before it, else leading comment, else first line."""
        if index in self.injected:
            return INJECTED_STEP
        for before in range(index - 1, -1, -1):
            cell = self.cells[before]
            if not isinstance(cell, Mapping) or cell.get("cell_type") != "markdown":
                break
            if self._source_cell.get(before) == 1:
                break  # the notebook's first cell: its title, not a step's name
            found = heading(_source(cell))
            if found:
                return found
        source = _source(self.cells[index]) if isinstance(self.cells[index], Mapping) else ""
        return leading_comment(source) or first_line(source)

    def place(self, index: int) -> CellPlace | None:
        """Where the cell at 0-based ``index`` of the executed notebook is, or None when there is no such cell."""
        if not 0 <= index < len(self.cells):
            return None
        cell = self.cells[index]
        source = _source(cell) if isinstance(cell, Mapping) else ""
        return CellPlace(cell=index + 1, source_cell=self._source_cell.get(index), code_cell=self._code_cell.get(index),
                         code_cells=self.code_cells, first_line=first_line(source), step=self.step(index))


def locate(error: RunError, numbering: Numbering) -> RunError:
    """``error`` with the analyst's numbering of its ``cell`` filled in (unchanged without a cell)."""
    if not error.cell or error.code_cells is not None:
        return error
    place = numbering.place(error.cell - 1)
    if place is None:
        return error
    return dataclasses.replace(error, source_cell=place.source_cell, code_cell=place.code_cell,
                               code_cells=place.code_cells, first_line=place.first_line, step=place.step)


def _read_cells(path: str | Path | None) -> list[Any] | None:
    if not path:
        return None
    try:
        path = Path(path)
        if path.stat().st_size > _MAX_NOTEBOOK_BYTES:
            return None
        cells = json.loads(path.read_bytes()).get("cells")
    except (OSError, ValueError, AttributeError, RecursionError):
        return None
    return cells if isinstance(cells, list) else None


def record_error(record: RunRecord) -> RunError | None:
    """A record's error, with the analyst's numbering filled in for records written before it was kept.

    The numbering comes from the notebook copy the run executed (and its recorded parameters), or else
    from its ``output.ipynb``; when neither can be read the error is shown with ``cell`` alone.
    """
    error = RunError.from_json(record.error)
    if error is None or not error.cell or error.code_cells is not None:
        return error
    cells = _read_cells(record.notebook_copy)
    if cells is not None:
        return locate(error, Numbering.of_source(cells, injected=bool(record.parameters)))
    cells = _read_cells(record.output_notebook)
    return locate(error, Numbering(cells)) if cells is not None else error
