"""Read YAML safely, keeping the line of every key so errors can point at it.

Dates stay strings (no silent conversion): a ``date`` parameter converts them explicitly.

A config is untrusted input, so what one small file can make us build is bounded: nesting
(:data:`MAX_DEPTH`), nodes built counting every expansion of an alias (:data:`MAX_NODES`: a
400-byte "billion laughs" file is refused instead of filling the memory), recursive aliases,
integers (:data:`~livedocs_runner.params.MAX_INT_DIGITS`) and the file's size. Keys must be
plain strings and appear once per mapping. Every refusal is a ConfigError with the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .params import MAX_INT_DIGITS, quote

MAX_DEPTH = 64  # nesting of mappings and lists in one file
DEEP_HINT = "Flatten the structure, or keep such data in a file the notebook reads."
MAX_NODES = 100_000  # values built, counting each use of an alias as a full copy
MAX_BYTES = 10 * 1024 * 1024
_INT_LIMIT = 10 ** MAX_INT_DIGITS
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's fast parser when present
    """SafeLoader without the implicit timestamp resolver."""


class _PyLoader(yaml.SafeLoader):
    """The pure-Python parser: slower, but its syntax errors quote the offending token."""


_NO_TIMESTAMPS = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.yaml_implicit_resolvers = _PyLoader.yaml_implicit_resolvers = _NO_TIMESTAMPS

Key = tuple[Any, ...]


@dataclass(frozen=True)
class YamlDoc:
    """Parsed YAML plus ``lines[(key, subkey, ...)] -> line`` (1-based) for every mapping key."""

    path: Path
    data: Any
    lines: dict[Key, int] = field(default_factory=dict)

    def line(self, *keys: Any) -> int | None:
        """The line of the deepest known key along ``keys``."""
        for end in range(len(keys), 0, -1):
            if keys[:end] in self.lines:
                return self.lines[keys[:end]]
        return None


def load_yaml(path: Path) -> YamlDoc:
    """Parse ``path``; a syntax error or an exceeded limit becomes a ConfigError with the file and line."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name: it could not be recorded
        raise ConfigError(f"the config file name {ascii(str(path))} is not valid UTF-8.", hint="Rename the file.") from None
    try:
        if path.exists() and not path.is_file():  # a folder, a FIFO that would block, /dev/zero that never ends
            raise ConfigError(f"config {path} is not a regular file.", hint="Give the path of a .yaml file.")
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)  # the size a stat reports can be wrong (/proc) or change
        if len(raw) > MAX_BYTES:
            raise ConfigError(f"config {path} is larger than {MAX_BYTES // 2**20} MB.",
                              hint="A config describes parameters and scenarios: keep data in files it names.")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config {path} does not exist.", hint="Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {path} cannot be read ({exc}).") from None
    try:
        return _parse(path, text, _Loader)
    except _Malformed:
        try:
            return _parse(path, text, _PyLoader)  # raises again, with the clearer message
        except _Malformed as exc:
            raise exc.error from None


class _Malformed(Exception):
    """A syntax error: the pure-Python parser is asked again for its clearer message."""

    def __init__(self, error: ConfigError) -> None:
        super().__init__(error.message)
        self.error = error


def _parse(path: Path, text: str, loader_class: type) -> YamlDoc:
    try:
        _scan(path, text, loader_class)
        loader = loader_class(text)
        try:
            node = loader.get_single_node()
            builder = _Builder(path, loader)
            data = builder.build(node, (), 0) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own bound (PyYAML >= 6.0.4: ~1000 levels)
            raise _refusal(path, mark, f"nested more than {MAX_DEPTH} levels deep.", DEEP_HINT) from None
        line = mark.line + 1 if mark else None
        where = f"{path}, line {line}" if line else str(path)
        raise _Malformed(ConfigError(
            f"{where}: malformed YAML: {_text(exc.problem or exc.context)}.",
            hint="Fix the syntax there (indentation, a missing ':' or an unclosed bracket or quote).")) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control, a lone surrogate)
        line = text.count("\n", 0, exc.position) + 1
        raise _Malformed(ConfigError(f"{path}, line {line}: malformed YAML: character {exc.character!a} is not allowed.",
                                     hint="Remove it, or write it as an escape inside double quotes.")) from None
    except yaml.YAMLError as exc:
        raise _Malformed(ConfigError(f"{path}: malformed YAML: {_text(exc)}.")) from None
    return YamlDoc(path=path, data=data, lines=builder.lines)


def _text(problem: object) -> str:
    text = " ".join(str(problem).split())  # one line
    return text if len(text) <= 200 else text[:197] + "..."


def _scan(path: Path, text: str, loader_class: type) -> None:
    """Walk the parser's events (iterative, cheap) to refuse deep nesting, recursive aliases and the
    non-specific tag `!` (which the two parsers read differently) before the composer (recursive, in C for libyaml) sees them."""
    loader = loader_class(text)
    try:
        depth = 0
        open_anchors: list[str | None] = []
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _refusal(path, event.start_mark, f"nested more than {MAX_DEPTH} levels deep.", DEEP_HINT)
                open_anchors.append(event.anchor)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                open_anchors.pop()
            elif isinstance(event, yaml.ScalarEvent) and event.tag == "!":  # libyaml reads `!` alone as '', PyYAML as null
                raise _refusal(path, event.start_mark, f"the value {quote(event.value)} has the non-specific tag '!'.",
                               "Drop the '!' and quote the value if it is meant as text.")
            elif isinstance(event, yaml.AliasEvent) and event.anchor in open_anchors:
                raise _refusal(path, event.start_mark, f"the alias *{event.anchor} refers to a value that contains it "
                               "(a recursive alias).", "Use anchors only for values defined before and outside the alias.")
    finally:
        loader.dispose()


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", type(None): "null"}.get(type(value), "a value")


def _refusal(path: Path, mark: Any, message: str, hint: str | None = None) -> ConfigError:
    line = mark.line + 1 if mark is not None else None
    return ConfigError(f"{path}, line {line}: {message}" if line else f"{path}: {message}", hint=hint)


class _Builder:
    """Turns composed nodes into Python data, counting every node built (aliases included)."""

    def __init__(self, path: Path, loader: Any) -> None:
        self.path = path
        self.loader = loader
        self.lines: dict[Key, int] = {}
        self.nodes = 0

    def fail(self, node: yaml.Node, message: str, hint: str | None = None) -> ConfigError:
        return _refusal(self.path, node.start_mark, message, hint)

    def build(self, node: yaml.Node, key: Key, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(node, f"more than {MAX_NODES} values (counting every use of an alias as a copy).",
                            "Use fewer or smaller aliases; keep large data in a file the notebook reads.")
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if depth >= MAX_DEPTH:
                raise self.fail(node, f"nested more than {MAX_DEPTH} levels deep (through aliases).",
                                DEEP_HINT)
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, key, depth)
            items = []
            for index, item in enumerate(node.value):
                self.lines.setdefault(key + (index,), item.start_mark.line + 1)
                items.append(self.build(item, key + (index,), depth + 1))
            return items
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_INT_DIGITS:
            raise self.fail(node, f"the number {quote(node.value)} has more than {MAX_INT_DIGITS} digits.",
                            "Quote it to make it a string, or use a smaller number.")
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # noqa: BLE001 - PyYAML's scalar constructors fail in many ways on explicit
            # tags (`!!int ''` is an IndexError, `!!bool x` a KeyError): one value of untrusted text, refused
            raise self.fail(node, f"cannot read the value {quote(node.value)} as {node.tag.rsplit(':', 1)[-1]} "
                            f"({type(exc).__name__}).", "Quote it to make it a string, or drop the tag.") from None
        if not (value is None or isinstance(value, bool | int | float | str)):  # !!binary's bytes, ...
            raise self.fail(node, f"the value {quote(node.value)} is {type(value).__name__}, which a config cannot hold.",
                            "Write text, numbers, true/false or null (drop the tag).")
        if isinstance(value, int) and abs(value) >= _INT_LIMIT:
            raise self.fail(node, f"the number {quote(node.value)} has more than {MAX_INT_DIGITS} digits.",
                            "Use a smaller number.")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise self.fail(node, f"the text {quote(value)} contains {value[exc.start:exc.end]!a}, "
                                "which is not valid Unicode (a lone surrogate escape).",
                                "Write the character itself, or a surrogate pair.") from None
        return value

    def _mapping(self, node: yaml.MappingNode, key: Key, depth: int) -> dict[Any, Any]:
        merged: dict[Any, Any] = {}
        explicit: dict[Any, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:  # merges first, so explicit keys keep their own lines
            if key_node.tag == _MERGE_TAG:
                self._merge(merged, value_node, key, depth)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "a mapping key must be a plain name, not a list or mapping (a complex key).",
                                "Write `name: value`.")
            name = self._scalar(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(name, str):
                raise self.fail(key_node, f"the key {quote(key_node.value)} is read as {_kind(name)}, not as text.", f"Quote it: '{key_node.value}'.")
            if name in seen:
                raise self.fail(key_node, f"duplicate key {quote(name)} (also on line {seen[name]}).",
                                "Keep one of them: YAML would silently drop the first.")
            seen[name] = line
            self.lines[key + (name,)] = line
            explicit[name] = self.build(value_node, key + (name,), depth + 1)
        if not merged:
            return explicit
        return {**merged, **explicit}  # explicit keys win over merged ones ('<<: *base' then overrides)

    def _merge(self, into: dict[Any, Any], node: yaml.Node, key: Key, depth: int) -> None:
        """``<<: *base`` or ``<<: [*a, *b]``: earlier sources win, as YAML's merge key says."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise self.fail(source, "'<<' (merge) needs a mapping or a list of mappings.")
            for name, value in self.build(source, key, depth).items():
                into.setdefault(name, value)
