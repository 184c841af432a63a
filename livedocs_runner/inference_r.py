"""Inference of an R notebook's parameters from its ``parameters`` cell: read as text, never evaluated.

Top-level ``name <- value`` or ``name = value`` statements become parameters; a value that is a
literal gives the type and default: numbers (``0.5``, ``1e-3``, ``-2``: R numerics, so ``float``),
integers (``10L``: ``int``), strings (``"text"``, ``'text'``), ``TRUE``/``FALSE``, ``NULL`` (type
``any``) and ``c(...)`` of those (``list``). Anything else (a call, ``NA``, ``Inf``, an expression)
keeps its value in the notebook with type ``any`` (type it in the config). The comment at the end
of the statement, or else on the line just above it, is the help; ``# type: float`` works as in Python.
Names that are not also Python identifiers (``data.file``) are not parameters.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .inference import _split_type_comment
from .params import ParamSpec, check_plain

_ASSIGN = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s*(<-|=(?!=))\s*")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?")
_R_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "`": "`", "0": "\0",
              "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_MISSING = object()
_NOT_LITERAL = object()


def infer_r(source: str) -> list[ParamSpec]:
    """One ParamSpec per top-level assignment of an R ``parameters`` cell (a later one wins)."""
    specs: dict[str, ParamSpec] = {}
    previous_comment = ""
    for line, code, comment in _statements(source):
        if not code:
            previous_comment = comment
            continue
        match = _ASSIGN.match(code)
        if match and match.group(1).isidentifier():
            name, value_text = match.group(1), code[match.end():].strip()
            specs[name] = _spec(name, value_text, comment or previous_comment, line)
        previous_comment = ""
    return list(specs.values())


def _spec(name: str, value_text: str, comment: str, line: int) -> ParamSpec:
    help_text, type_comment = _split_type_comment(comment)
    default, ptype = _literal(value_text)
    literal = default is not _NOT_LITERAL
    if literal:
        try:
            default = check_plain(default)
        except (ValueError, OverflowError):
            literal = False
    if not literal:
        default, ptype = None, "any"
    ptype = type_comment or ptype
    if ptype == "float" and isinstance(default, int) and not isinstance(default, bool):
        default = float(default)
    return ParamSpec(name=name, type=ptype, default=default, help=help_text, line=line, literal=literal)


def _literal(text: str) -> tuple[Any, str]:
    """``(value, type)`` of an R literal, or ``(_NOT_LITERAL, "any")``."""
    if text.startswith("c(") and text.endswith(")"):
        items = _split_args(text[2:-1])
        if items is None:
            return _NOT_LITERAL, "any"
        values = [_scalar(item) for item in items]
        if any(v is _NOT_LITERAL for v, _ in values):
            return _NOT_LITERAL, "any"
        return [v for v, _ in values], "list"
    return _scalar(text)


def _scalar(text: str) -> tuple[Any, str]:
    text = text.strip()
    if text in ("TRUE", "FALSE"):
        return text == "TRUE", "bool"
    if text == "NULL":
        return None, "any"
    if _NUMBER.fullmatch(text):
        if text.endswith("L"):
            digits = text[:-1]
            return (int(digits), "int") if re.fullmatch(r"[+-]?\d+", digits) else (_NOT_LITERAL, "any")
        value = float(text)
        return (value, "float") if math.isfinite(value) else (_NOT_LITERAL, "any")
    if len(text) >= 2 and text[0] in "\"'" and text[-1] == text[0]:
        value, end = _string(text, 0)
        return (value, "str") if end == len(text) and value is not None else (_NOT_LITERAL, "any")
    return _NOT_LITERAL, "any"


def _string(text: str, i: int) -> tuple[str | None, int]:
    """The R string starting at ``text[i]`` (a quote) and the index after it; None when it is not plain."""
    quote, out, i = text[i], [], i + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\":
            escape = text[i + 1:i + 2]
            if escape in _R_ESCAPES and escape != "0":
                out.append(_R_ESCAPES[escape])
                i += 2
                continue
            hexa = re.match(r"u\{([0-9a-fA-F]{1,4})\}|u([0-9a-fA-F]{1,4})|U\{([0-9a-fA-F]{1,8})\}|U([0-9a-fA-F]{1,8})",
                            text[i + 1:])
            if hexa:
                code = int(next(g for g in hexa.groups() if g), 16)
                if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                    return None, i
                out.append(chr(code))
                i += 1 + hexa.end()
                continue
            return None, i  # \x (a byte), octal and the rest: not inferred
        out.append(char)
        i += 1
    return None, i


def _skip_string(text: str, i: int) -> int:
    """The index just after the quoted string (or backquoted name) starting at ``text[i]``."""
    quote, i = text[i], i + 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" else 1
    return min(i + 1, len(text))


def _split_args(text: str) -> list[str] | None:
    """``'1, "a,b", 3'`` -> ``['1', '"a,b"', '3']`` (quotes respected); None if it has brackets."""
    items, start, i = [], 0, 0
    if not text.strip():
        return []
    while i < len(text):
        char = text[i]
        if char in "\"'`":
            i = _skip_string(text, i)
            continue
        if char in "()[]{}":
            return None
        if char == ",":
            items.append(text[start:i])
            start = i + 1
        i += 1
    items.append(text[start:])
    return [item.strip() for item in items]


def _statements(source: str) -> list[tuple[int, str, str]]:
    """``(first line, code, comment)`` per top-level statement: newlines inside brackets or strings join lines."""
    out: list[tuple[int, str, str]] = []
    code: list[str] = []
    comment, depth, line, first = "", 0, 1, 1
    i = 0
    while i <= len(source):
        char = source[i] if i < len(source) else "\n"
        if char in "\"'`":
            end = _skip_string(source, i)
            chunk = source[i:end]
            if chunk.count("\n"):
                line += chunk.count("\n")
            code.append(chunk)
            i = end
            continue
        if char == "#":
            end = source.find("\n", i)
            end = len(source) if end < 0 else end
            comment = source[i + 1:end].strip()
            i = end
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        if char == "\n" and depth == 0:
            text = "".join(code).strip()
            out.append((first, text, comment))
            code, comment, first = [], "", line + 1
        elif char == ";" and depth == 0:
            code.append("\0")  # two statements on a line: not a simple assignment
        elif char == "\n":
            code.append(" ")
        else:
            code.append(char)
        if char == "\n":
            line += 1
        i += 1
    return out


__all__ = ["infer_r"]
