"""``pattern:`` refinements: checked once when a config loads (size, compiles), matched with a time limit.

A pattern comes from a config and the text from a web form, so neither may make the server work without
bound: the ``regex`` engine's timeout stops catastrophic backtracking, and counted repeats are measured
before compiling (the engine unrolls them).
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_PATTERN_CHARS = 1000
MAX_PATTERN_SIZE = 100_000  # counted repeats unrolled (the regex engine expands them when compiling)
PATTERN_TIMEOUT_S = 0.25  # a ``pattern:`` match that takes longer is refused (catastrophic backtracking)


def matches(pattern: str, text: str) -> bool:
    """``pattern`` matches all of ``text``, decided within :data:`PATTERN_TIMEOUT_S` or ValueError.

    Uses the ``regex`` engine for its time limit: a pattern like ``(a|aa)+$`` backtracks
    exponentially, and a value typed into a web form must not hang the server.
    """
    try:
        import regex  # ~10 ms: only when a pattern is matched

        return regex.fullmatch(pattern, text, timeout=PATTERN_TIMEOUT_S) is not None
    except TimeoutError:
        raise ValueError(f"Matching the pattern took longer than {PATTERN_TIMEOUT_S} s; "
                         "simplify the pattern (avoid nested repetition like '(a+)+').") from None


def check_pattern(pattern: Any) -> str:
    """A ``pattern:`` refinement: a string of at most :data:`MAX_PATTERN_CHARS` that compiles; else ValueError."""
    from .params import _text  # at call time: params imports this module

    if not isinstance(pattern, str):
        raise ValueError("is not text (quote it in YAML).")
    _text(pattern)
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"is {len(pattern)} characters long; the limit is {MAX_PATTERN_CHARS}.")
    size = _unrolled_size(pattern)
    if size > MAX_PATTERN_SIZE:
        raise ValueError(f"repeats too much: its counted repeats unroll to about {size} steps "
                         f"(the limit is {MAX_PATTERN_SIZE}). Use smaller counts like {{1,50}}.")
    import regex

    try:
        regex.compile(pattern)
    except (regex.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"is not a valid regular expression ({exc}).") from None
    return pattern


def _unrolled_size(pattern: str) -> int:
    """About how many steps compiling ``pattern`` unrolls to: counted repeats multiply when nested.

    The ``regex`` engine unrolls ``{m,n}`` when compiling, so ``((a{1000}){1000}){1000}`` would
    compile for hours. Measured with the standard library's parser (which does not unroll); a
    pattern it cannot parse (``regex``-only syntax) is measured by its repeat counts all nested.
    """
    from re import _parser as sre  # noqa: PLC0415 - the stdlib's own pattern parser; private but stable

    def size(items: Any) -> int:
        total = 0
        for op, av in items:
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)):
                low, high, sub = av
                total += max(low, 1 if high == sre.MAXREPEAT else high) * size(sub)
            elif op is sre.SUBPATTERN:
                total += size(av[-1])
            elif op is sre.BRANCH:
                total += sum(size(branch) for branch in av[1])
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                total += size(av[1])
            elif op is getattr(sre, "ATOMIC_GROUP", None):
                total += size(av)
            elif op is sre.GROUPREF_EXISTS:
                total += size(av[1]) + (size(av[2]) if av[2] else 0)
            else:
                total += 1
            if total > MAX_PATTERN_SIZE:
                return total
        return total

    try:
        return size(sre.parse(pattern))
    except (re.error, RecursionError, OverflowError, TypeError, ValueError):
        counts = [int(high or low) for low, high in re.findall(r"\{(\d{1,9})(?:,(\d{0,9}))?\}", pattern)]
        return math.prod(max(c, 1) for c in counts) if counts else len(pattern)


__all__ = ["MAX_PATTERN_CHARS", "MAX_PATTERN_SIZE", "PATTERN_TIMEOUT_S", "check_pattern", "matches"]
