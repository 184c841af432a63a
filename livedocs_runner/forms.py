"""A UI-free description of a notebook's web form, built from its schema.

The app (``apps/``) draws widgets from a :class:`Form`; nothing here knows about Streamlit.
Values go back through :func:`form_values_to_params`, which turns each widget value into the
text the CLI would receive for ``-p name=VALUE`` and resolves it with :meth:`Schema.resolve`,
so the form refuses exactly what the CLI refuses, with exactly the CLI's messages.

    form = build_form(config.schema)
    params = form_values_to_params(config, {"threshold": 0.4})
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, ParameterError
from .labels import example_for, label_from_pattern
from .params import ParamSpec
from .patterns import matches
from .scenarios import Config
from .schema import Schema, Source

WIDGETS = ("number", "slider", "toggle", "select", "multiselect", "date", "text", "lines", "pairs", "json", "file",
           "fixed")
MAX_FILES = 500  # a `within:` folder bigger than this is listed up to here
MAX_ENTRIES = 20_000  # directory entries looked at while listing one `within:` folder


@dataclass(frozen=True, kw_only=True)
class Field:
    """One input of the form: which widget to draw, its bounds/choices and its default.

    ``default`` and ``choices`` are typed parameter values (paths absolute, dates ISO strings);
    :meth:`to_widget` / :meth:`from_widget` translate between those and what a widget holds.
    """

    name: str
    label: str
    help: str
    widget: str
    type: str
    default: Any = None
    min: Any = None
    max: Any = None
    step: int | float | None = None
    choices: tuple[Any, ...] = ()
    choice_labels: tuple[str, ...] = ()  # what to show for each choice (a config's labels, file names)
    choice_keys: tuple[str, ...] = ()  # what a shared link carries for each choice (a file's relative path)
    required: bool = False
    max_items: int | None = None  # a multiselect offers no more than this many picks
    item_type: str = "str"  # the type of each item of a ``lines`` list / each value of ``pairs``

    def label_of(self, choice: Any) -> str:
        """The text shown for one of :attr:`choices`."""
        if self.choice_labels and choice in self.choices:
            return self.choice_labels[self.choices.index(choice)]
        return choice if isinstance(choice, str) else json.dumps(choice)

    def key_of(self, choice: Any) -> str:
        """The text a shared link carries for one of :attr:`choices`."""
        if self.choice_keys and choice in self.choices:
            return self.choice_keys[self.choices.index(choice)]
        return choice if isinstance(choice, str) else json.dumps(choice)

    def to_widget(self, value: Any) -> Any:
        """A typed parameter value as the widget holds it (date objects, lines of text, ...)."""
        if self.widget == "date":
            return dt.date.fromisoformat(value) if isinstance(value, str) else value
        if self.widget == "lines":
            return "\n".join(_item_text(v) for v in value or [])
        if self.widget == "pairs":
            return "\n".join(f"{k}: {_item_text(v)}" for k, v in (value or {}).items())
        if self.widget == "json":
            return json.dumps(value, ensure_ascii=False)
        if self.widget == "multiselect":
            return [v for v in (value or []) if v in self.choices]
        if self.widget in ("text", "fixed"):
            return "" if value is None else str(value)
        return value

    def from_widget(self, value: Any) -> Any:
        """A widget's value as the text ``-p name=TEXT`` would carry, or a typed value.

        Numbers, dates and booleans become their canonical text so the schema converts them
        exactly as it converts CLI input; float noise from slider steps is rounded away.
        """
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            if self.step and math.isfinite(value):
                value = round(value, _decimals(self.step) + 6)
            return repr(value)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, tuple):
            value = list(value)
        if self.widget == "json" and self.type == "any" and isinstance(value, str):
            return self._json(value)
        if self.widget in ("lines", "pairs") and isinstance(value, str):
            return self._lines(value)
        if self.widget in ("file", "select") and isinstance(value, str) and value not in self.choices:
            for names in (self.choice_keys, self.choice_labels):  # a shared link's file name or label
                if value in names:
                    return self.choices[names.index(value)]
        if self.widget == "multiselect" and isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()] if not value.lstrip().startswith("[") else value
        return value

    def to_text(self, value: Any) -> str:
        """A typed parameter value as the text a shared link carries (what :meth:`from_widget` reads)."""
        if self.widget in ("file", "select") and self.choice_keys:
            return self.key_of(value)
        if self.widget in ("lines", "pairs"):
            return self.to_widget(value)
        if self.widget == "json" or isinstance(value, list | dict) or value is None:
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def link_text(self, widget_value: Any) -> str:
        """What a shared link carries for the value a widget shows (read back by :meth:`from_widget`).

        Never fails: a value the form refuses is carried as typed, so the link shows what the screen shows.
        """
        if self.widget in ("file", "select"):
            return self.key_of(widget_value)
        if self.widget == "multiselect":
            return json.dumps(list(widget_value or []), ensure_ascii=False)
        if self.widget in ("text", "lines", "pairs", "json", "fixed"):
            return "" if widget_value is None else str(widget_value)
        return str(self.from_widget(widget_value))

    def _json(self, text: str) -> Any:
        """The value typed into the editor of an ``any`` parameter: a number, quoted text, a list ..."""
        if not text.strip():
            return None
        try:
            return json.loads(text, parse_constant=_no_constant)  # strict JSON: no NaN or Infinity
        except (ValueError, RecursionError):
            raise ParameterError(f"parameter '{self.name}' expects {ANY_WORDS}, got {_quote(text)}.",
                                 hint='Put text in "double quotes".') from None

    def _lines(self, text: str) -> Any:
        """The text of a ``lines`` (one item per line) or ``pairs`` (``name: value`` per line) box.

        A value written as a whole list/dict (``["a", "b"]``, a link made by an older version) is
        passed on as that text, for the schema to read.
        """
        if text.lstrip().startswith("[" if self.widget == "lines" else "{"):
            return text
        rows = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if self.widget == "lines":
            return [self._item(n, line) for n, line in rows]
        out: dict[str, Any] = {}
        for n, line in rows:
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise ParameterError(f"{self.label}: line {n} ({_quote(line)}) is not written as name: value.",
                                     hint=f"Write one entry per line, e.g. {_quote('north: 0.2')}.")
            out[name.strip()] = self._item(n, value.strip())
        return out

    def _item(self, line: int, text: str) -> Any:
        if self.item_type == "int":
            try:
                return int(text)
            except ValueError:
                raise ParameterError(f"{self.label}: line {line} ({_quote(text)}) is not a whole number.") from None
        if self.item_type == "float":
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise ParameterError(f"{self.label}: line {line} ({_quote(text)}) is not a number.")
            return int(text) if re.fullmatch(r"[-+]?\d+", text) else number
        return text


@dataclass(frozen=True)
class Form:
    """The fields of one notebook's form, in the order of its ``parameters`` cell."""

    notebook: Path
    fields: tuple[Field, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for item in self.fields:
            if item.name == name:
                return item
        raise KeyError(name)


def build_form(schema: Schema) -> Form:
    """The form for ``schema``: one field per parameter, defaults resolved like a run's."""
    try:
        defaults = schema.resolve()
    except Exception:  # noqa: BLE001 - a bad default is reported when the form is submitted
        defaults = schema.defaults()
    return Form(schema.notebook, tuple(field_for(spec, defaults.get(spec.name, spec.default)) for spec in schema.params))


def field_for(spec: ParamSpec, default: Any = None) -> Field:
    """The widget for one parameter (see :data:`WIDGETS`)."""
    common = {"name": spec.name, "label": spec.title, "help": _help(spec), "type": spec.type,
              "default": default, "required": spec.required}
    if spec.type == "path":
        if spec.choices:
            files = list(spec.choices)
            folder = os.path.commonpath([os.path.dirname(f) for f in files])
        elif spec.within:
            files = _matching(list_files(Path(spec.within)), spec.pattern)
            if isinstance(default, str) and default not in files and _inside(Path(default), Path(spec.within)):
                files.append(default)
            folder = os.path.realpath(spec.within)  # the listed files are resolved paths too
        else:
            return Field(widget="fixed", **common)  # a server path is never typed in by a web user
        keys = tuple(_relative(f, folder) for f in files)
        return Field(widget="file", choices=tuple(files), choice_keys=keys,
                     choice_labels=_file_labels(spec, files, keys), **common)
    if spec.choices:
        widget = "multiselect" if spec.type == "list" else "select"
        labels = spec.choice_labels or ()
        keys = tuple(c if isinstance(c, str) else json.dumps(c) for c in spec.choices) if labels else ()
        return Field(widget=widget, choices=tuple(spec.choices), choice_labels=labels, choice_keys=keys,
                     max_items=spec.max_items, **common)
    if spec.type in ("int", "float"):
        bounded = spec.min is not None and spec.max is not None
        return Field(widget="slider" if bounded else "number", min=spec.min, max=spec.max,
                     step=_step(spec), **common)
    if spec.type == "bool":
        return Field(widget="toggle", **common)
    if spec.type == "date":
        return Field(widget="date", min=spec.min, max=spec.max, **common)
    if spec.type in ("list", "dict"):
        item_type = _item_type(spec.type, default)
        if item_type:
            widget = "lines" if spec.type == "list" else "pairs"
            return Field(widget=widget, item_type=item_type, **{**common, "help": _help(spec, widget)})
    if spec.type in ("list", "dict", "any"):
        return Field(widget="json", **{**common, "help": _help(spec, "json")})
    return Field(widget="text", **common)  # str, datetime (ISO text)


def _item_type(kind: str, default: Any) -> str | None:
    """The one plain type of a list's items / a dict's values, when each fits on a line; else None."""
    items = list(default.values() if isinstance(default, dict) else default or [])
    if isinstance(default, dict) and any(not k.strip() or ":" in k or k != k.strip() or not k.isprintable() for k in default):
        return None
    if default is not None and not isinstance(default, list | dict):
        return None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in items) and items:
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in items) and items:
        return "float"
    if all(isinstance(v, str) and v.strip() == v and v and v.isprintable() for v in items):
        if kind == "list" and any(v.startswith("[") for v in items[:1]):
            return None
        return "str"
    return None


def _file_labels(spec: ParamSpec, files: list[str], keys: tuple[str, ...]) -> tuple[str, ...]:
    """What each file is called in the picker: the config's label for it (``choices``, ``file_labels``,
    ``file_label`` template), else its path inside the folder. Labels that repeat get the path added."""
    given = dict(spec.file_labels or ())
    if spec.choices and spec.choice_labels:
        given.update(zip(spec.choices, spec.choice_labels))
    labels = []
    for path, key in zip(files, keys):
        label = given.get(path)
        if label is None and spec.file_label and spec.pattern:
            try:
                label = label_from_pattern(spec.pattern, spec.file_label, path)
            except ValueError:
                label = None
        labels.append(label or key)
    counts = Counter(labels)
    return tuple(f"{label} ({key})" if counts[label] > 1 and label != key else label for label, key in zip(labels, keys))


def _matching(files: list[str], pattern: str | None) -> list[str]:
    """The files whose path matches ``pattern`` (matched with the time limit ``-p`` values have).

    A pattern that runs out of time on one file ends the listing there: a slow pattern must not
    hold up the page once per file. The run itself still checks the value it gets.
    """
    if not pattern:
        return files
    kept = []
    for path in files:
        try:
            if matches(pattern, path):
                kept.append(path)
        except ValueError:
            break
    return kept


def list_files(folder: Path) -> list[str]:
    """Absolute paths of the visible, readable files below ``folder``, sorted, at most :data:`MAX_FILES`.

    Symbolic links are listed only when their target is a file inside ``folder`` (as the target's
    path); linked folders are not entered; hidden files and folders are skipped. At most
    :data:`MAX_ENTRIES` directory entries are looked at, so a huge folder costs a bounded time.
    """
    try:
        root = folder.resolve(strict=True)
    except (OSError, RuntimeError):
        return []
    if not root.is_dir():
        return []
    found: set[str] = set()
    seen = 0
    for current, dirs, files in os.walk(root, onerror=None, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            seen += 1
            if seen > MAX_ENTRIES or len(found) >= MAX_FILES:
                return sorted(found)
            if name.startswith("."):
                continue
            target = _readable_file_inside(Path(current, name), root)
            if target is not None:
                found.add(str(target))
        seen += len(dirs)
    return sorted(found)


def _readable_file_inside(path: Path, root: Path) -> Path | None:
    """``path`` resolved, when that is a readable regular file inside ``root``; else None."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link, a loop
        return None
    if not target.is_relative_to(root) or not target.is_file() or not os.access(target, os.R_OK):
        return None
    return target


def _inside(path: Path, folder: Path) -> bool:
    try:
        return _readable_file_inside(path, folder.resolve(strict=True)) is not None
    except (OSError, RuntimeError):
        return False


def form_values_to_params(config: Config, values: Mapping[str, Any], *,
                          base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Typed parameters for a run from form (or shared-link) values, validated like ``-p``.

    ``base`` (e.g. a scenario's values) is applied first; ``values`` on top. Raises
    :class:`ParameterError` with the CLI's message for the first bad or unknown value. A
    ``fixed`` field (a ``path`` without ``within:``) takes its value from ``base`` or the
    notebook: a web user never chooses a server path, so a value for it is refused.
    """
    form = build_form(config.schema)
    texts = {}
    for name, value in values.items():
        if name in form.names and form.field(name).widget == "fixed":
            raise ParameterError(f"parameter '{name}' cannot be set from the web form: the config fixes it.",
                                 hint=f"Pick a scenario that sets it, or give it a `within:` folder in {config.path}.")
        texts[name] = form.field(name).from_widget(value) if name in form.names else value
    cli_source = Source(name=None, base=Path.cwd())
    layers = [(dict(base), Source(name=None, base=config.notebook.path.parent))] if base else []
    return plain_schema(config.schema).resolve(*layers, (texts, cli_source))


def plain_schema(schema: Schema) -> Schema:
    """``schema`` as the web form checks it: a ``pattern`` is described by an example value, never as
    the regular expression (the config's ``example:``, else one made from the pattern, else neither)."""
    specs = tuple(replace(p, example=_example(p)) if p.pattern and p.example is None else p for p in schema.params)
    return replace(schema, params=specs)


def _example(spec: ParamSpec) -> str:
    """A value ``spec.pattern`` accepts, to show instead of the pattern: for a file, its default's name."""
    if spec.type == "path" and isinstance(spec.default, str) and spec.pattern:
        try:
            if matches(spec.pattern, spec.default) or matches(spec.pattern, os.path.abspath(spec.default)):
                return Path(spec.default).name
        except ValueError:
            pass
    made = example_for(spec.pattern or "") or ""
    return Path(made).name if spec.type == "path" else made


def scenario_params(config: Config, name: str) -> dict[str, Any]:
    """The typed parameters of one of ``config``'s scenarios (to pre-fill the form)."""
    for scenario in config.scenarios:
        if scenario.name == name:
            return config.schema.resolve((scenario.values, scenario.source))
    config.select([name])  # raises ConfigError naming the known scenarios
    raise ConfigError(f"{name!r} is a sweep, not a single scenario.", hint="Pick one of its points.")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _quote(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


ANY_WORDS = 'a number, "text in double quotes", true, false, null, a list like [1, 2] or a dict like {"a": 1}'


def _help(spec: ParamSpec, widget: str = "") -> str:
    """The help under an input: the config's or the comment's words, then how to fill it in, in plain words."""
    extra = ""
    if spec.pattern and spec.type != "path":
        example = spec.example or _example(spec)
        extra += f" Use a value like {example}." if example else ""
    if spec.type == "datetime":
        extra += " Write a date and time like 2025-01-31T09:00."
    if widget == "lines":
        extra += " One item per line."
    elif widget == "pairs":
        extra += " One entry per line, written as name: value."
    elif widget == "json" and spec.type == "list":
        extra += " Write a list like [1, 2] or [\"north\", \"south\"], with text in double quotes."
    elif widget == "json" and spec.type == "dict":
        extra += ' Write it like {"north": 1, "south": 2}, with text in double quotes.'
    elif widget == "json":
        extra += f" Write {ANY_WORDS}."
    if spec.min_items:
        extra += " Choose at least one." if spec.min_items == 1 else f" Choose at least {spec.min_items}."
    if spec.max_items is not None:
        extra += f" Choose at most {spec.max_items}."
    words = spec.help.strip()
    if words and extra and words[-1] not in ".!?:;)":
        words += "."  # "regions to include" + " Choose at least one."
    return (words + extra).strip()


def _item_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _step(spec: ParamSpec) -> int | float:
    if spec.type == "int":
        return 1
    if spec.min is not None and spec.max is not None and spec.max > spec.min:
        return 10.0 ** math.floor(math.log10((spec.max - spec.min) / 100))
    return 0.01


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step))) if step > 0 else 6


def _relative(path: str, folder: str) -> str:
    try:
        return str(Path(path).relative_to(folder))
    except ValueError:
        return Path(path).name


__all__ = ["WIDGETS", "Field", "Form", "build_form", "field_for", "form_values_to_params", "list_files",
           "plain_schema", "scenario_params"]
