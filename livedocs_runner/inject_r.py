"""Injected parameters for non-Python kernels, written by papermill's translators and then checked.

papermill's translators (``papermill.translators``) write each value in the kernel's language; they
were not written to be safe against hostile values, so livedocs only uses a translator whose output
it can read back, and reads every line back before it is used: the name must be an identifier of
that language and the value must decode to exactly the value given. What a translator cannot write
exactly is refused (a ParameterError, exit 2), never injected. Only R is enabled; its translator's
holes found by reading it (papermill 2.x) and how each is closed:

- ``float('nan')``/``inf`` are written as ``nan``/``inf``: R *identifiers* (a variable lookup), so refused;
- ints are written bare, which R reads as doubles: exact only up to 2**53, larger ones refused;
- non-ASCII text is written with Python's ``unicode_escape``: U+0080..U+00FF become ``\\xNN``, which R
  reads as a raw Latin-1 byte (not the character), so such text is refused; NUL (``\\x00``) is refused
  (R cannot hold it); other characters (``\\uNNNN``, ``\\UNNNNNNNN``) round-trip, but R refuses to parse a
  string mixing them with a ``\\xNN`` control character (U+0001..U+001F but tab/newline/CR, U+007F): refused;
- names with a leading ``_`` are silently renamed (``_x`` becomes ``x``): refused, as are R's reserved words;
- a dict becomes a named ``list(...)``: an empty key (not a valid R name) is refused; lists become ``list(...)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import ParameterError
from .params import check_name, quote

R_RESERVED = frozenset({
    "if", "else", "repeat", "while", "function", "for", "in", "next", "break", "TRUE", "FALSE", "NULL",
    "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_", "NA_complex_"})
_R_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_R_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")
_EXACT_INT = 2 ** 53
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
SUPPORTED = ("python", "R")


class _NotExact(ValueError):
    """The translator's text does not read back as the value given."""


# papermill 2.x's translator registry (papermill/translators.py: a kernel name first, else the language) and the
# keys that give its R translator. Mirrored so that checking a plan needs no papermill: importing any part of it
# runs its package's __init__, which loads click (the CLI library) into the core. test_r_language compares this
# with papermill's own registry; running a plan (translator_for) still asks papermill itself.
PAPERMILL_KEYS = frozenset({"python", "R", "scala", "julia", "matlab", ".net-csharp", ".net-fsharp", ".net-powershell",
                            "pysparkkernel", "sparkkernel", "sparkrkernel", "bash"})
R_KEYS = frozenset({"R", "sparkrkernel"})


def uses_r_translator(language: str, kernel_name: str = "") -> bool:
    """Whether papermill would write this kernel's parameters with its R translator (without importing papermill)."""
    return (kernel_name if kernel_name in PAPERMILL_KEYS else language) in R_KEYS


def _unsupported(language: str, kernel_name: str) -> ParameterError:
    return ParameterError(
        f"livedocs cannot inject parameters into a {quote(language or 'unknown')} notebook "
        f"(kernel {quote(kernel_name)}): it injects into {' and '.join(SUPPORTED)} notebooks only.",
        hint="Run the notebook without parameters (no `parameters:`, scenarios or -p), or use a Python or R kernel.")


def translator_for(language: str, kernel_name: str = "") -> Any:
    """papermill's translator for the kernel, if livedocs has verified it (R); else ParameterError.
    Imports papermill (and with it click): only when a run's cell is written, never to check a plan."""
    from papermill.exceptions import PapermillException
    from papermill.translators import RTranslator, papermill_translators

    try:
        translator = papermill_translators.find_translator(kernel_name, language)
    except PapermillException:
        translator = None
    if translator is not RTranslator:
        raise _unsupported(language, kernel_name)
    return translator


def check_parameters(params: Mapping[str, Any], language: str, kernel_name: str = "") -> None:
    """Refuse (ParameterError) what could not be injected into this kernel, before anything is recorded or run:
    every check :func:`injected_source_for` makes but the read-back of papermill's text, without papermill."""
    from .inject import injected_source, is_python

    if is_python(language):
        injected_source(params, language, kernel_name)
        return
    if not uses_r_translator(language, kernel_name):
        raise _unsupported(language, kernel_name)
    for name, value in params.items():
        check_r_name(name)
        check_r_value(value, name)


def check_r_name(name: Any) -> str:
    """``name`` if it is a parameter name (a Python identifier) that is also a plain R name, else ParameterError."""
    check_name(name)
    if not _R_NAME.fullmatch(name) or name in R_RESERVED:
        raise ParameterError(f"parameter name {quote(name)} is not a valid R name "
                             "(ASCII letters, digits and underscores, starting with a letter; not a reserved word).",
                             hint="Rename the parameter in the notebook and the config.")
    return name


def check_r_value(value: Any, name: str, _depth: int = 0) -> None:
    """Refuse what papermill's R translator cannot write exactly (see the module docstring)."""
    from .inject import literal

    if _depth == 0:
        try:
            literal(value)  # the checks every language shares: plain data, no surrogates, bounded size and depth
        except (ValueError, TypeError) as exc:
            raise _refused(name, value, str(exc)) from None
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int) and abs(value) > _EXACT_INT:
        raise _refused(name, value, "R reads numbers as doubles, exact only up to 2**53")
    if isinstance(value, str):
        bad = next((c for c in value if c == "\0" or "\x80" <= c <= "\xff"), None)
        if bad == "\0":
            raise _refused(name, value, "R strings cannot hold a NUL character")
        if bad is not None:
            raise _refused(name, value, f"papermill's R translator writes {bad!r} (U+{ord(bad):04X}) as a byte "
                                        f"escape \\x{ord(bad):02x}, which R reads as a Latin-1 byte, not the character")
        control = next((c for c in value if (c < " " and c not in "\t\n\r") or c == "\x7f"), None)
        wide = next((c for c in value if c >= "\u0100"), None)
        if control is not None and wide is not None:
            raise _refused(name, value, f"papermill's R translator would write {control!r} as \\x{ord(control):02x} and "
                                        f"{wide!r} as a \\u escape in one string, which R refuses to parse")
    if isinstance(value, list | tuple):
        for item in value:
            check_r_value(item, name, _depth + 1)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise _refused(name, value, "a dict key must be non-empty text (it becomes an R list name)")
            check_r_value(key, name, _depth + 1)
            check_r_value(item, name, _depth + 1)


def injected_source_for(params: Mapping[str, Any], language: str, header: str, kernel_name: str = "") -> str:
    """The injected cell for a non-Python kernel: ``header`` then one ``name = value`` per parameter."""
    translator = translator_for(language, kernel_name)
    lines = [header]
    for name, value in params.items():
        check_r_name(name)
        check_r_value(value, name)
        line = translator.assign(name, translator.translate(value))
        prefix = f"{name} = "
        try:
            if not line.startswith(prefix) or not _same(read_r_literal(line[len(prefix):]), value):
                raise _NotExact("it reads back as a different value")
        except _NotExact as exc:  # belt and braces: what runs is exactly what was given
            raise _refused(name, value, f"papermill's R translator does not write it exactly ({exc})") from None
        lines.append(line)
    return "\n".join(lines)


def _refused(name: str, value: Any, why: str) -> ParameterError:
    return ParameterError(f"parameter {quote(name)}: the value {quote(value)} cannot be injected into an R notebook: "
                          f"{why}.", hint="Give another value, or change the parameter's type in the config.")


# --- reading back what the R translator wrote (only the forms it writes; anything else is _NotExact) ---

def read_r_literal(text: str) -> Any:
    """The value of an R literal as papermill's R translator writes it: NULL, TRUE/FALSE, numbers,
    double-quoted strings, ``list(...)`` with optional ``"key" = value`` entries."""
    value, end = _read(text, 0, 0)
    if end != len(text):
        raise _NotExact(f"unexpected text at offset {end}")
    return value


def _read(text: str, i: int, depth: int) -> tuple[Any, int]:
    if depth > 64:
        raise _NotExact("nested too deeply")
    for word, value in (("NULL", None), ("TRUE", True), ("FALSE", False)):
        if text.startswith(word, i):
            return value, i + len(word)
    if text.startswith('"', i):
        return _read_string(text, i)
    if text.startswith("list(", i):
        return _read_list(text, i + len("list("), depth)
    number = _R_NUMBER.match(text, i)
    if number:
        token = number.group()
        return (float(token) if any(c in token for c in ".e") else int(token)), number.end()
    raise _NotExact(f"unexpected text at offset {i}")


def _read_list(text: str, i: int, depth: int) -> tuple[Any, int]:
    items: list[Any] = []
    named: dict[str, Any] = {}
    while not text.startswith(")", i):
        if items or named:
            if not text.startswith(", ", i):
                raise _NotExact(f"expected ', ' at offset {i}")
            i += 2
        value, i = _read(text, i, depth + 1)
        if text.startswith(" = ", i):
            if not isinstance(value, str) or items:
                raise _NotExact("a list mixes named and unnamed entries")
            named[value], i = _read(text, i + 3, depth + 1)
        elif named:
            raise _NotExact("a list mixes named and unnamed entries")
        else:
            items.append(value)
    return (named if named else items), i + 1


def _read_string(text: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    kinds: set[str] = set()
    i += 1
    while True:
        if i >= len(text):
            raise _NotExact("unterminated string")
        char = text[i]
        if char == '"':
            if "x" in kinds and kinds & {"u", "U"}:
                raise _NotExact("R refuses \\x and \\u escapes in one string")
            return "".join(out), i + 1
        if char != "\\":
            if not " " <= char <= "~":
                raise _NotExact(f"raw character {char!r} in a string")
            out.append(char)
            i += 1
            continue
        escape = text[i + 1:i + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            i += 2
        elif escape in _HEX_ESCAPES:
            width = _HEX_ESCAPES[escape]
            digits = text[i + 2:i + 2 + width]
            if not re.fullmatch(rf"[0-9a-fA-F]{{{width}}}", digits):
                raise _NotExact(f"bad \\{escape} escape")
            code = int(digits, 16)
            if escape == "x" and not 0 < code < 0x80:  # R: a raw byte, not a character (and never NUL)
                raise _NotExact(f"\\x{digits} is a byte in R, not U+{code:04X}")
            if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                raise _NotExact(f"\\{escape}{digits} is not a character R accepts")
            out.append(chr(code))
            kinds.add(escape)
            i += 2 + width
        else:
            raise _NotExact(f"escape \\{escape} is not one the translator writes")


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kinds (True is not 1, 1 is not 1.0); tuples count as lists."""
    if isinstance(b, tuple):
        b = list(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


__all__ = ["PAPERMILL_KEYS", "R_KEYS", "R_RESERVED", "SUPPORTED", "check_parameters", "check_r_name", "check_r_value",
           "injected_source_for", "read_r_literal", "translator_for", "uses_r_translator"]
