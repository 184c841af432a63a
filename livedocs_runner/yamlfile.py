"""Read YAML safely, keeping the line of every key so errors can point at it.

Dates stay strings (no silent conversion): a ``date`` parameter converts them explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


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
    """Parse ``path``; a syntax error becomes a ConfigError with the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config {path} does not exist.", hint="Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {path} cannot be read ({exc}).") from None
    try:
        return _parse(path, text, _Loader)
    except ConfigError:
        return _parse(path, text, _PyLoader)  # raises again, with the clearer message


def _parse(path: Path, text: str, loader_class: type) -> YamlDoc:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        lines: dict[Key, int] = {}
        data = _build(loader, node, (), lines) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        where = f"{path}, line {line}" if line else str(path)
        raise ConfigError(f"{where}: malformed YAML: {exc.problem or exc.context}.",
                          hint="Fix the syntax there (indentation, a missing ':' or an unclosed bracket or quote).") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}.") from None
    finally:
        loader.dispose()
    return YamlDoc(path=path, data=data, lines=lines)


def _build(loader: _Loader, node: yaml.Node, key: Key, lines: dict[Key, int]) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            name = loader.construct_object(key_node, deep=True)
            lines[key + (name,)] = key_node.start_mark.line + 1
            out[name] = _build(loader, value_node, key + (name,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines.setdefault(key + (index,), item.start_mark.line + 1)
            items.append(_build(loader, item, key + (index,), lines))
        return items
    return loader.construct_object(node, deep=True)
