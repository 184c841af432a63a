"""A notebook's full parameter schema: inferred specs plus config refinements.

``Schema.resolve`` turns values from any source (config scenario, ``-p`` override, web form)
into the complete typed parameter set a run receives, naming the source in every error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, LivedocsError, ParameterError, did_you_mean, located
from .notebook import Notebook
from .labels import MAX_LABEL_CHARS, group_names, template_fields
from .params import TYPES, ParamSpec, check_name, quote
from .patterns import check_pattern, matches

REFINEMENT_KEYS = ("type", "min", "max", "choices", "pattern", "label", "help", "required", "within", "default",
                   "snapshot", "example", "min_items", "max_items", "file_label", "file_labels")


@dataclass(frozen=True)
class Source:
    """Where a set of values came from, for error messages and relative paths."""

    name: str | None = None  # file shown in messages (None: the command line)
    base: Path | None = None  # folder relative paths are taken from
    lines: Mapping[str, int] | None = None  # parameter name -> line in ``name``

    def where(self, param: str | None = None) -> tuple[str | None, int | None]:
        line = self.lines.get(param) if (self.lines and param) else None
        return self.name, line


@dataclass(frozen=True)
class Schema:
    """The ordered parameters of one notebook, as the CLI, configs and the form see them."""

    notebook: Path
    params: tuple[ParamSpec, ...]
    has_parameters_cell: bool = True

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def get(self, name: str, source: Source = Source()) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        file, line = source.where(name)
        if not self.has_parameters_cell:
            raise ParameterError(located(file, line, f"parameter {quote(name)} given, but {self.notebook} has no cell tagged "
                                                     "'parameters', so it takes no parameters."),
                                 hint=f"Drop {quote(name)}, or tag the cell that defines the defaults 'parameters'.")
        try:
            check_name(name)
        except ParameterError as exc:
            raise ParameterError(located(file or self.notebook, line, exc.message)) from None
        known = ", ".join(self.names) or "none"
        raise ParameterError(located(file, line, f"unknown parameter {quote(name)} for {self.notebook}."),
                             hint=did_you_mean(name, self.names) or f"Known parameters: {known}.")

    def defaults(self) -> dict[str, Any]:
        """Literal defaults of the notebook (paths resolved against the notebook's folder)."""
        out: dict[str, Any] = {}
        for spec in self.params:
            if spec.literal and spec.default is not None:
                out[spec.name] = spec.default
        return out

    def convert(self, name: str, value: Any, source: Source = Source()) -> Any:
        spec = self.get(name, source)
        try:
            return spec.convert(value, base=source.base)
        except ParameterError as exc:
            file, line = source.where(name)
            raise ParameterError(located(file, line, exc.message), hint=exc.hint) from None

    def resolve(self, *layers: tuple[Mapping[str, Any], Source]) -> dict[str, Any]:
        """Merge defaults and each ``(values, source)`` layer, converting every value.

        Returns the typed, JSON-ready parameters a run gets: every literal default plus every
        given value. Raises ParameterError naming the source of the first bad value.
        """
        values: dict[str, Any] = {}
        notebook_source = Source(name=str(self.notebook), base=self.notebook.parent)
        for spec in self.params:
            if spec.literal and (spec.default is not None or spec.type == "any"):
                if spec.default is None:
                    values[spec.name] = None
                    continue
                try:
                    values[spec.name] = spec.convert(spec.default, base=notebook_source.base)
                except ParameterError as exc:
                    raise ParameterError(located(self.notebook, None, f"the default of {exc.message}"),
                                         hint="Change the default in the parameters cell or the refinement in the config.") from None
        for given, source in layers:
            for name, value in given.items():
                values[name] = self.convert(name, value, source)
        for spec in self.params:
            if spec.required and values.get(spec.name) is None:
                raise ParameterError(f"parameter '{spec.name}' is required and has no value.",
                                     hint=f"Give it with -p {spec.name}=VALUE or in the scenario.")
        ordered = {p.name: values[p.name] for p in self.params if p.name in values}
        return ordered

    def to_json(self) -> dict[str, Any]:
        return {"notebook": str(self.notebook), "parameters": [p.to_json() for p in self.params]}


def _no_cell_message(notebook: Path) -> str:
    return f"{notebook} has no cell tagged 'parameters', so it takes no parameters. Tag the cell that defines the defaults."


def schema_for(notebook: Notebook, refinements: Mapping[str, Any] | None = None, *,
               config: Path | None = None, lines: Mapping[str, int] | None = None, infer_paths: bool = False) -> Schema:
    """Infer the schema of ``notebook`` and apply a config's ``parameters:`` refinements.

    ``infer_paths`` (a bare notebook, no config): a ``str`` parameter whose literal default names an
    existing file relative to the notebook becomes a ``path`` input (hashed and snapshotted by runs).
    """
    inferred = notebook.parameters()
    if infer_paths:
        inferred = [_path_if_file(p, notebook.path.parent) for p in inferred]
    has_cell = notebook.parameters_cell_index() is not None
    refinements = refinements or {}
    if refinements and not has_cell:
        raise ConfigError(located(config, None, _no_cell_message(notebook.path)))
    by_name = {p.name: p for p in inferred}
    for name, changes in refinements.items():
        line = (lines or {}).get(name)
        if name not in by_name:
            hint = did_you_mean(str(name), by_name) or f"Known parameters: {', '.join(by_name) or 'none'}."
            raise ConfigError(located(config, line, f"unknown parameter {quote(name)} in 'parameters' (not in {notebook.path})."), hint=hint)
        by_name[name] = _refine(by_name[name], changes, config=config, line=line)
    return Schema(notebook=notebook.path, params=tuple(by_name.values()), has_parameters_cell=has_cell)


def _path_if_file(spec: ParamSpec, folder: Path) -> ParamSpec:
    if spec.type != "str" or not spec.literal or not isinstance(spec.default, str) or not spec.default.strip():
        return spec
    try:
        is_file = "\0" not in spec.default and (folder / spec.default).is_file()
    except (OSError, ValueError):
        is_file = False
    return replace(spec, type="path", inferred_path=True) if is_file else spec


def _refine(spec: ParamSpec, changes: Any, *, config: Path | None, line: int | None) -> ParamSpec:
    def fail(message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(located(config, line, f"parameter '{spec.name}': {message}"), hint=hint)

    if changes is None:
        return spec
    if not isinstance(changes, Mapping):
        raise fail(f"expected a mapping of refinements, got {quote(changes)}.", "Write e.g. `threshold: {type: float, min: 0, max: 1}`.")
    for key in changes:
        if key not in REFINEMENT_KEYS:
            raise fail(f"unknown key {quote(key)}.", did_you_mean(str(key), REFINEMENT_KEYS) or f"Allowed: {', '.join(REFINEMENT_KEYS)}.")
    kind = changes.get("type", spec.type)
    if kind not in TYPES:
        raise fail(f"unknown type {quote(kind)}.", did_you_mean(str(kind), TYPES) or f"Use one of {', '.join(TYPES)}.")
    base = config.parent if config else Path.cwd()
    fields: dict[str, Any] = {"type": kind}
    for key in ("label", "help"):
        if key in changes:
            if not isinstance(changes[key], str | int | float) or isinstance(changes[key], bool):
                raise fail(f"'{key}' must be text, got {quote(changes[key])}.", "Quote it in YAML.")
            fields[key] = str(changes[key])
    if "required" in changes:
        if not isinstance(changes["required"], bool):
            raise fail(f"'required' must be true or false, got {quote(changes['required'])}.")
        fields["required"] = changes["required"]
    if "within" in changes:
        if kind != "path":
            raise fail("'within' only applies to type: path.", "Add `type: path`.")
        if not isinstance(changes["within"], str) or "\0" in changes["within"]:
            raise fail(f"'within' must name a folder, got {quote(changes['within'])}.")
        folder = base / changes["within"]
        try:
            folder = folder.resolve()
            is_dir = folder.is_dir()
        except (OSError, ValueError, RuntimeError):  # RuntimeError: a symlink loop
            is_dir = False
        if not is_dir:
            raise fail(f"'within' folder {quote(changes['within'])} does not exist ({folder}).")
        fields["within"] = str(folder)
    if "snapshot" in changes:
        if not isinstance(changes["snapshot"], bool):
            raise fail(f"'snapshot' must be true or false, got {quote(changes['snapshot'])}.")
        if kind != "path":
            raise fail("'snapshot' only applies to type: path.", "Add `type: path`.")
        fields["snapshot"] = changes["snapshot"]
    if "pattern" in changes:
        try:
            fields["pattern"] = check_pattern(changes["pattern"])
        except ValueError as exc:
            raise fail(f"'pattern' {quote(changes['pattern'])} {exc}") from None
    fields.update(_items_limits(changes, kind, fail))
    unbounded = replace(spec, **{**fields, "min_items": None, "max_items": None}, min=None, max=None, choices=None,
                        choice_labels=None)
    values, labels = _choices(changes["choices"], fail) if "choices" in changes else (None, None)
    key = ""
    try:
        for key in ("min", "max"):
            if key in changes and changes[key] is not None:
                fields[key] = unbounded.convert(changes[key], base=base)
        if values is not None:
            key = "choices"
            item = replace(unbounded, type="any") if kind in ("list", "any") else unbounded
            fields["choices"] = tuple(item.convert(c, base=base) for c in values)
            fields["choice_labels"] = labels
        if "example" in changes:
            key = "example"
            if kind not in ("str", "path") or "pattern" not in fields:
                raise fail("'example' shows people a value that fits the 'pattern'; add a `pattern:` (type str or path).")
            if not isinstance(changes["example"], str) or not changes["example"].strip():
                raise fail(f"'example' must be text, got {quote(changes['example'])}.", "Quote it in YAML.")
            fits = matches_path if kind == "path" else _fits
            if not fits(fields["pattern"], changes["example"]):
                raise fail(f"'example' {quote(changes['example'])} does not fit the pattern.",
                           "Give a value the pattern accepts" + (", e.g. the name of one of the files." if kind == "path" else "."))
            fields["example"] = changes["example"]
    except LivedocsError as exc:  # "parameter 'a': 'min' expects an int, got 'low'."
        raise fail(f"'{key}' " + exc.message.removeprefix(f"parameter '{spec.name}' "), exc.hint) from None
    if fields.get("choices") and fields.get("min_items", 0) > len(fields["choices"]) and kind == "list":
        raise fail(f"'min_items' is {fields['min_items']}, but there are only {len(fields['choices'])} choices.")
    fields.update(_file_labels(changes, kind, fields, base, fail))
    refined = replace(spec, **fields)
    if "default" in changes:
        refined = replace(refined, default=changes["default"], literal=True)
    if refined.default is not None and kind not in (spec.type, "path") and refined.literal:
        refined = replace(refined, default=_retype_default(refined, base))
    return refined


def _retype_default(spec: ParamSpec, base: Path) -> Any:
    try:
        return replace(spec, min=None, max=None, choices=None, pattern=None, within=None).convert(spec.default, base=base)
    except ParameterError:
        return spec.default  # reported when the run resolves its parameters


def _choices(raw: Any, fail: Any) -> tuple[list[Any], tuple[str, ...] | None]:
    """``choices:`` as values and labels: a list of values, a mapping value -> label, or a list of
    ``{value: ..., label: ...}``. Labels are text, unique, at most :data:`MAX_LABEL_CHARS` long."""
    example = "Write e.g. `choices: [north, south]` or `choices: {data/loans_2025Q4.csv: \"2025 Q4\"}`."
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list) and any(isinstance(item, Mapping) for item in raw):
        pairs = []
        for item in raw:
            if not isinstance(item, Mapping) or set(item) != {"value", "label"}:
                raise fail(f"'choices': every item of a labelled list is {{value: ..., label: ...}}, got {quote(item)}.", example)
            pairs.append((item["value"], item["label"]))
    elif isinstance(raw, list):
        pairs = [(item, None) for item in raw]
    else:
        pairs = []
    if not pairs:
        kind = "mapping" if isinstance(raw, Mapping) else "list" if isinstance(raw, list) else "list or mapping"
        raise fail(f"'choices' must be a non-empty {kind}.", example)
    if all(label is None for _, label in pairs):
        return [value for value, _ in pairs], None
    labels = []
    for value, label in pairs:
        if not isinstance(label, str) or not label.strip():
            raise fail(f"'choices': the label of {quote(value)} must be text, got {quote(label)}.", "Quote it in YAML.")
        if len(label) > MAX_LABEL_CHARS:
            raise fail(f"'choices': the label {quote(label)} is {len(label)} characters long; the limit is {MAX_LABEL_CHARS}.")
        if label.strip() in labels:
            raise fail(f"'choices': the label {quote(label)} is used twice.", "Give each choice its own label.")
        labels.append(label.strip())
    return [value for value, _ in pairs], tuple(labels)


def _items_limits(changes: Mapping[str, Any], kind: str, fail: Any) -> dict[str, int]:
    """``min_items``/``max_items`` of a ``list``: whole numbers, at least 0, min not above max."""
    out: dict[str, int] = {}
    for key in ("min_items", "max_items"):
        if key not in changes:
            continue
        if kind != "list":
            raise fail(f"'{key}' only applies to type: list.", "Add `type: list`.")
        value = changes[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise fail(f"'{key}' must be a whole number of items (0 or more), got {quote(value)}.",
                       f"Write e.g. `{key}: 1`.")
        out[key] = value
    if out.get("min_items", 0) > out.get("max_items", out.get("min_items", 0)):
        raise fail(f"'min_items' ({out['min_items']}) is more than 'max_items' ({out['max_items']}).")
    return out


def _file_labels(changes: Mapping[str, Any], kind: str, fields: Mapping[str, Any], base: Path, fail: Any) -> dict[str, Any]:
    """``file_label:`` (a template over the pattern's named groups) and ``file_labels:`` (file -> label)."""
    out: dict[str, Any] = {}
    for key in ("file_label", "file_labels"):
        if key in changes and kind != "path":
            raise fail(f"'{key}' only applies to type: path.", "Add `type: path`.")
    if "file_label" in changes:
        template = changes["file_label"]
        if not isinstance(template, str) or not template.strip():
            raise fail(f"'file_label' must be text, got {quote(template)}.", 'Write e.g. `file_label: "{year} Q{quarter}"`.')
        if "pattern" not in fields:
            raise fail("'file_label' fills its {fields} from the named groups of 'pattern'; add a `pattern:`.",
                       "Write e.g. `pattern: '.*/loans_(?P<year>\\d{4})Q(?P<quarter>\\d)\\.csv'`.")
        try:
            names = template_fields(template)
        except ValueError as exc:
            raise fail(f"'file_label' {quote(template)} {exc}") from None
        groups = group_names(fields["pattern"])
        for name in names:
            if name not in groups:
                known = ", ".join(groups) or "none (name them like (?P<year>\\d{4}))"
                raise fail(f"'file_label' {quote(template)} uses {{{name}}}, which is not a named group of the pattern.",
                           f"Named groups: {known}.")
        out["file_label"] = template
    if "file_labels" in changes:
        raw = changes["file_labels"]
        if not isinstance(raw, Mapping) or not raw:
            raise fail(f"'file_labels' must map files to labels, got {quote(raw)}.",
                       'Write e.g. `file_labels: {../data/loans_2025Q4.csv: "2025 Q4"}` (relative to this file).')
        pairs = []
        for path, label in raw.items():
            if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_CHARS:
                raise fail(f"'file_labels': the label of {quote(path)} must be text of at most {MAX_LABEL_CHARS} "
                           f"characters, got {quote(label)}.", "Quote it in YAML.")
            try:
                resolved = replace(ParamSpec(name="file", type="path"), within=fields.get("within")).convert(path, base=base)
            except LivedocsError as exc:
                raise fail("'file_labels': " + exc.message.removeprefix("parameter 'file' "), exc.hint) from None
            pairs.append((resolved, label.strip()))
        out["file_labels"] = tuple(pairs)
    return out


def _fits(pattern: str, text: str) -> bool:
    try:
        return matches(pattern, text)
    except ValueError:
        return False


def matches_path(pattern: str, name: str) -> bool:
    """Whether a file called ``name`` (a bare name or a relative path) can fit a path ``pattern``,
    which is matched against absolute paths: tried as ``/name`` and as ``name``."""
    try:
        return matches(pattern, name) or matches(pattern, "/" + name.lstrip("/"))
    except ValueError:
        return False
