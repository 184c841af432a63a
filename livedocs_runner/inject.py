"""Write parameters into a notebook as an ``injected-parameters`` cell, safely.

Like papermill, the cell goes right after the ``parameters`` cell (or first, when there is none)
and replaces an earlier injected cell. Unlike papermill, every name is checked to be an
identifier and every value is written as a Python *literal* that is re-parsed with
:func:`ast.literal_eval` before use, so no parameter value can ever become executable code.
Other languages (R) are written by papermill's translators and checked the same way by
:mod:`livedocs_runner.inject_r`; a value a translator cannot write exactly is refused.
"""

from __future__ import annotations

import ast
import copy
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .notebook import INJECTED_TAG, PARAMETERS_TAG
from .params import MAX_DEPTH, MAX_INT_DIGITS, check_name

if TYPE_CHECKING:
    import nbformat

HEADER = "# Parameters injected by livedocs-runner"
_INT_LIMIT = 10 ** MAX_INT_DIGITS


def literal(value: Any, _depth: int = 0) -> str:
    """Python source for ``value`` (None, bool, int, finite float, str, list, dict only).

    Raises ValueError or TypeError for anything else: non-finite floats, text that is not valid
    Unicode, ints over :data:`~livedocs_runner.params.MAX_INT_DIGITS` digits, nesting deeper than
    :data:`~livedocs_runner.params.MAX_DEPTH` levels.
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        if abs(value) >= _INT_LIMIT:
            raise ValueError(f"an int with more than {MAX_INT_DIGITS} digits cannot be injected")
        return repr(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text with a lone surrogate cannot be injected") from None
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        return repr(value)
    if isinstance(value, list | tuple | dict) and _depth >= MAX_DEPTH:
        raise ValueError(f"lists and dicts nested deeper than {MAX_DEPTH} levels cannot be injected")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v, _depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v, _depth + 1)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot inject a {type(value).__name__}")


def injected_source(params: Mapping[str, Any], language: str = "python", kernel_name: str = "") -> str:
    """The injected cell: a header comment, then one ``name = <literal>`` line per parameter.

    ``language`` is the kernel's (``python``, ``R``); ParameterError for a language livedocs cannot
    inject into, a name that is not an identifier there, or a value it cannot write as a literal.
    """
    if not is_python(language):
        from .inject_r import injected_source_for

        return injected_source_for(params, language, HEADER, kernel_name)
    lines = [HEADER]
    for name, value in params.items():
        check_name(name)
        source = literal(value)
        if ast.literal_eval(source) != value:  # belt and braces: what runs is exactly what was given
            raise ValueError(f"parameter {name!r} does not round-trip as a literal")
        lines.append(f"{name} = {source}")
    return "\n".join(lines)


def is_python(language: str | None) -> bool:
    """Whether ``language`` (a kernelspec's, any case; empty means unknown) is Python."""
    return (language or "python").lower() == "python"


def parameterize(nb: nbformat.NotebookNode, params: Mapping[str, Any], *,
                 metadata: Mapping[str, Any] | None = None, language: str = "python",
                 kernel_name: str = "") -> nbformat.NotebookNode:
    """A copy of ``nb`` with the injected-parameters cell (in ``language``) in place and run metadata set."""
    import nbformat
    from nbformat.corpus.words import generate_corpus_id as random_cell_id

    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in c.get("metadata", {}).get("tags", [])]
    position = 0
    for index, cell in enumerate(nb.cells):
        if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            position = index + 1
            break
    if params:
        # nbformat.v4.new_code_cell's cell, without its jsonschema check of a cell that is valid by construction
        # (~0.4 ms a run, measured with py-spy; tests/test_inject.py validates the notebook)
        cell = nbformat.NotebookNode(id=random_cell_id(), cell_type="code", execution_count=None, outputs=[],
                                     metadata=nbformat.NotebookNode(tags=[INJECTED_TAG]),
                                     source=injected_source(params, language, kernel_name))
        if nb.get("nbformat_minor", 0) < 5:  # cell ids exist from nbformat 4.5 on
            cell.pop("id", None)
        nb.cells.insert(position, cell)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = []
            cell.execution_count = None
    # papermill's metadata block, so papermill and scrapbook tooling can read our notebooks
    nb.metadata["papermill"] = {"parameters": dict(params), "environment_variables": {}, "version": None}
    if metadata:
        nb.metadata["livedocs"] = dict(metadata)
    return nb
