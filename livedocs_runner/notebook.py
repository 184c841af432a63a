"""Load and validate a notebook and find its ``parameters`` cell (nbformat only)."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .errors import NotebookError
from .params import ParamSpec, infer

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"


@dataclass(frozen=True)
class Notebook:
    """A notebook file as read from disk: its path, raw bytes and parsed node."""

    path: Path
    raw: bytes
    node: nbformat.NotebookNode

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def kernel_name(self) -> str:
        return self.node.metadata.get("kernelspec", {}).get("name") or "python3"

    def top_level_imports(self) -> tuple[str, ...]:
        return top_level_imports(self.node)

    def parameters_cell_index(self) -> int | None:
        """Index of the first cell tagged ``parameters``, or None."""
        for index, cell in enumerate(self.node.cells):
            if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
                return index
        return None

    def parameters(self) -> list[ParamSpec]:
        """The schema inferred from the ``parameters`` cell (empty when there is none)."""
        index = self.parameters_cell_index()
        if index is None:
            return []
        try:
            return infer(self.node.cells[index].source)
        except SyntaxError as exc:
            raise NotebookError(
                f"{self.path}: the cell tagged 'parameters' (cell {index + 1}) is not valid Python "
                f"at line {exc.lineno}: {exc.msg}. Keep that cell to plain assignments like `threshold = 0.5`."
            ) from None


def load_notebook(path: str | Path) -> Notebook:
    """Read ``path`` as a notebook, or raise :class:`NotebookError` saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        hint = "Check the path" + (f" (relative to {Path.cwd()})." if not path.is_absolute() else ".")
        raise NotebookError(f"notebook {path} does not exist.", hint=hint)
    raw = path.read_bytes()
    try:
        node = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for bad JSON
        raise NotebookError(f"{path} is not a valid notebook ({_first_line(exc)}).",
                            hint="Open and save it in Jupyter, or check the file is an .ipynb.") from None
    return Notebook(path=path, raw=raw, node=node)


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


def top_level_imports(nb: nbformat.NotebookNode) -> tuple[str, ...]:
    """Modules imported at the top level of the notebook's code cells, in order, once each."""
    seen: dict[str, None] = {}
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            for name in _imports_in(cell.source):
                seen.setdefault(name, None)
    return tuple(seen)
