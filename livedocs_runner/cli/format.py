"""Small text helpers shared by the commands, and the one place terminal output is made safe.

Names, values and error texts come from people, notebooks and configs. Printed raw, an ESC
sequence in a scenario name could retitle the terminal, clear it or rewrite earlier lines, and
a bidi override could reorder what is shown. :func:`safe` escapes every such character visibly
(``\\u001b``, a JSON-compatible escape, so ``--json`` output stays valid and lossless), and
:class:`SafeStream`, installed on stdout and stderr by ``main``, applies it to everything the
CLI prints: what it writes cannot act on the terminal, whichever command printed it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import RunError
from ..outputs import is_table

if TYPE_CHECKING:
    from ..records.store import RunRecord

# C0 controls but newline (ESC, BEL, CR, BS, TAB ...), DEL, C1 controls (CSI \x9b ...), the Arabic
# letter mark, left/right marks, line and paragraph separators, bidi embeddings/overrides/isolates,
# and lone surrogates (which cannot even be encoded).
_CONTROLS = "\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(f"[{_CONTROLS}]")
_UNSAFE_OR_NEWLINE = re.compile(f"[{_CONTROLS}\n]")


_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}  # JSON's own short escapes


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT.get(char) or f"\\u{ord(char):04x}"


def safe(text: object) -> str:
    """``text`` as one printable line: controls, newlines and bidi overrides shown as ``\\u001b``."""
    return _UNSAFE_OR_NEWLINE.sub(_escape, str(text))


def safe_lines(text: str) -> str:
    """Like :func:`safe`, but keeps newlines (for text that is several lines by design)."""
    return _UNSAFE.sub(_escape, text)


def error_text(message: str, hint: str | None = None) -> str:
    """``Error: <message>`` on one line, plus the hint on a second: how every CLI error is shown."""
    return f"Error: {safe(message)}" + (f"\n{safe(hint)}" if hint else "")


class SafeStream:
    """A text stream that escapes control characters (:func:`safe_lines`) in everything written to it.

    ``raw`` is the wrapped stream, for the few deliberate cursor controls of the live progress line.
    """

    def __init__(self, raw: TextIO) -> None:
        self.raw = raw

    def write(self, text: str) -> int:
        self.raw.write(safe_lines(text))  # bytes raise TypeError, as on any text stream
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # encoding, errors, isatty, fileno, flush ...
        return getattr(self.raw, name)


def raw_stream(stream: TextIO) -> TextIO:
    """The terminal under a :class:`SafeStream` (or ``stream`` itself): only for text built with :func:`safe`."""
    return stream.raw if isinstance(stream, SafeStream) else stream


def record_json(record: RunRecord) -> dict[str, Any]:
    """A record as ``--json`` prints it: its error as plain text, also for records of older releases, which
    kept IPython's terminal escape codes in the traceback (the store itself keeps what was written)."""
    data = record.to_json()
    error = RunError.from_json(record.error)
    if error is not None:
        data["error"] = error.to_json()
    return data


def relative(path: str | Path | None) -> str:
    """``path`` relative to the working directory when it is below it (made :func:`safe`)."""
    if path is None:
        return "-"
    try:
        return safe(os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else path)
    except (ValueError, OSError):
        return safe(path)


def show_value(value: Any, width: int = 40) -> str:
    """A metric or parameter value on one line, cut to ``width`` characters, made :func:`safe`."""
    if is_table(value):
        return f"(table, {len(value['data'])} rows)"
    if isinstance(value, float):
        return f"{value:.6g}"
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    except ValueError:  # an int too long to print
        text = "(a very large number)"
    text = safe(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def table(rows: list[list[str]], header: list[str]) -> str:
    """Aligned columns; every cell is made :func:`safe` (one line, no control characters)."""
    rows = [[safe(c) for c in r] for r in rows]
    header = [safe(c) for c in header]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)
