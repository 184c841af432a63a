"""Plain text from terminal text: escape sequences and control characters removed.

IPython colours a notebook's traceback with ANSI escape sequences, and a notebook can put any
control character into an exception's message. What livedocs keeps and shows (a record's error,
``--json``, the app, the report) is plain text: :func:`plain_text` is applied once where an error is
captured (:class:`~livedocs_runner.errors.RunError` applies it to every field it is built with, so
records written by older versions are cleaned when they are read, too).

Removed: whole escape sequences (CSI ``ESC [ ... m`` colours and cursor moves, OSC ``ESC ] ... BEL``
titles and hyperlinks, DCS/SOS/PM/APC strings, two- and three-byte escapes, and their 8-bit C1 forms),
then every remaining C0/C1 control character and DEL, bidi embeddings/overrides/isolates and marks,
and lone surrogates (as U+FFFD). Kept: newlines and tabs (``\\r\\n`` and a lone ``\\r`` become ``\\n``,
as do the Unicode line and paragraph separators) and every printable character.
"""

from __future__ import annotations

import re

# A string's body stops at any control character, so no match can run past the next escape: the
# work stays linear in the text's length, whatever a notebook puts into an exception's message.
_BODY = r"[^\x00-\x1f\x7f-\x9f]*"
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: parameters, intermediates, final byte
    rf"|(?:\x1b\]|\x9d){_BODY}(?:\x07|\x1b\\|\x9c)"  # OSC, ended by BEL or ST
    rf"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f]){_BODY}(?:\x1b\\|\x9c)"  # DCS, SOS, PM, APC, ended by ST
    r"|\x1b[ -/]*[0-~]"  # any other escape: intermediates, then a final byte
)
_NEWLINES = re.compile("\r\n?|[\u2028\u2029]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_SPACE = re.compile(r"\s+")


def plain_text(text: object) -> str:
    """``text`` without escape sequences or control characters; newlines and tabs kept."""
    text = _SEQUENCE.sub("", str(text))
    text = _NEWLINES.sub("\n", text)
    return _SURROGATES.sub("\ufffd", _CONTROLS.sub("", text))


def plain_line(text: object, width: int | None = None) -> str:
    """:func:`plain_text` on one line (runs of whitespace as one space), cut to ``width`` with ``…``."""
    line = _SPACE.sub(" ", plain_text(text)).strip()
    if width is not None and len(line) > width:
        line = line[: max(0, width - 1)].rstrip() + "…"
    return line
