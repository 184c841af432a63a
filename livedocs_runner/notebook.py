"""Load and validate a notebook and find its ``parameters`` cell (nbformat only)."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NotebookError
from .inference import infer
from .params import MAX_INT_DIGITS, ParamSpec, quote

if TYPE_CHECKING:
    import nbformat

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024
_MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # only a JSON escape can make a lone surrogate
_FIX = "Open and save it in Jupyter, or check the file is an .ipynb."


def is_kernel_name(name: object) -> bool:
    """A kernelspec name: no path separators or leading dot (it becomes a folder name when looked up)."""
    return isinstance(name, str) and re.fullmatch(r"[^/\\\0.][^/\\\0]*", name) is not None


def check_module_name(name: object) -> str:
    """A dotted module name (``pandas``, ``matplotlib.pyplot``), else ValueError.

    Warm kernels run ``import NAME`` for each warm import, so anything but a module name would be code.
    """
    if (not isinstance(name, str) or not _MODULE.fullmatch(name)
            or not all(part.isidentifier() and not keyword.iskeyword(part) for part in name.split("."))):
        raise ValueError(f"{quote(name)} is not a module name")
    return name


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
            raise NotebookError(f"{self.path} is not a valid notebook ({_first_line(exc)}).", hint=_FIX) from None
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

    @property
    def language(self) -> str:
        """The notebook's language as its metadata says (kernelspec, then language_info): ``python``,
        ``R``...; ``python`` when it says nothing. The kernel that runs it has the last word (see
        ``execute.kernel_language``)."""
        metadata = self.data.get("metadata", {})
        for value in (metadata.get("kernelspec", {}).get("language"), (metadata.get("language_info") or {}).get("name")
                      if isinstance(metadata.get("language_info"), dict) else None):
            if isinstance(value, str) and value.strip():
                return value.strip()
        return "python"

    def top_level_imports(self) -> tuple[str, ...]:
        """Module names imported at the top level: what a warm kernel pre-imports by default (Python only)."""
        return top_level_imports(self.cells) if self.language.lower() == "python" else ()

    def parameters_cell_index(self) -> int | None:
        """Index of the first cell tagged ``parameters``, or None."""
        for index, cell in enumerate(self.cells):
            if PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
                return index
        return None

    def parameters(self) -> list[ParamSpec]:
        """The schema inferred from the ``parameters`` cell (empty when there is none).

        Python cells are parsed with :mod:`ast`, R cells by :mod:`~livedocs_runner.inference_r`; in
        other languages nothing is inferred (the config declares the parameters).
        """
        index = self.parameters_cell_index()
        if index is None:
            return []
        if self.language.lower() != "python":
            from .inference_r import infer_r

            return infer_r(source_of(self.cells[index])) if self.language.lower() == "r" else []
        try:
            return infer(source_of(self.cells[index]))
        except SyntaxError as exc:
            raise NotebookError(
                f"{self.path}: the cell tagged 'parameters' (cell {index + 1}) is not valid Python "
                f"at line {exc.lineno}: {exc.msg}. Keep that cell to plain assignments like `threshold = 0.5`."
            ) from None
        except (RecursionError, MemoryError):  # Python's parser gives up on e.g. `x = 1+1+...` 100,000 times
            raise NotebookError(
                f"{self.path}: the cell tagged 'parameters' (cell {index + 1}) is nested too deeply to read. "
                "Keep that cell to plain assignments like `threshold = 0.5`.") from None


def source_of(cell: dict[str, Any]) -> str:
    """A cell's source as one string (the JSON may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def load_notebook(path: str | Path) -> Notebook:
    """Read ``path`` as a notebook, or raise :class:`NotebookError` saying what is wrong.

    The fields livedocs reads before a run (format version, metadata, kernelspec, cells, their
    type, tags and source) are checked here, so a structurally wrong file is one clear error.
    """
    path = Path(path)
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise NotebookError(f"the notebook file name {ascii(str(path))} is not valid UTF-8.",
                            hint="Rename the file.") from None
    try:
        if not path.is_file():  # also refuses a FIFO that would block and /dev/zero that never ends
            if path.exists():
                raise NotebookError(f"notebook {path} is not a regular file.", hint="Give the path of an .ipynb file.")
            hint = "Check the path" + (f" (relative to {Path.cwd()})." if not path.is_absolute() else ".")
            raise NotebookError(f"notebook {path} does not exist.", hint=hint)
        with path.open("rb") as handle:
            raw = handle.read(MAX_NOTEBOOK_BYTES + 1)
        if len(raw) > MAX_NOTEBOOK_BYTES:
            raise NotebookError(f"{path} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB.",
                                hint="Clear its outputs (Jupyter: Edit > Clear outputs of all cells) and save it.")
    except OSError as exc:
        raise NotebookError(f"notebook {path} cannot be read ({exc.strerror or exc}).") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookError(f"{path} is not a valid notebook ({_first_line(exc)}).", hint=_FIX) from None
    except ValueError:  # json.loads refuses ints over Python's int <-> str digit limit
        raise NotebookError(f"{path} is not a valid notebook (it contains a number with more than "
                            f"{MAX_INT_DIGITS} digits).", hint=_FIX) from None
    except RecursionError:
        raise NotebookError(f"{path} is not a valid notebook (its JSON is nested too deeply).", hint=_FIX) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", []), list) or "nbformat" not in data:
        raise NotebookError(f"{path} is not a valid notebook (no 'nbformat' and 'cells').", hint=_FIX)
    if _SURROGATE_ESCAPE.search(raw):
        _check_text(path, data)
    major = data["nbformat"]
    if not isinstance(major, int) or isinstance(major, bool) or not 1 <= major <= 4:
        raise NotebookError(f"{path} is not a valid notebook ('nbformat' is {quote(major)}; expected 4).", hint=_FIX)
    notebook = Notebook(path=path, raw=raw, data=data)
    if major < 4:  # old layout (worksheets): let nbformat upgrade it
        upgraded = json.loads(json.dumps(notebook.node))
        notebook = Notebook(path=path, raw=raw, data=upgraded)
    _check_structure(path, notebook.data)
    return notebook


def _check_text(path: Path, data: Any) -> None:
    """Refuse lone surrogates (``"\\ud800"`` escapes): such text cannot be stored or sent to a kernel."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotebookError(f"{path} is not a valid notebook (it contains {exc.object[exc.start:exc.end]!a}, "
                            "which is not valid Unicode).", hint=_FIX) from None


def _check_structure(path: Path, data: dict[str, Any]) -> None:
    """The parts of nbformat v4 livedocs reads before nbformat itself validates the file at run time."""
    def bad(where: str, what: str) -> NotebookError:
        return NotebookError(f"{path} is not a valid notebook ({where} {what}).", hint=_FIX)

    def kind(value: Any) -> str:
        return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
                float: "a number", type(None): "null"}.get(type(value), "a value")

    minor = data.get("nbformat_minor", 0)
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise bad("'nbformat_minor' is", f"{quote(minor)}, not a number")
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise bad("its 'metadata' is", f"{kind(metadata)}, not an object")
    kernelspec = metadata.get("kernelspec", {})
    if not isinstance(kernelspec, dict):
        raise bad("'metadata.kernelspec' is", f"{kind(kernelspec)}, not an object")
    name = kernelspec.get("name")
    if name is not None and not is_kernel_name(name):
        raise bad("'metadata.kernelspec.name'", f"{quote(name)} is not a kernel name")
    for number, cell in enumerate(data["cells"], start=1):
        if not isinstance(cell, dict):
            raise bad(f"cell {number} is", f"{kind(cell)}, not an object")
        if not isinstance(cell.get("cell_type"), str):
            raise bad(f"cell {number}:", "its 'cell_type' is missing or not a string")
        cell_meta = cell.get("metadata", {})
        if not isinstance(cell_meta, dict):
            raise bad(f"cell {number}: its 'metadata' is", f"{kind(cell_meta)}, not an object")
        tags = cell_meta.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise bad(f"cell {number}: its 'tags' are", "not a list of strings")
        source = cell.get("source", "")
        if not isinstance(source, str) and not (isinstance(source, list) and all(isinstance(x, str) for x in source)):
            raise bad(f"cell {number}: its 'source' is", f"{kind(source)}, not text or a list of lines")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _imports_in(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError):  # IPython magics and the like: the import lines alone
        lines = [ln for ln in source.splitlines() if ln.startswith(("import ", "from "))]
        try:
            tree = ast.parse("\n".join(lines))
        except (SyntaxError, RecursionError, MemoryError):
            return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def top_level_imports(cells: list[dict[str, Any]]) -> tuple[str, ...]:
    """Modules imported at the top level of the notebook's code cells, in order, once each.

    Only dotted module names are kept (:func:`check_module_name`): these become warm imports.
    """
    seen: dict[str, None] = {}
    for cell in cells:
        if cell.get("cell_type") == "code":
            for name in _imports_in(source_of(cell)):
                try:
                    seen.setdefault(check_module_name(name), None)
                except ValueError:
                    continue
    return tuple(seen)
