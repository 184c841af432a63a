"""Roles per notebook: the access file, role resolution (globs, groups, default-deny) and its errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from livedocs_runner.access import (AccessDenied, AccessPolicy, Identity, Role, config_rules, load_access,
                                    policy_from_env, with_rules)
from livedocs_runner.errors import ConfigError

CONFIGS = ["credit_risk", "credit_limits", "pricing_whatif", "hr_salaries"]

ACCESS = """\
groups:
  risk-team: [alice@example.com, Bob@Example.com]
rules:
  - configs: "credit_*"
    groups: [risk-team]
    role: runner
  - configs: [credit_risk, pricing_whatif]
    users: [viv@example.com]
    role: viewer
  - configs: "*"
    users: [carol@example.com]
    role: admin
  - configs: credit_risk
    users: [alice@example.com]
    role: admin
  - configs: pricing_whatif
    groups: [pricing]
    role: runner
  - configs: pricing_whatif
    users: "*"
    role: viewer
"""


def write(tmp_path: Path, text: str, name: str = "access.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def policy(tmp_path: Path) -> AccessPolicy:
    return load_access(write(tmp_path, ACCESS), CONFIGS)


def oidc(name: str, *groups: str) -> Identity:
    return Identity(name=name, auth="oidc", groups=frozenset(groups))


@pytest.mark.parametrize(("who", "config", "role"), [
    (oidc("alice@example.com"), "credit_risk", Role.ADMIN),  # several rules: the highest wins
    (oidc("alice@example.com"), "credit_limits", Role.RUNNER),  # glob, group listed in the file
    (oidc("alice@example.com"), "hr_salaries", Role.NONE),  # default-deny
    (oidc("bob@example.com"), "credit_limits", Role.RUNNER),  # file group members ignore case
    (oidc("BOB@EXAMPLE.COM"), "credit_risk", Role.RUNNER),
    (oidc("dave@example.com", "risk-team"), "credit_risk", Role.RUNNER),  # group from the token
    (oidc("dave@example.com", "Risk-Team"), "credit_risk", Role.NONE),  # group names are exact
    (oidc("dave@example.com", "pricing"), "pricing_whatif", Role.RUNNER),
    (oidc("viv@example.com"), "credit_risk", Role.VIEWER),
    (oidc("viv@example.com"), "credit_limits", Role.NONE),
    (oidc("carol@example.com"), "hr_salaries", Role.ADMIN),
    (oidc("nobody@example.com"), "credit_risk", Role.NONE),  # unknown user
    (oidc("nobody@example.com"), "pricing_whatif", Role.VIEWER),  # users: "*" is everyone signed in
    (Identity(name="nobody", auth="proxy"), "pricing_whatif", Role.VIEWER),
    (Identity(name="carol@example.com", auth="none"), "credit_risk", Role.NONE),  # self-declared: no rule applies
    (oidc(""), "pricing_whatif", Role.NONE),
    (oidc("carol@example.com"), "not_a_config", Role.ADMIN),  # '*' covers configs added later too
])
def test_role_resolution(policy: AccessPolicy, who: Identity, config: str, role: Role) -> None:
    assert policy.role(who, config) is role
    assert policy.allows(who, config, role)
    assert role == Role.ADMIN or not policy.allows(who, config, Role(role + 1))


@pytest.mark.parametrize("who", [oidc("anyone"), Identity(name="me", auth="none"), Identity(name="", auth="none")])
def test_open_policy_gives_everyone_admin(who: Identity) -> None:
    assert AccessPolicy.open().role(who, "credit_risk") is Role.ADMIN
    assert AccessPolicy.open().visible(who, CONFIGS) == CONFIGS


def test_visible_lists_only_what_one_may_view(policy: AccessPolicy) -> None:
    assert policy.visible(oidc("viv@example.com"), CONFIGS) == ["credit_risk", "pricing_whatif"]
    assert policy.visible(oidc("nobody@example.com"), CONFIGS) == ["pricing_whatif"]


def test_require_raises_access_denied(policy: AccessPolicy) -> None:
    policy.require(oidc("alice@example.com"), "credit_risk", Role.ADMIN)
    with pytest.raises(AccessDenied, match="may not run 'credit_limits': it needs the role runner") as caught:
        policy.require(oidc("viv@example.com"), "credit_limits", Role.RUNNER, action="run")
    assert caught.value.exit_code == 2 and caught.value.user == "viv@example.com"


def test_roles_are_ordered() -> None:
    assert Role.NONE < Role.VIEWER < Role.RUNNER < Role.ADMIN
    assert [r.label for r in Role] == ["none", "viewer", "runner", "admin"]


def test_identity_verified() -> None:
    assert oidc("a").verified and Identity("a", "proxy").verified and not Identity("a", "none").verified


@pytest.mark.parametrize(("text", "message"), [
    ("rules:\n  - configs: '*'\n    users: [a]\n    role: runer\n",
     "access.yaml, line 4: unknown role 'runer'. Did you mean 'runner'?"),
    ("rules:\n  - configs: '*'\n    users: [a]\n    role: owner\n",
     "access.yaml, line 4: unknown role 'owner'. Use one of: viewer, runner, admin."),
    ("rules:\n  - configs: [credit_risk, 'credit_rsk*']\n    users: [a]\n    role: viewer\n",
     "access.yaml, line 2: 'credit_rsk*' matches no config. Did you mean 'credit_risk'?"),
    ("rules:\n  - configs:\n      - credit_risk\n      - payroll\n    users: [a]\n    role: viewer\n",
     "access.yaml, line 4: 'payroll' matches no config. The configs are: credit_limits, credit_risk, hr_salaries, pricing_whatif."),
    ("rules:\n  - configs: '*'\n    user: [a]\n    role: viewer\n",
     "access.yaml, line 3: unknown key 'user'. Did you mean 'users'?"),
    ("rulez:\n  - configs: '*'\n", "access.yaml, line 1: unknown key 'rulez'. Did you mean 'rules'?"),
    ("rules:\n  - configs: '*'\n    role: viewer\n",
     "access.yaml, line 2: the rule names no 'users' or 'groups'."),
    ("rules:\n  - configs: '*'\n    users: [a]\n", "access.yaml, line 2: the rule has no 'role'."),
    ("rules:\n  - users: [a]\n    role: viewer\n", "access.yaml, line 2: the rule has no 'configs'."),
    ("rules: []\n", "access.yaml, line 1: 'rules' must be a non-empty list of rules."),
    ("rules:\n  - configs: '*'\n    users: [a, 3]\n    role: viewer\n",
     "access.yaml, line 3: 'users' must list user names as text, got 3. Quote it."),
    ("rules:\n  - configs: '*'\n    users: [a\n    role: viewer\n", "access.yaml, line 4: malformed YAML"),
    ("- just a list\n", "access.yaml: an access file is a mapping with 'rules'"),
    ("groups: [a, b]\nrules: []\n", "access.yaml, line 1: 'groups' must map a group name to a list of users"),
    ("rules:\n  - just text\n", "access.yaml, line 2: a rule must be a mapping"),
])
def test_bad_access_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_access(path, CONFIGS)
    assert str(caught.value).startswith(f"{tmp_path}/{message}"), str(caught.value)
    assert caught.value.exit_code == 2


def test_missing_access_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="access file .*nope.yaml does not exist. Check the path given with --access"):
        load_access(tmp_path / "nope.yaml", CONFIGS)


def test_policy_from_env(tmp_path: Path) -> None:
    assert policy_from_env({}, CONFIGS).is_open
    assert policy_from_env({"LIVEDOCS_ACCESS": ""}, CONFIGS).is_open
    policy = policy_from_env({"LIVEDOCS_ACCESS": str(write(tmp_path, ACCESS))}, CONFIGS)
    assert not policy.is_open and policy.role(oidc("carol@example.com"), "credit_risk") is Role.ADMIN


def test_rules_from_a_config_apply_to_that_config_only(tmp_path: Path, policy: AccessPolicy) -> None:
    from livedocs_runner.yamlfile import load_yaml

    doc = load_yaml(write(tmp_path, "notebook: x.ipynb\naccess:\n  - users: [erin@example.com]\n    role: runner\n",
                          "hr_salaries.yaml"))
    combined = with_rules(policy, config_rules(doc.data["access"], "hr_salaries", doc))
    assert combined.role(oidc("erin@example.com"), "hr_salaries") is Role.RUNNER
    assert combined.role(oidc("erin@example.com"), "credit_risk") is Role.NONE
    assert with_rules(AccessPolicy.open(), combined.rules).is_open
    bad = load_yaml(write(tmp_path, "access:\n  - users: [e]\n    configs: '*'\n    role: runner\n", "bad.yaml"))
    with pytest.raises(ConfigError, match=r"bad.yaml, line 3: an 'access' rule inside a config applies to that config only"):
        config_rules(bad.data["access"], "hr_salaries", bad)
