"""An ``access:`` block inside a config: checked when the config loads (file and line), added to the access
file's rules (the highest role wins, default-deny stays), and read by ``livedocs app`` before it starts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from livedocs_runner.access import AccessPolicy, Identity, Role, configs_rules, load_access, with_rules
from livedocs_runner.cli.app import prepare_auth
from livedocs_runner.errors import ConfigError
from livedocs_runner.scenarios import load_config

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "pricing_whatif.ipynb"
FILE = """\
groups:
  risk-team: [alice@example.com]
rules:
  - configs: "*"
    users: [carol@example.com]
    role: admin
  - configs: pricing
    users: [viv@example.com, dan@example.com]
    role: viewer
"""


def config(folder: Path, block: str, name: str = "pricing") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"notebook: {NOTEBOOK}\n" + textwrap.dedent(block), encoding="utf-8")
    return path


def oidc(name: str, *groups: str) -> Identity:
    return Identity(name=name, auth="oidc", groups=frozenset(groups))


def test_a_config_carries_its_rules(tmp_path: Path) -> None:
    loaded = load_config(config(tmp_path, """\
        access:
          - users: [dan@example.com]
            role: runner
          - groups: [risk-team, pricing-leads]
            role: admin
        """))
    assert [(r.configs, r.role, sorted(r.users), sorted(r.groups)) for r in loaded.access] == [
        (("pricing",), Role.RUNNER, ["dan@example.com"], []),
        (("pricing",), Role.ADMIN, [], ["pricing-leads", "risk-team"])]
    assert [r.origin for r in loaded.access] == ["pricing.yaml, line 3", "pricing.yaml, line 5"]
    assert load_config(config(tmp_path, "title: no block\n")).access == ()


@pytest.mark.parametrize(("block", "message", "hint"), [
    ("access:\n  - users: [a@example.com]\n    role: superuser\n", "pricing.yaml, line 4: unknown role 'superuser'.",
     "Use one of: viewer, runner, admin."),
    ("access:\n  - users: [a@example.com]\n    role: runer\n", "pricing.yaml, line 4: unknown role 'runer'.",
     "Did you mean 'runner'?"),
    ("access:\n  - users: [a@example.com, 3]\n    role: viewer\n",
     "pricing.yaml, line 3: 'users' must list user names as text, got 3.", "Quote it."),
    ("access:\n  - users: ['  ']\n    role: viewer\n",
     "pricing.yaml, line 3: 'users' must list user names as text, got '  '.", "Quote it."),
    ("access:\n  - groups: {a: b}\n    role: viewer\n",
     "pricing.yaml, line 3: 'groups' must be a group name or a list of them, got {'a': 'b'}.", None),
    ("access:\n  - role: viewer\n", "pricing.yaml, line 3: the rule names no 'users' or 'groups'.", "Add `users:"),
    ("access:\n  - users: [a@example.com]\n", "pricing.yaml, line 3: the rule has no 'role'.", "Add `role: viewer`"),
    ("access:\n  - users: [a@example.com]\n    configs: '*'\n    role: admin\n",
     "pricing.yaml, line 4: an 'access' rule inside a config applies to that config only.", "Remove 'configs'"),
    ("access:\n  - user: [a@example.com]\n    role: admin\n", "pricing.yaml, line 3: unknown key 'user'.",
     "Did you mean 'users'?"),
    ("access:\n  - a@example.com\n", "pricing.yaml, line 3: an 'access' rule must be a mapping with users/groups and role",
     "Write `- {users: [you@example.com], role: viewer}`."),
    ("access: {users: [a], role: admin}\n", "pricing.yaml, line 2: 'access' must be a non-empty list of rules", None),
    ("access: []\n", "pricing.yaml, line 2: 'access' must be a non-empty list of rules", None),
])
def test_a_bad_access_block_is_refused_when_the_config_loads(tmp_path: Path, block: str, message: str,
                                                             hint: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config(tmp_path, block))
    assert caught.value.message == f"{tmp_path}/{message}" or caught.value.message.startswith(f"{tmp_path}/{message}"), \
        caught.value.message
    assert caught.value.exit_code == 2
    if hint is not None:
        assert (caught.value.hint or "").startswith(hint), caught.value.hint


def test_the_access_file_and_a_config_block_add_up(tmp_path: Path) -> None:
    """The highest role any rule gives wins: a config grants, never takes away; no rule: no access."""
    folder = tmp_path / "configs"
    folder.mkdir()
    config(folder, """\
        access:
          - users: [dan@example.com]
            role: runner
          - users: [carol@example.com, viv@example.com]
            role: viewer
          - groups: [risk-team]
            role: runner
        """)
    config(folder, "title: other\n", name="other")
    (tmp_path / "access.yaml").write_text(FILE, encoding="utf-8")
    policy = with_rules(load_access(tmp_path / "access.yaml", ["pricing", "other"]), configs_rules(folder))
    assert policy.role(oidc("dan@example.com"), "pricing") is Role.RUNNER  # the config raises viewer to runner
    assert policy.role(oidc("carol@example.com"), "pricing") is Role.ADMIN  # the file's admin stays admin
    assert policy.role(oidc("viv@example.com"), "pricing") is Role.VIEWER
    assert policy.role(oidc("alice@example.com"), "pricing") is Role.RUNNER  # a group the file lists: its members
    assert policy.role(oidc("zed@example.com", "risk-team"), "pricing") is Role.RUNNER  # the token's groups
    assert policy.role(oidc("dan@example.com"), "other") is Role.NONE  # rules of one config stay on it
    assert policy.role(oidc("zed@example.com"), "pricing") is Role.NONE  # default-deny
    assert policy.role(Identity(name="dan@example.com", auth="none"), "pricing") is Role.NONE  # unverified
    only_configs = with_rules(AccessPolicy(), configs_rules(folder))
    assert only_configs.role(oidc("dan@example.com"), "pricing") is Role.RUNNER
    assert only_configs.role(oidc("alice@example.com"), "pricing") is Role.NONE  # no file, no file groups
    assert with_rules(AccessPolicy.open(), configs_rules(folder)).is_open  # no sign-in: one person, everything


def test_livedocs_app_reads_the_configs_blocks_before_it_starts(tmp_path: Path) -> None:
    folder = tmp_path / "configs"
    folder.mkdir()
    config(folder, "title: no rules\n", name="other")
    (folder / "broken.yaml").write_text("notebook: [unclosed\n")  # not YAML: shown broken by the app, grants nothing
    proxy = {"header": "X-Forwarded-Email", "trusted": "127.0.0.1", "groups_header": None}
    with pytest.raises(ConfigError, match="sign-in is on but no --access file"):
        prepare_auth(configs=folder, home=tmp_path, auth=None, access=None, **proxy)
    config(folder, "access:\n  - users: [dan@example.com]\n    role: runner\n")
    prepared = prepare_auth(configs=folder, home=tmp_path, auth=None, access=None, **proxy)
    assert "LIVEDOCS_ACCESS" not in prepared.env
    assert prepared.summary.endswith("; roles from the configs' access: blocks only (1 rule)")
    plain = prepare_auth(configs=folder, home=tmp_path, auth=None, access=None, header=None, trusted=None,
                         groups_header=None)
    assert plain.summary.endswith("the configs' access: blocks apply only with sign-in (--auth or --auth-header)")
    config(folder, "access:\n  - users: [dan@example.com]\n    role: owner\n")
    with pytest.raises(ConfigError) as caught:
        prepare_auth(configs=folder, home=tmp_path, auth=None, access=None, **proxy)
    assert caught.value.message == f"{folder}/pricing.yaml, line 4: unknown role 'owner'."
