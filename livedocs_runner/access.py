"""Who may see and run which notebook: identities, roles and the access file (UI-free).

The app asks :class:`AccessPolicy` on every page; it never imports streamlit. An access file
(``access.yaml``) maps users and groups to a role per config name or glob::

    groups:                       # optional: groups kept in this file (besides the token's groups claim)
      risk-team: [alice@example.com, bob@example.com]
    rules:
      - configs: [credit_risk]    # config names or globs ("credit_*", "*")
        groups: [risk-team]
        role: runner
      - configs: "*"
        users: [carol@example.com]
        role: admin

A config may carry its own rules in an ``access:`` block (a list of rules without ``configs``: they apply
to that config only). The access file's rules and the configs' rules add up (:func:`with_rules`).

Roles include the ones below them (``admin`` > ``runner`` > ``viewer``); a user matched by several
rules, from the access file or a config, gets the highest role: a config can grant a role on itself, never
take away one the access file gives. With sign-in, a user no rule matches gets :attr:`Role.NONE`
(default-deny). Without sign-in (one person on a laptop), :meth:`AccessPolicy.open` gives everyone ``admin``.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, LivedocsError, did_you_mean, located
from .params import quote

ROLE_NAMES = ("viewer", "runner", "admin")
ANY_USER = "*"  # in ``users``: every signed-in user
_FILE_KEYS = ("groups", "rules")
_RULE_KEYS = ("configs", "users", "groups", "role")


class Role(enum.IntEnum):
    """What someone may do with one notebook; each role includes the ones below it."""

    NONE = 0
    VIEWER = 1  # see the notebook, its results and history
    RUNNER = 2  # also run, rerun, cancel own runs
    ADMIN = 3  # everything, incl. cancelling others' runs and exporting evidence

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Identity:
    """Who is asking: ``name`` is verified unless ``auth == "none"`` (then it is self-declared)."""

    name: str
    auth: str  # "none" | "oidc" | "proxy"
    groups: frozenset[str] = frozenset()

    @property
    def verified(self) -> bool:
        return self.auth != "none"


class AccessDenied(LivedocsError):
    """A request was refused (not signed in, no role for the notebook, untrusted proxy ...)."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, user: str = "", target: str = "") -> None:
        super().__init__(message, hint=hint)
        self.user = user
        self.target = target


@dataclass(frozen=True)
class AccessRule:
    """One rule: these users and groups hold ``role`` on the configs matching ``configs``."""

    configs: tuple[str, ...]
    role: Role
    users: frozenset[str] = frozenset()  # casefolded; may contain ANY_USER
    groups: frozenset[str] = frozenset()
    origin: str = field(default="", compare=False)  # where it was written: "access.yaml, line 4"

    def covers(self, who: Identity, config_name: str) -> bool:
        if not any(fnmatch.fnmatchcase(config_name, pattern) for pattern in self.configs):
            return False
        return (ANY_USER in self.users or who.name.casefold() in self.users
                or not self.groups.isdisjoint(who.groups))


@dataclass(frozen=True)
class AccessPolicy:
    """Roles per config for each identity. Usage: ``policy.allows(who, "credit_risk", Role.RUNNER)``."""

    rules: tuple[AccessRule, ...] = ()
    is_open: bool = False
    source: str | None = field(default=None, compare=False)
    members: tuple[tuple[str, frozenset[str]], ...] = ()  # the access file's ``groups:`` (name, users)

    def role(self, who: Identity, config_name: str) -> Role:
        """The highest role any rule gives ``who`` on ``config_name``; NONE when none does (default-deny)."""
        if self.is_open:
            return Role.ADMIN
        if not who.verified or not who.name:  # rules are about verified identities only
            return Role.NONE
        return max((rule.role for rule in self.rules if rule.covers(who, config_name)), default=Role.NONE)

    def allows(self, who: Identity, config_name: str, needed: Role) -> bool:
        return self.role(who, config_name) >= needed

    def visible(self, who: Identity, config_names: Iterable[str]) -> list[str]:
        """The config names ``who`` may at least view, in the given order (what a catalog lists)."""
        return [name for name in config_names if self.allows(who, name, Role.VIEWER)]

    def require(self, who: Identity, config_name: str, needed: Role, action: str = "open") -> None:
        """Raise :class:`AccessDenied` unless ``who`` holds ``needed`` on ``config_name``."""
        if not self.allows(who, config_name, needed):
            raise AccessDenied(f"{who.name or 'an anonymous user'} may not {action} {config_name!r}: "
                               f"it needs the role {needed.label}.",
                               hint="Ask an admin of this app for access.", user=who.name, target=config_name)

    @classmethod
    def open(cls) -> AccessPolicy:
        """No access rules (auth off, one person on a laptop): everyone is ADMIN."""
        return cls(is_open=True)


def parse_role(value: Any, where: str) -> Role:
    """``"runner"`` -> Role.RUNNER; anything else is a ConfigError naming ``where`` and the known roles."""
    if isinstance(value, str) and value.strip().lower() in ROLE_NAMES:
        return Role[value.strip().upper()]
    guess = did_you_mean(str(value).strip().lower(), ROLE_NAMES) if isinstance(value, str) else None
    raise ConfigError(f"{where}: unknown role {quote(value)}.",
                      hint=guess or f"Use one of: {', '.join(ROLE_NAMES)}.")


def load_access(path: Path, config_names: Collection[str]) -> AccessPolicy:
    """Read an access file (see the module docstring) for the configs named ``config_names``.

    A ConfigError names the file and line for: a missing file, bad YAML, unknown keys, an unknown role,
    a glob that matches no config, a rule that names nobody.
    """
    from .yamlfile import load_yaml  # yaml only when an access file is used

    if not Path(path).is_file():
        raise ConfigError(f"access file {path} does not exist.", hint="Check the path given with --access or LIVEDOCS_ACCESS.")
    doc = load_yaml(Path(path))
    data = doc.data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: an access file is a mapping with 'rules' (and optionally 'groups'), "
                          f"not {quote(data)}.", hint="See the README, section 'Sign-in and roles'.")
    _known_keys(data, _FILE_KEYS, lambda key: located(path, doc.line(key), ""))
    members = _file_groups(data.get("groups"), doc)
    rules_data = data.get("rules")
    if not isinstance(rules_data, list) or not rules_data:
        raise ConfigError(located(path, doc.line("rules"), "'rules' must be a non-empty list of rules."),
                          hint="Add e.g. `rules: [{configs: '*', users: [you@example.com], role: admin}]`.")
    rules = tuple(_rule(item, ("rules", index), doc, members, config_names)
                  for index, item in enumerate(rules_data))
    return AccessPolicy(rules=rules, source=str(path), members=tuple(sorted(members.items())))


def config_rules(block: Any, config_name: str, doc: Any, key: tuple[Any, ...] = ("access",)) -> tuple[AccessRule, ...]:
    """Rules from an ``access:`` block inside one config (a list of rules without ``configs``): they apply to
    that config only. ``doc`` is the config's YamlDoc (for lines)."""
    where = located(doc.path, doc.line(*key), "")
    if not isinstance(block, list) or not block:
        raise ConfigError(f"{where}'access' must be a non-empty list of rules like "
                          "`- {users: [you@example.com], role: runner}`.")
    rules = []
    for index, item in enumerate(block):
        if isinstance(item, Mapping) and "configs" in item:
            raise ConfigError(located(doc.path, doc.line(*key, index, "configs"),
                                      "an 'access' rule inside a config applies to that config only."),
                              hint="Remove 'configs', or move the rule to the access file.")
        item = {**item, "configs": config_name} if isinstance(item, Mapping) else item
        rules.append(_rule(item, (*key, index), doc, {}, [config_name], inside_config=True))
    return tuple(rules)


def with_rules(policy: AccessPolicy, rules: Iterable[AccessRule]) -> AccessPolicy:
    """``policy`` plus more rules (a config's ``access:`` block): the highest role any rule gives wins, so
    added rules can grant, never take away. A group the access file lists (``groups:``) counts its members
    in the added rules too. An open policy stays open: it has no rules to add to."""
    if policy.is_open:
        return policy
    members = dict(policy.members)
    added = tuple(replace(rule, users=rule.users.union(*(members.get(g, frozenset()) for g in rule.groups)))
                  for rule in rules)
    return replace(policy, rules=policy.rules + added)


def configs_rules(folder: Path) -> tuple[AccessRule, ...]:
    """The ``access:`` blocks of every config in ``folder`` (only the blocks are read and checked, not the
    notebooks: ``livedocs app`` refuses to start when one is wrong, whatever else the config holds)."""
    from .yamlfile import load_yaml

    rules: list[AccessRule] = []
    for path in sorted(Path(folder).glob("*.y*ml")) if Path(folder).is_dir() else []:
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            doc = load_yaml(path)
        except ConfigError:  # a config that is not YAML: the app shows it as broken; it grants nothing
            continue
        if isinstance(doc.data, Mapping) and "access" in doc.data:
            rules.extend(config_rules(doc.data["access"], path.stem, doc))
    return tuple(rules)


def config_names(folder: Path) -> list[str]:
    """The names access rules use: the file stems of the configs the app serves (``*.yaml``/``*.yml``)."""
    folder = Path(folder)
    return sorted({path.stem for path in folder.glob("*.y*ml") if path.suffix in (".yaml", ".yml")}) if folder.is_dir() else []


def policy_from_env(environ: Mapping[str, str], config_names: Collection[str]) -> AccessPolicy:
    """The app's policy: the access file named by ``LIVEDOCS_ACCESS``, or open when it is unset."""
    path = (environ.get("LIVEDOCS_ACCESS") or "").strip()
    return load_access(Path(path), config_names) if path else AccessPolicy.open()


def _known_keys(data: Mapping[str, Any], known: tuple[str, ...], where) -> None:
    for key in data:
        if key not in known:
            guess = did_you_mean(str(key), known)
            raise ConfigError(f"{where(key)}unknown key {quote(key)}.",
                              hint=guess or f"Known keys: {', '.join(known)}.")


def _names(value: Any, doc: Any, key: tuple[Any, ...], what: str) -> list[str]:
    """A name or a list of names (non-empty strings)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(located(doc.path, doc.line(*key), f"'{key[-1]}' must be a {what} or a list of them, "
                                  f"got {quote(value)}."))
    names = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            line = doc.line(*key, index) if not isinstance(value, str) else doc.line(*key)
            raise ConfigError(located(doc.path, line, f"'{key[-1]}' must list {what}s as text, got {quote(item)}."),
                              hint="Quote it.")
        names.append(item.strip())
    return names


def _file_groups(value: Any, doc: Any) -> dict[str, frozenset[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(located(doc.path, doc.line("groups"), f"'groups' must map a group name to a list of users, "
                                  f"got {quote(value)}."), hint="Write `groups: {risk-team: [alice@example.com]}`.")
    return {str(name): frozenset(user.casefold() for user in _names(users, doc, ("groups", name), "user name"))
            for name, users in value.items()}


def _rule(item: Any, key: tuple[Any, ...], doc: Any, members: Mapping[str, frozenset[str]],
          config_names: Collection[str], *, inside_config: bool = False) -> AccessRule:
    path = doc.path
    if not isinstance(item, Mapping):
        if inside_config:
            raise ConfigError(located(path, doc.line(*key), f"an 'access' rule must be a mapping with users/groups and "
                                      f"role, got {quote(item)}."), hint="Write `- {users: [you@example.com], role: viewer}`.")
        raise ConfigError(located(path, doc.line(*key), f"a rule must be a mapping with configs, users/groups and role, "
                                  f"got {quote(item)}."), hint="Write `- {configs: '*', users: [you@example.com], role: viewer}`.")
    _known_keys(item, _RULE_KEYS, lambda name: located(path, doc.line(*key, name) or doc.line(*key), ""))
    if "role" not in item:
        raise ConfigError(located(path, doc.line(*key), "the rule has no 'role'."), hint=f"Add `role: {ROLE_NAMES[0]}` (or {', '.join(ROLE_NAMES[1:])}).")
    role = parse_role(item["role"], located(path, doc.line(*key, "role"), "").rstrip(": ") or str(path))
    if "configs" not in item:
        raise ConfigError(located(path, doc.line(*key), "the rule has no 'configs'."), hint="Add `configs: '*'` for every notebook, or name them.")
    patterns = _names(item["configs"], doc, (*key, "configs"), "config name or glob")
    for index, pattern in enumerate(patterns):
        if not any(fnmatch.fnmatchcase(name, pattern) for name in config_names):
            line = doc.line(*key, "configs", index) or doc.line(*key, "configs")
            guess = did_you_mean(pattern, config_names)
            raise ConfigError(located(path, line, f"{quote(pattern)} matches no config."),
                              hint=guess or (f"The configs are: {', '.join(sorted(config_names))}." if config_names
                                             else "There are no configs in the configs folder."))
    if "users" not in item and "groups" not in item:
        raise ConfigError(located(path, doc.line(*key), "the rule names no 'users' or 'groups'."),
                          hint="Add `users: [you@example.com]` or `groups: [team]` (`users: '*'` is everyone signed in).")
    users = {user.casefold() for user in _names(item["users"], doc, (*key, "users"), "user name")} if "users" in item else set()
    groups = set(_names(item["groups"], doc, (*key, "groups"), "group name")) if "groups" in item else set()
    for group in groups:  # a group kept in the file: its members hold the role too
        users |= members.get(group, frozenset())
    origin = located(Path(path).name, doc.line(*key), "").rstrip(": ")
    return AccessRule(configs=tuple(patterns), role=role, users=frozenset(users), groups=frozenset(groups),
                      origin=origin)
