"""``livedocs app`` with sign-in and roles: everything is checked before Streamlit starts (exit 2, one
clear error naming the file and line), and the validated settings reach the app through its environment."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedocs_runner.cli.app import APP_SCRIPT, AppAuth, app_command, prepare_auth
from livedocs_runner.errors import ConfigError
from tests.conftest import CLI, REPO, cli_env, until
from tests.discovery_server import WELL_KNOWN, discovery_server

CLIENT_SECRET = "cs-7f3a9c1e5b2d4-very-secret"
COOKIE_SECRET = "ck-0123456789abcdef0123456789abcdef"
SECRETS_ENV = {"OIDC_SECRET": CLIENT_SECRET, "OIDC_COOKIE": COOKIE_SECRET}
CONFIGS = REPO / "configs"  # credit_risk, pricing_whatif


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real HTTP server answering OpenID Connect discovery (the metadata URL the app checks at start)."""
    with discovery_server() as url:
        yield url + WELL_KNOWN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def auth_toml(folder: Path, url: str, *, port: int = 8501, extra: str = "", mode: int = 0o600,
              name: str = "auth.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(f"""\
        server_metadata_url = "{url}"
        client_id = "livedocs"
        client_secret_env = "OIDC_SECRET"
        cookie_secret_env = "OIDC_COOKIE"
        redirect_uri = "http://localhost:{port}/oauth2callback"
        groups_claim = "groups"
        """) + extra, encoding="utf-8")
    path.chmod(mode)
    return path


def access_yaml(folder: Path, text: str = "rules:\n  - configs: credit_*\n    users: [alice@example.com]\n    role: runner\n") -> Path:
    path = folder / "access.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def livedocs_app(home: Path, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real CLI; a start that got through would serve forever, so the timeout fails the test."""
    return subprocess.run([*CLI, "app", "--configs", str(CONFIGS), *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=cli_env(home, {**SECRETS_ENV, **(env or {})}))


# -- app_command stays pure --------------------------------------------------------------------------------------

def test_app_command_passes_the_validated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEDOCS_ACCESS", "/stale/access.yaml")  # inherited, not validated: never passed on
    monkeypatch.setenv("LIVEDOCS_TRUSTED_PROXY", "0.0.0.0/0")
    secrets = tmp_path / "app" / "secrets.toml"
    argv, env = app_command(APP_SCRIPT, configs=CONFIGS, home=tmp_path, port=9000, workers=1,
                            auth_env={"LIVEDOCS_AUTH": "/x/auth.toml", "LIVEDOCS_ACCESS": "/x/access.yaml", "OTHER": "no"},
                            secrets_file=secrets)
    assert argv[argv.index("--secrets.files") + 1] == str(secrets)
    assert (env["LIVEDOCS_AUTH"], env["LIVEDOCS_ACCESS"]) == ("/x/auth.toml", "/x/access.yaml")
    assert "LIVEDOCS_TRUSTED_PROXY" not in env and "OTHER" not in env and "FORWARDED_ALLOW_IPS" not in env
    monkeypatch.setenv("OIDC_SECRET", CLIENT_SECRET)
    _, env = app_command(APP_SCRIPT, configs=CONFIGS, home=tmp_path, port=9000, workers=1, hide_env=("OIDC_SECRET",))
    assert "OIDC_SECRET" not in env
    argv, env = app_command(APP_SCRIPT, configs=CONFIGS, home=tmp_path, port=9000, workers=1)
    assert "--secrets.files" not in argv and "LIVEDOCS_ACCESS" not in env and "LIVEDOCS_AUTH" not in env
    _, env = app_command(APP_SCRIPT, configs=CONFIGS, home=tmp_path, port=9000, workers=1,
                         auth_env={"LIVEDOCS_AUTH_HEADER": "X-Forwarded-Email", "LIVEDOCS_TRUSTED_PROXY": "127.0.0.1/32"})
    # uvicorn must not replace the proxy's address by the X-Forwarded-For it sends: the check needs the real peer
    assert env["FORWARDED_ALLOW_IPS"] == "" and env["LIVEDOCS_TRUSTED_PROXY"] == "127.0.0.1/32"


def test_prepare_auth_oidc_writes_the_secrets_file(tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRETS_ENV.items():
        monkeypatch.setenv(key, value)
    auth, access = auth_toml(tmp_path, provider), access_yaml(tmp_path)
    prepared = prepare_auth(configs=CONFIGS, home=tmp_path / "home", auth=auth, access=access, header=None,
                            trusted=None, groups_header=None)
    env, secrets, how = prepared.env, prepared.secrets_file, prepared.summary
    assert env == {"LIVEDOCS_AUTH": str(auth), "LIVEDOCS_ACCESS": str(access)}
    assert prepared.hide_env == ("OIDC_SECRET", "OIDC_COOKIE")
    assert secrets == tmp_path / "home" / "app" / "secrets.toml" and stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert tomllib.loads(secrets.read_text())["auth"]["client_secret"] == CLIENT_SECRET
    assert how == f"sign-in with OpenID Connect ({provider}); roles from {access}"
    assert CLIENT_SECRET not in how and COOKIE_SECRET not in how


def test_prepare_auth_proxy(tmp_path: Path) -> None:
    access = access_yaml(tmp_path)
    prepared = prepare_auth(configs=CONFIGS, home=tmp_path, auth=None, access=access, header="X-Forwarded-Email",
                            trusted="127.0.0.1, ::1", groups_header="X-Forwarded-Groups")
    env, secrets, how = prepared.env, prepared.secrets_file, prepared.summary
    assert env == {"LIVEDOCS_AUTH_HEADER": "X-Forwarded-Email", "LIVEDOCS_TRUSTED_PROXY": "127.0.0.1/32,::1/128",
                   "LIVEDOCS_AUTH_GROUPS_HEADER": "X-Forwarded-Groups", "LIVEDOCS_ACCESS": str(access.resolve())}
    assert secrets is None and how == "the X-Forwarded-Email header from 127.0.0.1/32, ::1/128; roles from " + str(access)
    assert prepare_auth(configs=CONFIGS, home=tmp_path, auth=None, access=None, header=None, trusted=None,
                        groups_header=None) == AppAuth({}, None, (), "no sign-in (names are self-declared)")


# -- refusals, through the real CLI ------------------------------------------------------------------------------

def refusals(folder: Path, provider: str) -> list[tuple[list[str | Path], str, str]]:
    """(arguments, the first line of stderr, the fix on the second line), made in ``folder``."""
    nowhere = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    bad = folder / "bad.toml"
    bad.write_text('server_metadata_url = "x"\nclient_id = livedocs\n', encoding="utf-8")
    good = auth_toml(folder, provider)
    inline = auth_toml(folder, provider, name="inline.toml", mode=0o644,
                       extra="").read_text().replace('client_secret_env = "OIDC_SECRET"', f'client_secret = "{CLIENT_SECRET}"')
    (folder / "inline.toml").write_text(inline)
    unreachable = auth_toml(folder, nowhere, name="far.toml")
    other_port = auth_toml(folder, provider, port=8600, name="port.toml")
    roles = access_yaml(folder, "rules:\n  - configs: '*'\n    users: [a@example.com]\n    role: superuser\n")
    (folder / "glob.yaml").write_text("rules:\n  - configs: [credit_risk, risk_*]\n    users: [a]\n    role: viewer\n")
    return [
        (["--auth", bad], f"Error: {bad}, line 2: malformed TOML: Invalid value.",
         'Write one `key = "value"` per line, with the value in double quotes.'),
        (["--auth", folder / "missing.toml"], f"Error: auth file {folder / 'missing.toml'} does not exist.",
         "Check the path given with --auth or LIVEDOCS_AUTH."),
        (["--auth", folder / "inline.toml"], f"Error: {folder / 'inline.toml'}, line 3: the file holds client_secret in "
         "clear but others may read it (mode 644).", f"Restrict it with `chmod 600 {folder / 'inline.toml'}`, or use client_secret_env."),
        (["--auth", unreachable], f"Error: {unreachable}, line 1: cannot reach the provider at '{nowhere}' (",
         "Check the URL and that this server can reach the provider (network, proxy, firewall)."),
        (["--auth", other_port], f"Error: {other_port}, line 5: the redirect URI 'http://localhost:8600/oauth2callback' "
         "names port 8600, but the app listens on 8501.", "Use --port 8600, or change the redirect URI"),
        (["--auth", good, "--access", roles], f"Error: {roles}, line 4: unknown role 'superuser'.",
         "Use one of: viewer, runner, admin."),
        (["--auth", good, "--access", folder / "glob.yaml"], f"Error: {folder / 'glob.yaml'}, line 2: 'risk_*' matches no config.",
         "The configs are: credit_risk, credit_risk_r, pricing_whatif."),
        (["--auth", good, "--access", folder / "none.yaml"], f"Error: access file {folder / 'none.yaml'} does not exist.",
         "Check the path given with --access or LIVEDOCS_ACCESS."),
        (["--access", roles], f"Error: --access {roles} needs sign-in: roles are about verified users.",
         "Add --auth FILE (OpenID Connect) or --auth-header NAME --trusted-proxy CIDR."),
        (["--auth-header", "X-Forwarded-Email"], "Error: --auth-header X-Forwarded-Email needs --trusted-proxy: without "
         "it anyone could send that header.", "Give the proxy's address, e.g. --trusted-proxy 127.0.0.1/32."),
        (["--auth-header", "X-Forwarded-Email", "--trusted-proxy", "localhost"],
         "Error: --trusted-proxy: 'localhost' is not an address or network", "Write addresses or CIDR networks"),
        (["--trusted-proxy", "127.0.0.1"], "Error: --trusted-proxy is given without --auth-header.",
         "Name the header the proxy sets, e.g. --auth-header X-Forwarded-Email."),
        (["--auth", good], "Error: sign-in is on but no --access file (nor any config's access: block) says who may do "
         "what, so nobody could open a notebook.", "Give --access access.yaml; a rule for everyone signed in is"),
        (["--auth-header", "X-Forwarded-Email", "--trusted-proxy", "127.0.0.1"], "Error: sign-in is on but no --access "
         "file (nor any config's access: block) says who may do what", "Give --access access.yaml"),
        (["--auth", good, "--auth-header", "X-Forwarded-Email", "--trusted-proxy", "127.0.0.1"],
         "Error: --auth and --auth-header are both given.", "Use sign-in with OpenID Connect (--auth FILE) or a trusted proxy"),
    ]


def test_livedocs_app_refuses_to_start(tmp_path: Path, provider: str) -> None:
    """Each bad setting: exit 2, the error line then the fix, no traceback, Streamlit never started, no secrets file."""
    for args, first, fix in refusals(tmp_path, provider):
        home = tmp_path / "home"
        result = livedocs_app(home, *args)
        lines = result.stderr.splitlines()
        assert result.returncode == 2, (args, result.stderr)
        assert len(lines) == 2 and lines[0].startswith(first) and lines[1].startswith(fix), (args, lines)
        assert "Serving" not in result.stderr and result.stdout == ""
        assert CLIENT_SECRET not in result.stderr and COOKIE_SECRET not in result.stderr
        assert not (home / "app" / "secrets.toml").exists()


def test_livedocs_app_reads_the_settings_from_the_environment(tmp_path: Path) -> None:
    result = livedocs_app(tmp_path / "home", env={"LIVEDOCS_AUTH": str(tmp_path / "nope.toml")})
    assert result.returncode == 2 and result.stderr.startswith(f"Error: auth file {tmp_path / 'nope.toml'} does not exist.")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads the app's environment from /proc")
def test_livedocs_app_starts_with_sign_in_and_roles(tmp_path: Path, provider: str) -> None:
    """A valid setup starts Streamlit with the secrets file it wrote (0600); the secrets appear in no output."""
    port = free_port()
    home = tmp_path / "home"
    auth, access = auth_toml(tmp_path, provider, port=port), access_yaml(tmp_path)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([*CLI, "app", "--configs", str(CONFIGS), "--port", str(port), "--auth", auth,
                                 "--access", access], cwd=REPO, stdout=stdout, stderr=stderr,
                                env=cli_env(home, SECRETS_ENV))
        try:
            def healthy() -> bool:
                assert proc.poll() is None, err.read_text()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as response:
                        return response.status == 200
                except OSError:
                    return False

            until(healthy, "the app to answer its health check", timeout=120)
            secrets = home / "app" / "secrets.toml"
            assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
            assert tomllib.loads(secrets.read_text())["auth"]["redirect_uri"] == f"http://localhost:{port}/oauth2callback"
            environ = (Path("/proc") / str(proc.pid) / "environ").read_bytes().split(b"\0")
            assert f"LIVEDOCS_ACCESS={access}".encode() in environ and f"LIVEDOCS_AUTH={auth}".encode() in environ
            # the secrets' variables stay out of the app's environment (and so out of its kernels')
            assert not any(CLIENT_SECRET.encode() in item or COOKIE_SECRET.encode() in item for item in environ)
            assert not any(item.startswith((b"OIDC_SECRET=", b"OIDC_COOKIE=")) for item in environ)
            cmdline = (Path("/proc") / str(proc.pid) / "cmdline").read_bytes().split(b"\0")
            assert str(secrets).encode() in cmdline
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    shown = out.read_text() + err.read_text()
    assert f"Access: sign-in with OpenID Connect ({provider}); roles from {access}" in shown
    assert CLIENT_SECRET not in shown and COOKIE_SECRET not in shown


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_secrets_file_is_private_even_with_a_lax_umask(tmp_path: Path, provider: str) -> None:
    code = ("import os, sys; os.umask(0); from pathlib import Path; from livedocs_runner.auth import load_auth, "
            "write_streamlit_secrets; p = write_streamlit_secrets(load_auth(Path(sys.argv[1])), Path(sys.argv[2])); "
            "print(oct(p.stat().st_mode & 0o777), oct(p.parent.stat().st_mode & 0o777))")
    done = subprocess.run([sys.executable, "-c", code, str(auth_toml(tmp_path, provider)), str(tmp_path / "app")],
                          capture_output=True, text=True, env={**os.environ, **SECRETS_ENV}, check=True)
    assert done.stdout.split()[0] == "0o600"


def test_refusals_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        prepare_auth(configs=CONFIGS, home=tmp_path, auth=None, access=access_yaml(tmp_path), header=None, trusted=None,
                     groups_header=None)


def test_behind_a_proxy_the_app_sees_the_real_peer(tmp_path: Path) -> None:
    """Streamlit serves through uvicorn, which by default replaces a loopback peer's address by the
    X-Forwarded-For it sends; with the environment `livedocs app` gives it in proxy mode it does not,
    so the trusted-proxy check sees the proxy's own address."""
    pytest.importorskip("uvicorn")
    _, env = app_command(APP_SCRIPT, configs=CONFIGS, home=tmp_path, port=9000, workers=1,
                         auth_env={"LIVEDOCS_AUTH_HEADER": "X-Forwarded-Email", "LIVEDOCS_TRUSTED_PROXY": "127.0.0.1/32"})
    probe = textwrap.dedent("""\
        import asyncio, uvicorn
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
        seen = []
        async def app(scope, receive, send):
            seen.append(scope["client"][0])
        config = uvicorn.Config(app)
        wrapped = ProxyHeadersMiddleware(app, trusted_hosts=config.forwarded_allow_ips)
        scope = {"type": "websocket", "client": ("127.0.0.1", 5000), "headers": [(b"x-forwarded-for", b"203.0.113.9")]}
        asyncio.run(wrapped(scope, None, None))
        print(seen[0])
        """)
    with_proxy_env = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert with_proxy_env.stdout.strip() == "127.0.0.1"
    plain = {k: v for k, v in env.items() if k != "FORWARDED_ALLOW_IPS"}
    default = subprocess.run([sys.executable, "-c", probe], env=plain, capture_output=True, text=True, check=True)
    assert default.stdout.strip() == "203.0.113.9"  # without it: the address the proxy forwarded, not the proxy
