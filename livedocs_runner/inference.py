"""Inference of a notebook's parameters from its ``parameters`` cell: parsed with :mod:`ast`, never executed.

Names, defaults, types (from the value, an annotation or a ``# type:`` comment) and help text (the
line's comment) become one :class:`~livedocs_runner.params.ParamSpec` per assignment.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import Any

from .params import MAX_DEPTH, ParamSpec, check_plain

_ANNOTATION_TYPES = {
    "int": "int", "float": "float", "str": "str", "bool": "bool", "list": "list",
    "dict": "dict", "List": "list", "Dict": "dict", "Path": "path", "date": "date",
    "datetime": "datetime", "Any": "any", "None": "any",
}
_MISSING = object()

def infer(source: str) -> list[ParamSpec]:
    """Parse a ``parameters`` cell with :mod:`ast` and return one ParamSpec per assignment.

    Raises SyntaxError (with ``lineno``) when the cell is not valid Python.
    """
    tree = ast.parse(source)
    comments = _comments_by_line(source)
    specs: dict[str, ParamSpec] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, annotation, value = node.targets[0].id, None, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target, annotation, value = node.target.id, node.annotation, node.value
        else:
            continue
        comment = comments.get(node.end_lineno or node.lineno, "") or comments.get(node.lineno, "")
        spec = _spec_from(target, annotation, value, comment, node.lineno)
        specs[target] = spec  # a later assignment wins, as it would at run time
    return list(specs.values())


def _spec_from(name: str, annotation: ast.expr | None, value: ast.expr | None, comment: str,
               line: int) -> ParamSpec:
    help_text, type_comment = _split_type_comment(comment)
    default, literal = _MISSING, True
    if value is not None:
        try:
            default = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            literal = False
    ptype = (_annotation_type(annotation) if annotation is not None else None) or type_comment
    if ptype is None:
        ptype = _value_type(default) if literal and default is not _MISSING else "any"
    if literal and default is not _MISSING:
        try:  # only plain data is a default livedocs can show, record and inject
            default = check_plain(_tuples_as_lists(default))
            if ptype == "float" and isinstance(default, int) and not isinstance(default, bool):
                default = float(default)
        except (ValueError, OverflowError):  # a set, bytes, 1e999, a 5,000-digit int: the notebook's own value runs
            literal = False
    if default is _MISSING or not literal:
        default = None
    return ParamSpec(name=name, type=ptype, default=default, help=help_text, line=line, literal=literal)


def _tuples_as_lists(value: Any, depth: int = 0) -> Any:
    if isinstance(value, tuple | list) and depth <= MAX_DEPTH:
        return [_tuples_as_lists(v, depth + 1) for v in value]
    if isinstance(value, dict) and depth <= MAX_DEPTH:
        return {k: _tuples_as_lists(v, depth + 1) for k, v in value.items()}
    return value


def _split_type_comment(comment: str) -> tuple[str, str | None]:
    """``"type: float # help"`` -> ``("help", "float")``; in linear time (no backtracking regex: a
    comment is notebook text, and a 20,000-space comment took 14 s with one)."""
    if not comment.startswith("type:"):
        return comment, None
    annotation, _, help_text = comment[len("type:"):].partition("#")
    annotation = annotation.strip()
    if not re.fullmatch(r"[A-Za-z_][\w.\[\], ]*", annotation):
        return comment, None
    base = annotation.split("[")[0].strip().split(".")[-1]
    return help_text.strip(), _ANNOTATION_TYPES.get(base)


def _annotation_type(node: ast.expr) -> str | None:
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return _ANNOTATION_TYPES.get(node.attr)
    if isinstance(node, ast.Name):
        return _ANNOTATION_TYPES.get(node.id)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _ANNOTATION_TYPES.get(node.value)
    return None


def _value_type(value: Any) -> str:
    for kind, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"),
                       (list, "list"), (tuple, "list"), (dict, "dict")):
        if isinstance(value, kind):
            return name
    return "any"


def _comments_by_line(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return comments


__all__ = ["infer"]
