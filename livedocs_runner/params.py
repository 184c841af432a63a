"""The typed parameter schema: ParamSpec, inference from a ``parameters`` cell, conversion.

One schema drives the CLI (``-p name=value``), scenario files and the web form alike: the
notebook's ``parameters`` cell gives names, defaults and help (parsed with :mod:`ast`, never
executed); a config refines types and bounds; :meth:`ParamSpec.convert` turns any incoming
value (a string from the command line, a YAML scalar, a form value) into the typed value or
fails with a message like ``'high' is not a valid float.``
"""

from __future__ import annotations

import datetime as dt
import json
import keyword
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from .errors import ParameterError
from .patterns import matches

TYPES = ("int", "float", "str", "bool", "date", "datetime", "list", "dict", "path", "any")
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}

# Limits on what one value may make us compute (issue 7): each is documented in the README.
MAX_DEPTH = 32  # nesting of lists/dicts in a value
MAX_INT_DIGITS = 4300  # Python's own int <-> str limit: larger ints cannot even be printed
_INT_LIMIT = 10 ** MAX_INT_DIGITS
SHOW_CHARS = 80  # values quoted in messages are cut to this many characters
MAX_CHOICES_SHOWN = 10


@dataclass(frozen=True, kw_only=True)
class ParamSpec:
    """One notebook parameter: its type, default and the constraints a value must meet.

    Usage: ``ParamSpec(name="threshold", type="float", default=0.5, min=0, max=1).convert("0.4")``
    """

    name: str
    type: str = "any"
    default: Any = None
    help: str = ""
    label: str = ""
    min: Any = None
    max: Any = None
    choices: tuple[Any, ...] | None = None
    pattern: str | None = None
    required: bool = False
    within: str | None = None  # absolute folder a ``path`` value must lie in
    line: int | None = None  # line in the parameters cell (1-based)
    literal: bool = True  # False when the default is an expression we did not evaluate
    snapshot: bool = True  # a ``path`` input's bytes are kept in the home for exact reruns (config ``snapshot: false``)
    inferred_path: bool = False  # a bare notebook's ``str`` whose default names a file next to it: taken as a path
    choice_labels: tuple[str, ...] | None = None  # what people see for each of ``choices`` (config ``choices: {v: label}``)
    example: str | None = None  # a valid value shown instead of ``pattern`` (config ``example:``)
    min_items: int | None = None  # a ``list`` holds at least this many items
    max_items: int | None = None  # ... and at most this many
    file_label: str | None = None  # a ``path`` file's label from the pattern's named groups, e.g. "{year} Q{quarter}"
    file_labels: tuple[tuple[str, str], ...] | None = None  # (absolute path, label) of files named one by one

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def describe(self) -> str:
        """``'a float between 0 and 1'``: the type and constraints in words, for messages."""
        article = "an" if self.type[0] in "aeiou" else "a"
        text = f"{article} {self.type}"
        low, high = _bound(self.min), _bound(self.max)
        if self.min is not None and self.max is not None:
            text += f" between {low} and {high}"
        elif self.min is not None:
            text += f" of at least {low}"
        elif self.max is not None:
            text += f" of at most {high}"
        if self.min_items is not None or self.max_items is not None:
            text += " of " + _count_words(self.min_items, self.max_items)
        if self.choices:
            shown = [self._choice_text(i) for i in range(min(len(self.choices), MAX_CHOICES_SHOWN))]
            more = len(self.choices) - len(shown)
            text += " from " + ", ".join(shown) + (f" (and {more} more)" if more else "")
        if self.pattern:
            text += self._pattern_words()
        if self.within:
            text += f" inside {self.within}"
        return text

    def _choice_text(self, index: int) -> str:
        """One choice in a message: its label (for a file, only that), else the quoted value."""
        value = self.choices[index] if self.choices else None
        label = self.choice_labels[index] if self.choice_labels else None
        if label is None:
            return quote(value)
        return quote(label) if self.type == "path" or label == value else f"{quote(label)} ({quote(value)})"

    def _pattern_words(self) -> str:
        """The pattern in words: the config's ``example:`` when it has one, else the regular expression.

        An ``example`` of ``""`` (set by the web form when it cannot make one) says neither.
        """
        if self.example is None:
            return f" matching {quote(self.pattern)}"
        if not self.example:
            return " in the format its help describes"
        if self.type == "path":
            return f" named like {quote(Path(self.example).name or self.example)}"
        return f" like {quote(self.example)}"

    def count_problem(self, value: Any) -> str | None:
        """Why a list has too few or too many items (``min_items``/``max_items``), in plain words; else None."""
        if not isinstance(value, list):
            return None
        count = len(value)
        if self.min_items is not None and count < self.min_items:
            need = "at least one item" if self.min_items == 1 else f"at least {self.min_items} items"
        elif self.max_items is not None and count > self.max_items:
            need = "at most one item" if self.max_items == 1 else f"at most {self.max_items} items"
        else:
            return None
        got = "none" if count == 0 else f"{count}"
        return f"{self.title} (parameter '{self.name}'): choose {need}; got {got}."

    def convert(self, value: Any, *, base: Path | None = None) -> Any:
        """Return ``value`` as this parameter's type, or raise :class:`ParameterError`.

        Strings are parsed by the declared type (never guessed, never evaluated); ``base`` is
        the folder a relative ``path`` value is taken from (default: the working directory).
        """
        try:
            typed = _CONVERTERS[self.type](value, base)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ParameterError(f"parameter '{self.name}' expects {self.describe()}, got {quote(value)}.",
                                 hint=str(exc) or None) from None
        try:
            problem = self._violation(typed)
        except TypeError:  # e.g. an ``any`` value compared with a numeric ``min``
            problem = "."
        except ValueError as exc:  # a pattern that took too long, a path with a NUL byte
            raise ParameterError(f"parameter '{self.name}' expects {self.describe()}, got {quote(value)}.",
                                 hint=str(exc) or None) from None
        except OSError as exc:  # a path the system refuses to look at (name too long, ...)
            problem = f" (cannot check it: {exc.strerror or type(exc).__name__})."
        if problem:
            raise ParameterError(f"parameter '{self.name}' expects {self.describe()}, got {quote(value)}{problem}")
        count = self.count_problem(typed)
        if count:
            raise ParameterError(count)
        return typed

    def _violation(self, value: Any) -> str:
        if value is None:
            return ""
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            return "."
        if self.choices:
            items = value if self.type == "list" else [value]
            bad = [v for v in items if v not in self.choices]
            if bad:
                return f" ({quote(bad[0])} is not one of the choices)."
        if self.pattern and not matches(self.pattern, str(value)):
            return "."
        if self.type == "path" and self.within:
            try:
                resolved = Path(value).resolve()  # follow symlinks both ways: no escape, no false alarm
            except RuntimeError:  # Python 3.11 raises it for a symlink loop
                return " (a symbolic link that loops)."
            if not resolved.is_relative_to(Path(self.within).resolve()):
                return f" (outside {self.within}). Pick a file inside that folder."
            if not resolved.exists():
                return " (no such file)."
        elif self.type == "path" and not Path(value).exists():
            return " (no such file)."
        return ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description (used by ``livedocs inspect --json`` and the form)."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "default": to_jsonable(self.default),
                               "help": self.help, "label": self.title}
        for key in ("min", "max", "pattern", "within"):
            if getattr(self, key) is not None:
                out[key] = to_jsonable(getattr(self, key))
        if self.choices is not None:
            out["choices"] = [to_jsonable(c) for c in self.choices]
        if self.choice_labels is not None:
            out["choice_labels"] = list(self.choice_labels)
        for key in ("example", "min_items", "max_items", "file_label"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.file_labels is not None:
            out["file_labels"] = dict(self.file_labels)
        out["required"] = self.required
        if not self.snapshot:
            out["snapshot"] = False
        if self.inferred_path:
            out["inferred_path"] = True
        return out


def _count_words(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{low} item" if low == high == 1 else f"{low} items" if low == high else f"{low} to {high} items"
    if low is not None:
        return "at least one item" if low == 1 else f"at least {low} items"
    return "at most one item" if high == 1 else f"at most {high} items"


def quote(value: Any) -> str:
    """Quote a value for an error message: ``'high'``, ``12``, ``[1, 2]``; never more than ~80 characters.

    Huge or deep values are never rendered in full (a 72 MB message helps nobody).
    """
    if isinstance(value, str):
        return f"'{_visible(shorten(value))}'"
    return _visible(shorten(_summary(value, SHOW_CHARS + 1)))


def _visible(text: str) -> str:
    """Newlines, controls and invisible format characters as escapes (``\\n``, ``\\x1b``): messages stay one line."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _bound(value: Any) -> str:
    return shorten(value) if isinstance(value, str) else quote(value)


def shorten(text: str, limit: int = SHOW_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _summary(value: Any, budget: int, depth: int = 0) -> str:
    """``str(value)`` for plain data, but built only up to about ``budget`` characters."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return str(value)
    if isinstance(value, int):
        if abs(value) >= _INT_LIMIT:
            return f"<an int of about {int(value.bit_length() * 0.30103)} digits>"
        return str(value)
    if isinstance(value, str):
        return repr(value[:budget])
    if isinstance(value, list | tuple | dict) and depth < MAX_DEPTH:
        items = value.items() if isinstance(value, dict) else value
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        parts: list[str] = []
        used = 1
        for item in items:
            if used > budget:
                parts.append("...")
                break
            if isinstance(value, dict):
                key, val = item
                part = f"{_summary(key, budget - used, depth + 1)}: {_summary(val, budget - used, depth + 1)}"
            else:
                part = _summary(item, budget - used, depth + 1)
            parts.append(part)
            used += len(part) + 2
        return opening + ", ".join(parts) + closing
    if isinstance(value, list | tuple | dict):
        return "[...]" if not isinstance(value, dict) else "{...}"
    return shorten(repr(value), budget)


# --- conversion -------------------------------------------------------------------------------

def _to_int(value: Any, base: Path | None) -> int:
    if isinstance(value, bool):
        raise ValueError("A bool is not an int.")
    if isinstance(value, int):
        return _check_int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        if len(value.strip().lstrip("+-")) > MAX_INT_DIGITS:
            raise ValueError(_TOO_LONG_INT)
        return int(value)
    raise ValueError()


_TOO_LONG_INT = f"Integers are limited to {MAX_INT_DIGITS} digits."


def _check_int(value: int) -> int:
    if abs(value) >= _INT_LIMIT:
        raise ValueError(_TOO_LONG_INT)
    return value


def _to_float(value: Any, base: Path | None) -> float:
    if isinstance(value, bool):
        raise ValueError("A bool is not a float.")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("Use a finite number.") from None
    elif isinstance(value, str):
        if len(value) > 1000:  # float() of a long digit string is slow, and no float needs it
            raise ValueError()
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError() from None
    else:
        raise ValueError()
    if not math.isfinite(number):
        raise ValueError("Use a finite number.")
    return number


def _text(value: str) -> str:
    """Refuse lone surrogates (a bad ``\\ud83c`` escape, undecodable bytes): they cannot be stored."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"It contains {value[exc.start:exc.end]!a}, which is not valid Unicode text.") from None
    return value


def _to_str(value: Any, base: Path | None) -> str:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(_check_int(value))
    if isinstance(value, float):
        return str(value)
    raise ValueError("Quote it in YAML to make it a string.")


def _to_bool(value: Any, base: Path | None) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("Use true or false.")


def _to_date(value: Any, base: Path | None) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError("Use YYYY-MM-DD.")


def _to_datetime(value: Any, base: Path | None) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError("Use YYYY-MM-DDTHH:MM:SS.")


def _parse_structured(value: Any, kind: type) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except RecursionError:
            raise ValueError(_TOO_DEEP) from None
        except ValueError as exc:  # a JSONDecodeError, or an int over the digit limit
            if "digits" in str(exc) and not isinstance(exc, json.JSONDecodeError):
                raise ValueError(_TOO_LONG_INT) from None
            example = 'a list like [1, 2] or ["north", "south"]' if kind is list else 'a dict like {"north": 1}'
            raise ValueError(f"Write {example} (text in double quotes).") from None
    if not isinstance(value, kind):
        raise ValueError()
    return check_plain(value)


def _to_list(value: Any, base: Path | None) -> list:
    if isinstance(value, tuple):
        value = list(value)
    return _parse_structured(value, list)


def _to_dict(value: Any, base: Path | None) -> dict:
    return _parse_structured(value, dict)


def _to_path(value: Any, base: Path | None) -> str:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ValueError("Give a file path.")
    try:
        path = Path(_text(str(value))).expanduser()
    except RuntimeError:  # '~name' for a user that does not exist
        raise ValueError("No such user for '~'.") from None
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return os.path.abspath(path)


def _to_any(value: Any, base: Path | None) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        value = list(value)
    return check_plain(value)


_TOO_DEEP = f"Lists and dicts may be nested at most {MAX_DEPTH} levels deep."


def check_plain(value: Any, _depth: int = 0) -> Any:
    """Accept only None/bool/int/finite float/str and lists/dicts of them (JSON-like data).

    Ints are limited to :data:`MAX_INT_DIGITS` digits, nesting to :data:`MAX_DEPTH` levels, text
    to valid Unicode; anything else raises ValueError saying why.
    """
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _check_int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("Use a finite number.")
        return value
    if isinstance(value, list | dict) and _depth >= MAX_DEPTH:
        raise ValueError(_TOO_DEEP)
    if isinstance(value, list):
        return [check_plain(v, _depth + 1) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("Dictionary keys must be strings.")
        return {_text(k): check_plain(v, _depth + 1) for k, v in value.items()}
    raise ValueError(f"A {type(value).__name__} is not allowed: use numbers, strings, booleans, lists and dicts.")


_CONVERTERS = {
    "int": _to_int, "float": _to_float, "str": _to_str, "bool": _to_bool, "date": _to_date,
    "datetime": _to_datetime, "list": _to_list, "dict": _to_dict, "path": _to_path, "any": _to_any,
}


def to_jsonable(value: Any) -> Any:
    """Dates to ISO strings, tuples to lists; everything else is already JSON-ready."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [to_jsonable(v) for v in value]
    return value


def check_name(name: Any) -> str:
    """A parameter name must be a Python identifier and not a keyword."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ParameterError(f"parameter name {quote(name)} is not a valid Python identifier. "
                             "Use letters, digits and underscores, not starting with a digit.")
    return name


__all__ = ["ParamSpec", "TYPES", "MAX_DEPTH", "MAX_INT_DIGITS", "check_name", "check_plain", "quote", "shorten",
           "to_jsonable"]
