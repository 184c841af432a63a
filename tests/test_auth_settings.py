"""How identity is established: the auth file, secrets that never show, the trusted-proxy check,
the provider check against a real local HTTP server, and the secrets file Streamlit reads."""

from __future__ import annotations

import ipaddress
import os
import pickle
import stat
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedocs_runner.access import AccessDenied, Identity
from livedocs_runner.auth import (AuthSettings, Secret, check_provider, identity_from_claims, identity_from_proxy,
                                  load_auth, proxy_settings, settings_from_env, trusted_address,
                                  write_streamlit_secrets)
from livedocs_runner.errors import ConfigError
from tests.discovery_server import discovery_server

CLIENT_SECRET = "cs-7f3a9c1e5b2d4-very-secret"
COOKIE_SECRET = "ck-0123456789abcdef0123456789abcdef"
ENV = {"OIDC_SECRET": CLIENT_SECRET, "OIDC_COOKIE": COOKIE_SECRET}

GOOD_TOML = """\
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
client_id = "livedocs"
client_secret_env = "OIDC_SECRET"
cookie_secret_env = "OIDC_COOKIE"
redirect_uri = "http://localhost:8501/oauth2callback"
groups_claim = "groups"
"""


def write(tmp_path: Path, text: str, name: str = "auth.toml", mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    path.chmod(mode)
    return path


def oidc_settings(tmp_path: Path, text: str = GOOD_TOML, **env: str) -> AuthSettings:
    return load_auth(write(tmp_path, text), {**ENV, **env})


# -- identities ------------------------------------------------------------------------------------------------

SETTINGS = AuthSettings(mode="oidc", groups_claim="groups")


@pytest.mark.parametrize(("claims", "identity"), [
    ({"is_logged_in": True, "email": "alice@example.com", "groups": ["risk", "all"]},
     Identity("alice@example.com", "oidc", frozenset({"risk", "all"}))),
    ({"is_logged_in": True, "email": " alice@example.com ", "groups": "risk"},
     Identity("alice@example.com", "oidc", frozenset({"risk"}))),
    ({"is_logged_in": True, "email": "a@b", "groups": [1, None, "", "x"]}, Identity("a@b", "oidc", frozenset({"x"}))),
    ({"is_logged_in": True, "email": "a@b"}, Identity("a@b", "oidc")),
])
def test_identity_from_claims(claims: dict, identity: Identity) -> None:
    assert identity_from_claims(claims, SETTINGS) == identity


def test_identity_from_claims_uses_the_configured_claims() -> None:
    settings = AuthSettings(mode="oidc", user_claim="preferred_username")
    got = identity_from_claims({"is_logged_in": True, "email": "x@y", "preferred_username": "alice", "groups": ["g"]}, settings)
    assert got == Identity("alice", "oidc")  # no groups_claim: the token's groups are not used


@pytest.mark.parametrize(("claims", "message"), [
    ({}, "not signed in"),
    ({"is_logged_in": False}, "not signed in"),
    ({"is_logged_in": True}, "no usable 'email' claim"),
    ({"is_logged_in": True, "email": "  "}, "no usable 'email' claim"),
    ({"is_logged_in": True, "email": ["a"]}, "no usable 'email' claim"),
    ({"is_logged_in": True, "email": "a\nb"}, "no usable 'email' claim"),
])
def test_identity_from_claims_refuses(claims: dict, message: str) -> None:
    with pytest.raises(AccessDenied, match=message):
        identity_from_claims(claims, SETTINGS)


PROXY = proxy_settings("X-Forwarded-Email", "127.0.0.1/32, 10.1.0.0/16, ::1, fd00::/8", "X-Forwarded-Groups")


@pytest.mark.parametrize(("address", "trusted"), [
    ("127.0.0.1", True), ("10.1.200.3", True), ("10.2.0.1", False), ("192.168.1.5", False),
    ("::1", True), ("fd00::17", True), ("fe80::1", False), ("::ffff:127.0.0.1", True), ("::ffff:10.2.0.1", False),
    ("fd00::1%eth0", True), ("not an address", False), ("", False),
])
def test_trusted_address(address: str, trusted: bool) -> None:
    assert trusted_address(address, PROXY.trusted) is trusted


def test_identity_from_a_trusted_proxy() -> None:
    headers = {"x-forwarded-email": " alice@example.com ", "X-Forwarded-Groups": "risk, ops,,"}
    assert identity_from_proxy(headers, "10.1.0.9", PROXY) == Identity("alice@example.com", "proxy", frozenset({"risk", "ops"}))
    assert identity_from_proxy({"X-Forwarded-Email": "bob"}, "::1", PROXY) == Identity("bob", "proxy")
    repeated = {"X-Forwarded-Email": "carol", "x-forwarded-groups": ["lab", "ops,staff"]}  # one line per group
    assert identity_from_proxy(repeated, "127.0.0.1", PROXY).groups == {"lab", "ops", "staff"}
    with pytest.raises(AccessDenied, match="no usable X-Forwarded-Email"):  # two names on two lines: neither is believed
        identity_from_proxy({"X-Forwarded-Email": ["alice", "mallory"]}, "127.0.0.1", PROXY)


def test_identity_from_streamlit_headers() -> None:
    """Streamlit's own header mapping, repeated lines included (``get_all``)."""
    pytest.importorskip("streamlit")
    from streamlit.runtime.context import StreamlitHeaders

    headers = StreamlitHeaders([("X-Forwarded-Email", "alice@example.com"), ("X-Forwarded-Groups", "lab"),
                                ("x-forwarded-groups", "ops,staff")])
    assert identity_from_proxy(headers, "127.0.0.1", PROXY) == Identity("alice@example.com", "proxy",
                                                                         frozenset({"lab", "ops", "staff"}))
    twice = StreamlitHeaders([("X-Forwarded-Email", "alice@example.com"), ("X-Forwarded-Email", "mallory@example.com")])
    with pytest.raises(AccessDenied, match="no usable X-Forwarded-Email"):
        identity_from_proxy(twice, "127.0.0.1", PROXY)
    with pytest.raises(AccessDenied, match="no usable X-Forwarded-Email"):
        identity_from_proxy(StreamlitHeaders([]), "127.0.0.1", PROXY)


@pytest.mark.parametrize(("headers", "address", "message"), [
    ({"X-Forwarded-Email": "alice@example.com"}, "192.168.1.5", "request from 192.168.1.5 did not come through a trusted proxy"),
    ({"X-Forwarded-Email": "alice@example.com"}, "2001:db8::1", "request from 2001:db8::1 did not come through a trusted proxy"),
    ({"X-Forwarded-Email": "alice@example.com"}, None, "request from an unknown address did not come"),
    ({}, "127.0.0.1", "the proxy sent no usable X-Forwarded-Email header"),
    ({"X-Forwarded-Email": "   "}, "127.0.0.1", "the proxy sent no usable X-Forwarded-Email header"),
    ({"X-Forwarded-Email": "a\x1b[31mb"}, "127.0.0.1", "the proxy sent no usable X-Forwarded-Email header"),
    ({"X-Forwarded-Email": "alice@example.com, mallory@example.com"}, "127.0.0.1", "no usable X-Forwarded-Email header"),
])
def test_identity_from_proxy_refuses(headers: dict, address: str | None, message: str) -> None:
    with pytest.raises(AccessDenied, match=message.replace("[", r"\[")):
        identity_from_proxy(headers, address, PROXY)


@pytest.mark.parametrize(("header", "trusted", "message"), [
    ("X-Forwarded-Email", "", "--auth-header X-Forwarded-Email needs --trusted-proxy"),
    ("X-Forwarded-Email", " , ", "--trusted-proxy names no address"),
    ("X-Forwarded-Email", "127.0.0.1/33", "--trusted-proxy: '127.0.0.1/33' is not an address or network"),
    ("X-Forwarded-Email", "10.0.0.1/8", "--trusted-proxy: '10.0.0.1/8' is not an address or network"),
    ("X Forwarded", "127.0.0.1", "--auth-header: 'X Forwarded' is not an HTTP header name"),
])
def test_bad_proxy_settings(header: str, trusted: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        proxy_settings(header, trusted)


def test_settings_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from_env({}) == AuthSettings(mode="none")
    proxy = settings_from_env({"LIVEDOCS_AUTH_HEADER": "X-Auth", "LIVEDOCS_TRUSTED_PROXY": "127.0.0.1"})
    assert proxy.mode == "proxy" and proxy.header == "X-Auth" and proxy.trusted == (ipaddress.ip_network("127.0.0.1/32"),)
    with pytest.raises(ConfigError, match="needs --trusted-proxy"):
        settings_from_env({"LIVEDOCS_AUTH_HEADER": "X-Auth"})
    for key in ENV:  # the app runs without the secrets' variables: st.login reads the file livedocs app wrote
        monkeypatch.delenv(key, raising=False)
    path = write(tmp_path, GOOD_TOML)
    settings = settings_from_env({"LIVEDOCS_AUTH": str(path)})
    assert (settings.mode, settings.user_claim, settings.groups_claim) == ("oidc", "email", "groups")
    assert settings.client_secret.reveal() == "" and settings.cookie_secret.reveal() == ""
    assert settings.secret_env == ("OIDC_SECRET", "OIDC_COOKIE")
    with pytest.raises(ConfigError, match="client_secret is missing"):  # still checked: configured, just not read
        settings_from_env({"LIVEDOCS_AUTH": str(write(tmp_path, GOOD_TOML.replace('client_secret_env = "OIDC_SECRET"\n', "")))})
    with pytest.raises(ConfigError, match="both LIVEDOCS_AUTH and LIVEDOCS_AUTH_HEADER are set"):
        settings_from_env({"LIVEDOCS_AUTH": str(path), "LIVEDOCS_AUTH_HEADER": "X-Auth"})


# -- the auth file ---------------------------------------------------------------------------------------------

def test_load_auth_toml(tmp_path: Path) -> None:
    settings = oidc_settings(tmp_path)
    assert settings.secret_env == ("OIDC_SECRET", "OIDC_COOKIE")
    assert (settings.mode, settings.client_id, settings.user_claim, settings.groups_claim) == ("oidc", "livedocs", "email", "groups")
    assert settings.redirect_uri == "http://localhost:8501/oauth2callback"
    assert settings.client_secret.reveal() == CLIENT_SECRET and settings.cookie_secret.reveal() == COOKIE_SECRET
    assert settings.scopes == "openid email profile"


def test_load_auth_yaml_with_inline_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, f"""\
        server_metadata_url: https://login.example.com/.well-known/openid-configuration
        client_id: livedocs
        client_secret: {CLIENT_SECRET}
        cookie_secret: {COOKIE_SECRET}
        redirect_uri: https://livedocs.example.com/oauth2callback
        user_claim: preferred_username
        scopes: openid   profile groups
        """, "auth.yaml")
    settings = load_auth(path, {})
    assert settings.user_claim == "preferred_username" and settings.scopes == "openid profile groups"
    assert settings.client_secret.reveal() == CLIENT_SECRET
    assert settings.where("redirect_uri") == f"{path}, line 5"


def test_secrets_never_show(tmp_path: Path) -> None:
    settings = oidc_settings(tmp_path)
    shown = [repr(settings), str(settings), f"{settings}", repr(settings.client_secret), f"{settings.cookie_secret}",
             str(vars(settings))]
    for text in shown:
        assert CLIENT_SECRET not in text and COOKIE_SECRET not in text
    with pytest.raises(TypeError):
        pickle.dumps(settings)
    unread = load_auth(write(tmp_path, GOOD_TOML), {}, resolve_secrets=False)  # what the app holds: picklable
    assert pickle.loads(pickle.dumps(unread)) == unread
    assert Secret("x") == Secret("x") and Secret("x") != Secret("y") and not Secret("")


@pytest.mark.parametrize(("text", "message"), [
    (GOOD_TOML.replace("client_id", "clientid"), "auth.toml, line 2: unknown key 'clientid'. Did you mean 'client_id'?"),
    (GOOD_TOML.replace('client_id = "livedocs"\n', ""), "auth.toml: client_id is missing. Add the client id"),
    (GOOD_TOML.replace('redirect_uri = "http://localhost:8501/oauth2callback"\n', ""), "auth.toml: redirect_uri is missing."),
    (GOOD_TOML.replace('cookie_secret_env = "OIDC_COOKIE"\n', ""), "auth.toml: cookie_secret is missing. Add cookie_secret_env"),
    (GOOD_TOML.replace("OIDC_SECRET", "NOT_SET_ANYWHERE"),
     "auth.toml, line 3: the environment variable 'NOT_SET_ANYWHERE' (client_secret_env) is not set. Export it"),
    (GOOD_TOML.replace('client_id = "livedocs"', "client_id = livedocs"), "auth.toml, line 2: malformed TOML: Invalid value."),
    (GOOD_TOML.replace('client_id = "livedocs"', "client_id = 12"), "auth.toml, line 2: client_id must be text, got 12."),
    (GOOD_TOML.replace("/oauth2callback", "/callback"), "auth.toml, line 5: 'http://localhost:8501/callback' is not an http(s) URL ending in /oauth2callback."),
    (GOOD_TOML.replace("http://127.0.0.1:9", "http://login.example.com"), "auth.toml, line 1: 'http://login.example.com/.well-known/openid-configuration' is plain http"),
    (GOOD_TOML.replace("http://127.0.0.1:9", "login.example.com"), "auth.toml, line 1: 'login.example.com/.well-known/openid-configuration' is not an http(s) URL."),
    (GOOD_TOML + 'scopes = "email profile"\n', "auth.toml, line 7: the scopes 'email profile' lack 'openid'."),
    (GOOD_TOML + 'groups_claim = "x"\n', "auth.toml, line 7: malformed TOML: Cannot overwrite a value."),
    ("[auth]\n" + GOOD_TOML, "auth.toml, line 1: the section 'auth' is not expected"),
    (GOOD_TOML + 'client_secret = "inline"\n', "auth.toml, line 3: both client_secret and client_secret_env are given."),
    (GOOD_TOML.replace('client_secret_env = "OIDC_SECRET"', 'client_secret = "  "'), "auth.toml: client_secret is missing."),
])
def test_bad_auth_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        oidc_settings(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path}/{message}"), str(caught.value)
    assert CLIENT_SECRET not in str(caught.value) and COOKIE_SECRET not in str(caught.value)


def test_short_cookie_secret_refused_without_showing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"auth.toml, line 4: the cookie secret is shorter than 32 characters") as caught:
        oidc_settings(tmp_path, OIDC_COOKIE="short-secret-value")
    assert "short-secret-value" not in str(caught.value)


def test_missing_auth_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"auth file .*none.toml does not exist. Check the path given with --auth"):
        load_auth(tmp_path / "none.toml", {})


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_inline_secret_in_a_readable_file_is_refused(tmp_path: Path, mode: int) -> None:
    text = GOOD_TOML.replace('client_secret_env = "OIDC_SECRET"', f'client_secret = "{CLIENT_SECRET}"')
    path = write(tmp_path, text, mode=mode)
    with pytest.raises(ConfigError) as caught:
        load_auth(path, ENV)
    assert str(caught.value) == (f"{path}, line 3: the file holds client_secret in clear but others may read it "
                                 f"(mode {mode:o}). Restrict it with `chmod 600 {path}`, or use client_secret_env.")
    assert CLIENT_SECRET not in str(caught.value)
    path.chmod(0o600)
    assert load_auth(path, ENV).client_secret.reveal() == CLIENT_SECRET


# -- the provider check against a real HTTP server ------------------------------------------------------------

@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with discovery_server() as url:
        yield url


def with_url(tmp_path: Path, url: str) -> AuthSettings:
    return oidc_settings(tmp_path, GOOD_TOML.replace("http://127.0.0.1:9/.well-known/openid-configuration", url))


def test_check_provider_ok(tmp_path: Path, provider: str) -> None:
    check_provider(with_url(tmp_path, provider + "/ok/.well-known/openid-configuration"), timeout=10)
    check_provider(AuthSettings(mode="none"))  # nothing to check
    check_provider(PROXY)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("path", "message"), [
    ("/html/.well-known/openid-configuration", "did not answer with JSON."),
    ("/partial/.well-known/openid-configuration", "is not OpenID Connect discovery metadata (no authorization_endpoint)."),
    ("/nothing/.well-known/openid-configuration", "the provider answered 404 Not Found for"),
])
def test_check_provider_refuses(tmp_path: Path, provider: str, path: str, message: str) -> None:
    settings = with_url(tmp_path, provider + path)
    with pytest.raises(ConfigError) as caught:
        check_provider(settings, timeout=10)
    assert str(caught.value).startswith(f"{tmp_path}/auth.toml, line 1: ") and message in str(caught.value)


def test_check_provider_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"  # nothing listens there
    with pytest.raises(ConfigError) as caught:
        check_provider(with_url(tmp_path, url), timeout=10)
    assert str(caught.value).startswith(f"{tmp_path}/auth.toml, line 1: cannot reach the provider at '{url}' (")
    assert "Check the URL and that this server can reach the provider" in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)


# -- the secrets file Streamlit reads ------------------------------------------------------------------------------

def test_write_streamlit_secrets(tmp_path: Path) -> None:
    settings = oidc_settings(tmp_path, GOOD_TOML + 'scopes = "openid email groups"\n')
    folder = tmp_path / "home" / "app"
    path = write_streamlit_secrets(settings, folder)
    assert path == folder / "secrets.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = tomllib.loads(path.read_text(encoding="utf-8"))
    assert written == {"auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": COOKIE_SECRET, "client_id": "livedocs",
        "client_secret": CLIENT_SECRET, "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
        "client_kwargs": {"scope": "openid email groups"}}}
    assert [p.name for p in folder.iterdir()] == ["secrets.toml"]  # no temp file left
    path.chmod(0o644)  # rewritten at every start, with its mode restored
    write_streamlit_secrets(settings, folder)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secrets_with_quotes_and_controls_round_trip(tmp_path: Path) -> None:
    odd = 'q"uo\\te\tand\x01 ünï 😀' + "x" * 32
    settings = oidc_settings(tmp_path, OIDC_SECRET=odd, OIDC_COOKIE=odd)
    written = tomllib.loads(write_streamlit_secrets(settings, tmp_path / "s").read_text(encoding="utf-8"))
    assert written["auth"]["client_secret"] == odd and written["auth"]["cookie_secret"] == odd


def test_streamlit_reads_the_written_section(tmp_path: Path) -> None:
    """Streamlit's own validation accepts the file (st.login's default provider is complete)."""
    pytest.importorskip("streamlit")
    from streamlit.auth_util import generate_default_provider_section
    from streamlit.runtime.secrets import AttrDict

    written = tomllib.loads(write_streamlit_secrets(oidc_settings(tmp_path), tmp_path / "s").read_text(encoding="utf-8"))
    section = generate_default_provider_section(AttrDict(written["auth"]))
    assert set(section) == {"client_id", "client_secret", "server_metadata_url", "client_kwargs"}
    assert {"redirect_uri", "cookie_secret"} <= set(written["auth"])


def test_without_oidc_the_secrets_file_has_no_auth_section(tmp_path: Path) -> None:
    path = write_streamlit_secrets(AuthSettings(mode="none"), tmp_path)
    assert tomllib.loads(path.read_text(encoding="utf-8")) == {}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_core_modules_do_not_load_streamlit_or_click() -> None:
    import subprocess
    import sys

    probe = ("import sys, livedocs_runner.access, livedocs_runner.auth\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'streamlit', 'click', 'yaml', 'urllib3'}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
