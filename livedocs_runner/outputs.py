"""Read a run's results back out of its executed notebook: recorded values, how to show them, and figures."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .recording import RECORD_MIME, SCRAPBOOK_MIME
from .records.store import atomic_write
from .results import ResultSpec, specs_from_json

if TYPE_CHECKING:
    import nbformat

_SCRAPBOOK_TEXT_MIME = "application/scrapbook.scrap.text+json"
_IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}


class OutputProblem(ValueError):
    """An output of the executed notebook that cannot be read back (``cell``: 1-based index in output.ipynb)."""

    def __init__(self, message: str, cell: int) -> None:
        super().__init__(message)
        self.cell = cell


def is_table(value: Any) -> bool:
    """A recorded DataFrame: ``{"columns": [...], "data": [[...], ...], "type": "table"}``."""
    return isinstance(value, dict) and value.get("type") == "table" and "columns" in value and "data" in value


def _display_outputs(nb: nbformat.NotebookNode):
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") in ("display_data", "execute_result"):
                yield index, output


def read_metrics(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """Values recorded with ``record()`` or glued with scrapbook (JSON encoder), in order."""
    metrics: dict[str, Any] = {}
    for index, output in _display_outputs(nb):
        data = output.get("data", {})
        if RECORD_MIME in data:
            payload = data[RECORD_MIME]
            if isinstance(payload, str):  # R's record() sends JSON text: IRkernel's writer rounds numbers to 4 decimals
                try:
                    payload = json.loads(payload)
                except ValueError:
                    raise OutputProblem(f"a {RECORD_MIME} output is not valid JSON", index + 1) from None
            if not isinstance(payload, dict) or not isinstance(payload.get("name"), str) or not payload["name"]:
                raise OutputProblem(f"a {RECORD_MIME} output has no name (it was not made by record())", index + 1)
            value = payload.get("value")
            if payload.get("kind") == "table":
                if not isinstance(value, dict):
                    raise OutputProblem(f"the recorded table {payload['name']!r} is not a mapping", index + 1)
                value = {"type": "table", **value}
            metrics[payload["name"]] = value
        else:  # scrapbook: ...scrap.json+json for numbers/lists/dicts, ...scrap.text+json for strings
            for mime in (SCRAPBOOK_MIME, _SCRAPBOOK_TEXT_MIME):
                scrap = data.get(mime)
                if isinstance(scrap, dict) and scrap.get("name") and scrap.get("encoder") in ("json", "text", None):
                    metrics[scrap["name"]] = scrap.get("data")
    return metrics


def read_specs(nb: nbformat.NotebookNode) -> dict[str, ResultSpec]:
    """How ``record()`` said to show each value (``label=``, ``unit=``, ``format=``, ``better=``); the last
    record of a name wins, as for its value. A spec this version cannot read is left out (shown plain)."""
    found: dict[str, Any] = {}
    for _index, output in _display_outputs(nb):
        payload = output.get("data", {}).get(RECORD_MIME)
        if isinstance(payload, dict) and isinstance(payload.get("name"), str) and payload["name"]:
            found[payload["name"]] = payload.get("spec")
    return specs_from_json({name: spec for name, spec in found.items() if spec})


def collect_outputs(nb: nbformat.NotebookNode, folder: Path) -> tuple[dict[str, Any], list[Path]]:
    """Write figures and ``metrics.json`` into ``folder``; return the metrics and the files."""
    metrics = read_metrics(nb)
    files: list[Path] = []
    for index, output in _display_outputs(nb):
        for mime, ext in _IMAGE_TYPES.items():
            if mime in output.get("data", {}):
                content = output["data"][mime]
                try:
                    raw = content.encode() if ext == "svg" else base64.b64decode(content)
                except (binascii.Error, ValueError, TypeError, AttributeError) as exc:
                    raise OutputProblem(f"an {mime} output is not valid base64 ({exc})", index + 1) from None
                path = folder / f"figure-{index + 1:03d}-{len(files) + 1:02d}.{ext}"
                atomic_write(path, raw)
                files.append(path)
                break
    path = folder / "metrics.json"
    atomic_write(path, json.dumps(metrics, indent=2, ensure_ascii=False))
    files.append(path)
    return metrics, files
