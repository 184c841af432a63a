"""Words for values a person picks: label templates for files, examples for patterns.

A config can name files by what they hold instead of by path: ``file_label: "{year} Q{quarter}"``
with ``pattern: '.*/loans_(?P<year>\\d{4})Q(?P<quarter>\\d)\\.csv'``. The template is filled by
a small explicit substitution (``{name}`` for a named group of the pattern, ``{{``/``}}`` for
braces), never by ``str.format``: a config cannot reach attributes or items of anything.

A ``pattern:`` is shown to people as an example value, never as the regular expression: the
config's ``example:`` or, without one, the shortest value :func:`example_for` can build that the
pattern accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_TEMPLATE_CHARS = 200
MAX_LABEL_CHARS = 80  # a filled-in label (or a config's label) is cut to this many characters
MAX_EXAMPLE_CHARS = 60  # a generated example longer than this is not shown
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def template_fields(template: str) -> list[str]:
    """The ``{name}`` fields of ``template``, in order; ValueError for a malformed template."""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"is {len(template)} characters long; the limit is {MAX_TEMPLATE_CHARS}.")
    fields = []
    for match in _TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            raise ValueError(f"has a lone {token!r}; write {token * 2} for a brace.")
        if not name.isidentifier():
            raise ValueError(f"has the field {{{name}}}; a field is a group name of the pattern, like {{year}}.")
        fields.append(name)
    return fields


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with each ``{name}`` replaced by ``values[name]`` (missing: empty), cut to a label's length."""

    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        value = values.get(name) if name is not None else None
        return "" if value is None else str(value)

    text = " ".join(_TOKEN.sub(one, template).split())
    return text if len(text) <= MAX_LABEL_CHARS else text[:MAX_LABEL_CHARS - 3] + "..."


def group_names(pattern: str) -> list[str]:
    """The named groups of a (valid) pattern."""
    import regex

    return list(regex.compile(pattern).groupindex)


def label_from_pattern(pattern: str, template: str, text: str) -> str | None:
    """``template`` filled with the named groups of ``pattern`` matched against ``text`` (None: no match).

    Matched with the time limit parameter values have (ValueError when it runs out).
    """
    import regex

    from .patterns import PATTERN_TIMEOUT_S

    try:
        match = regex.fullmatch(pattern, text, timeout=PATTERN_TIMEOUT_S)
    except TimeoutError:
        raise ValueError("the pattern took too long") from None
    return None if match is None else fill(template, match.groupdict())


def example_for(pattern: str) -> str | None:
    """The shortest text ``pattern`` accepts that this small generator can build, or None.

    Handles literals, classes, ranges, ``\\d \\w \\s``, repeats (their minimum), groups and
    alternatives (the first); the result is checked with the pattern itself before it is offered.
    """
    from re import _parser as sre  # noqa: PLC0415 - the stdlib's pattern parser, as params.py uses it

    groups: dict[int, str] = {}

    def category(cat: Any) -> str:
        name = str(cat).upper()
        if "NOT" in name:
            return "-" if "WORD" in name or "DIGIT" in name else "a"
        return "0" if "DIGIT" in name else " " if "SPACE" in name else "a"

    def one_of(items: Any) -> str:
        negate = bool(items) and items[0][0] is sre.NEGATE
        if negate:
            banned = set()
            for op, av in items[1:]:
                if op is sre.LITERAL:
                    banned.add(chr(av))
                elif op is sre.RANGE:
                    banned.update(chr(c) for c in range(av[0], min(av[1], av[0] + 256) + 1))
            return next(c for c in "a0xZ_-." if c not in banned) if set("a0xZ_-.") - banned else "!"
        op, av = items[0]
        if op is sre.LITERAL:
            return chr(av)
        if op is sre.RANGE:
            return chr(av[0])
        if op is sre.CATEGORY:
            return category(av)
        raise ValueError(op)

    def build(items: Any, depth: int = 0) -> str:
        if depth > 50:
            raise ValueError("too deep")
        out = []
        for op, av in items:
            if op is sre.LITERAL:
                out.append(chr(av))
            elif op is sre.NOT_LITERAL:
                out.append("a" if chr(av) != "a" else "b")
            elif op is sre.ANY:
                out.append("a")
            elif op is sre.IN:
                out.append(one_of(av))
            elif op is sre.CATEGORY:
                out.append(category(av))
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)):
                low, _high, sub = av
                if low > MAX_EXAMPLE_CHARS:
                    raise ValueError("too long")
                out.append(build(sub, depth + 1) * low)
            elif op is sre.SUBPATTERN:
                text = build(av[-1], depth + 1)
                if av[0] is not None:
                    groups[av[0]] = text
                out.append(text)
            elif op is sre.BRANCH:
                out.append(build(av[1][0], depth + 1))
            elif op is sre.GROUPREF:
                out.append(groups.get(av, ""))
            elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
                continue
            elif op is getattr(sre, "ATOMIC_GROUP", None):
                out.append(build(av, depth + 1))
            else:
                raise ValueError(op)
            if sum(map(len, out)) > MAX_EXAMPLE_CHARS:
                raise ValueError("too long")
        return "".join(out)

    from .patterns import matches

    try:
        example = build(sre.parse(pattern))
        return example if example.isprintable() and matches(pattern, example) else None
    except (re.error, ValueError, TypeError, RecursionError, OverflowError, IndexError, StopIteration):
        return None


__all__ = ["MAX_LABEL_CHARS", "MAX_TEMPLATE_CHARS", "example_for", "fill", "group_names", "label_from_pattern",
           "template_fields"]
