"""Load and validate a notebook and find its ``parameters`` cell (nbformat only)."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NotebookError
from .params import ParamSpec, infer

if TYPE_CHECKING:
    import nbformat

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


@dataclass(frozen=True)
class Notebook:
    """A notebook file as read from disk: its path, raw bytes and parsed JSON.

    The schema, kernel name and imports come from the plain JSON; the validated nbformat node
    (``node``) is built only when a run executes, so a cache hit never imports nbformat.
    """

    path: Path
    raw: bytes
    data: dict[str, Any] = field(repr=False, compare=False)

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @functools.cached_property
    def node(self) -> nbformat.NotebookNode:
        """The notebook as an nbformat v4 node, validated; NotebookError when it is not valid."""
        import nbformat

        try:
            node = nbformat.reads(self.raw.decode("utf-8"), as_version=4)
            nbformat.validate(node)
        except Exception as exc:  # nbformat raises several unrelated types
            raise NotebookError(f"{self.path} is not a valid notebook ({_first_line(exc)}).",
                                hint="Open and save it in Jupyter, or check the file is an .ipynb.") from None
        return node

    def validate(self) -> None:
        """Raise NotebookError now if the notebook would not execute as a valid nbformat v4 file."""
        self.node  # noqa: B018 - building it validates it

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.data.get("cells", [])

    @property
    def kernel_name(self) -> str:
        return self.data.get("metadata", {}).get("kernelspec", {}).get("name") or "python3"

    def top_level_imports(self) -> tuple[str, ...]:
        return top_level_imports(self.cells)

    def parameters_cell_index(self) -> int | None:
        """Index of the first cell tagged ``parameters``, or None."""
        for index, cell in enumerate(self.cells):
            if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
                return index
        return None

    def parameters(self) -> list[ParamSpec]:
        """The schema inferred from the ``parameters`` cell (empty when there is none)."""
        index = self.parameters_cell_index()
        if index is None:
            return []
        try:
            return infer(source_of(self.cells[index]))
        except SyntaxError as exc:
            raise NotebookError(
                f"{self.path}: the cell tagged 'parameters' (cell {index + 1}) is not valid Python "
                f"at line {exc.lineno}: {exc.msg}. Keep that cell to plain assignments like `threshold = 0.5`."
            ) from None


def source_of(cell: dict[str, Any]) -> str:
    """A cell's source as one string (the JSON may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def load_notebook(path: str | Path) -> Notebook:
    """Read ``path`` as a notebook, or raise :class:`NotebookError` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        hint = "Check the path" + (f" (relative to {Path.cwd()})." if not path.is_absolute() else ".")
        raise NotebookError(f"notebook {path} does not exist.", hint=hint)
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookError(f"{path} is not a valid notebook ({_first_line(exc)}).",
                            hint="Open and save it in Jupyter, or check the file is an .ipynb.") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", []), list) or "nbformat" not in data:
        raise NotebookError(f"{path} is not a valid notebook (no 'nbformat' and 'cells').",
                            hint="Open and save it in Jupyter, or check the file is an .ipynb.")
    notebook = Notebook(path=path, raw=raw, data=data)
    if data.get("nbformat", 0) < 4:  # old layout (worksheets): let nbformat upgrade it
        upgraded = json.loads(json.dumps(notebook.node))
        notebook = Notebook(path=path, raw=raw, data=upgraded)
    return notebook


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _imports_in(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics and the like: fall back to the import lines alone
        lines = [ln for ln in source.splitlines() if ln.startswith(("import ", "from "))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def top_level_imports(cells: list[dict[str, Any]]) -> tuple[str, ...]:
    """Modules imported at the top level of the notebook's code cells, in order, once each."""
    seen: dict[str, None] = {}
    for cell in cells:
        if cell.get("cell_type") == "code":
            for name in _imports_in(source_of(cell)):
                seen.setdefault(name, None)
    return tuple(seen)
