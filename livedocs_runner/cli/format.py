"""Small text helpers shared by the commands."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..outputs import is_table


def relative(path: str | Path | None) -> str:
    """``path`` relative to the working directory when it is below it."""
    if path is None:
        return "-"
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def show_value(value: Any, width: int = 40) -> str:
    if is_table(value):
        return f"(table, {len(value['data'])} rows)"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 3] + "..."


def metric_summary(metrics: dict[str, Any], limit: int = 4) -> str:
    scalars = [(k, v) for k, v in metrics.items() if not is_table(v)]
    return "  ".join(f"{k}={show_value(v, 20)}" for k, v in scalars[:limit])


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
