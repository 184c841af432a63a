"""``livedocs app``: serve every config as a web form (Streamlit runs ``apps/livedocs_app.py``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from ..errors import ConfigError, LivedocsError
from . import cli, db_of, home_of
from .format import safe

APP_SCRIPT = Path(__file__).resolve().parents[2] / "apps" / "livedocs_app.py"
# starts the app's worker (queued runs resume before anyone opens a page), warms kernels, templates and imports for
# every catalog notebook, then runs Streamlit's command line in the same process
SERVE_SCRIPT = APP_SCRIPT.with_name("livedocs_serve.py")


DEFAULT_HOST = "127.0.0.1"  # only this machine: serving others is a decision (--host 0.0.0.0)


AUTH_ENV = ("LIVEDOCS_AUTH", "LIVEDOCS_ACCESS", "LIVEDOCS_AUTH_HEADER", "LIVEDOCS_TRUSTED_PROXY",
            "LIVEDOCS_AUTH_GROUPS_HEADER")


def app_command(script: Path, *, configs: Path, home: Path, port: int, workers: int,
                host: str = DEFAULT_HOST, auth_env: Mapping[str, str] | None = None,
                secrets_file: Path | None = None, hide_env: Collection[str] = (),
                worker: bool = True, db: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The Streamlit command line and environment that serve the app (pure: used by tests too).

    Streamlit's command line, run by ``apps/livedocs_serve.py``, which starts the app's worker and warms it up first.

    Tracebacks never reach the browser (``client.showErrorDetails none``): the app shows a short
    message with a reference id and logs the details on the server. ``auth_env`` holds the validated
    sign-in settings (:data:`AUTH_ENV` names; any others inherited from this process are dropped);
    ``secrets_file`` is the ``[auth]`` file ``st.login`` reads; ``hide_env`` names variables kept out of the
    app's environment (the secrets' ``*_env`` variables: the app and its kernels never see them). ``worker=False``
    (``--no-worker``): the app runs no runs itself (``LIVEDOCS_APP_WORKER=0``). Behind a trusted proxy uvicorn is told
    to trust no ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS=""``), so the app sees the real peer address.
    """
    argv = [sys.executable, str(SERVE_SCRIPT), "run", str(script), "--server.address", host,
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
            "--client.showErrorDetails", "none",
            # no full garbage collection after every script and fragment run: with the runner and its libraries
            # loaded it held the GIL ~15 ms per run, a sixth of the server's GIL time with ten sessions (Python's
            # own generational collection still runs)
            "--runner.postScriptGC", "false"]
    if secrets_file is not None:
        argv += ["--secrets.files", str(secrets_file)]
    env = {key: value for key, value in os.environ.items() if key not in AUTH_ENV and key not in hide_env}
    env.update({"LIVEDOCS_CONFIGS": str(configs.resolve()), "LIVEDOCS_HOME": str(home.resolve()),
                "LIVEDOCS_WORKERS": str(workers), "LIVEDOCS_APP_WORKER": "1" if worker else "0"})
    if db:  # --db URL: the app and its worker open the same store
        env["LIVEDOCS_DB"] = db
    env.update({key: value for key, value in (auth_env or {}).items() if key in AUTH_ENV and value})
    if env.get("LIVEDOCS_AUTH_HEADER"):
        env["FORWARDED_ALLOW_IPS"] = ""
    return argv, env


@dataclass(frozen=True)
class AppAuth:
    """Validated sign-in settings for the app: its environment, the secrets file ``st.login`` reads (or
    None), the variables to keep out of its environment, and a one-line summary for the console."""

    env: dict[str, str]
    secrets_file: Path | None
    hide_env: tuple[str, ...]
    summary: str


def prepare_auth(*, configs: Path, home: Path, auth: Path | None, access: Path | None, header: str | None,
                 trusted: str | None, groups_header: str | None, port: int = 8501) -> AppAuth:
    """Validate the sign-in and access settings before Streamlit starts. Raises ConfigError (exit 2) for
    anything wrong, so the app never starts with access open by mistake."""
    from ..access import config_names, configs_rules, load_access
    from ..auth import check_provider, load_auth, proxy_settings, write_streamlit_secrets

    if auth is not None and header:
        raise ConfigError("--auth and --auth-header are both given.",
                          hint="Use sign-in with OpenID Connect (--auth FILE) or a trusted proxy (--auth-header), not both.")
    if not header and (trusted or groups_header):
        given = "--trusted-proxy" if trusted else "--auth-groups-header"
        raise ConfigError(f"{given} is given without --auth-header.", hint="Name the header the proxy sets, e.g. "
                          "--auth-header X-Forwarded-Email.")
    env: dict[str, str] = {}
    secrets = None
    if auth is not None:
        settings = load_auth(auth)
        if importlib.util.find_spec("authlib") is None:
            raise LivedocsError("sign-in needs Authlib, which is not installed.",
                                hint="Install it with `pip install -e '.[app]'`.")
        _check_port(settings, port)
        check_provider(settings)
        env["LIVEDOCS_AUTH"] = str(auth.resolve())
        how = f"sign-in with OpenID Connect ({settings.metadata_url})"
    elif header:
        settings = proxy_settings(header, trusted or "", groups_header)
        env.update({"LIVEDOCS_AUTH_HEADER": settings.header,
                    "LIVEDOCS_TRUSTED_PROXY": ",".join(str(n) for n in settings.trusted)})
        if settings.groups_header:
            env["LIVEDOCS_AUTH_GROUPS_HEADER"] = settings.groups_header
        how = f"the {settings.header} header from {', '.join(str(n) for n in settings.trusted)}"
    else:
        settings = None
        how = "no sign-in (names are self-declared)"
    in_configs = configs_rules(configs)  # every config's ``access:`` block, checked with its file and line
    if access is not None:
        if auth is None and not header:
            raise ConfigError(f"--access {access} needs sign-in: roles are about verified users.",
                              hint="Add --auth FILE (OpenID Connect) or --auth-header NAME --trusted-proxy CIDR.")
        load_access(access, config_names(configs))
        env["LIVEDOCS_ACCESS"] = str(access.resolve())
        how += f"; roles from {access}"
        if in_configs:
            how += f" and the configs' access: blocks ({_rules(in_configs)})"
    elif (auth is not None or header) and in_configs:
        how += f"; roles from the configs' access: blocks only ({_rules(in_configs)})"
    elif auth is not None or header:  # default-deny with no rules: nobody could use the app
        raise ConfigError("sign-in is on but no --access file (nor any config's access: block) says who may do what, "
                          "so nobody could open a notebook.",
                          hint="Give --access access.yaml; a rule for everyone signed in is "
                               "`rules: [{configs: \"*\", users: \"*\", role: runner}]`.")
    elif in_configs:
        how += "; the configs' access: blocks apply only with sign-in (--auth or --auth-header)"
    if settings is not None and settings.mode == "oidc":  # last: nothing is written for a setup that is refused
        secrets = write_streamlit_secrets(settings, home / "app")
    return AppAuth(env=env, secrets_file=secrets, hide_env=settings.secret_env if settings else (), summary=how)


def _rules(rules: tuple) -> str:
    return f"{len(rules)} rule" + ("s" if len(rules) != 1 else "")


def _check_port(settings, port: int) -> None:
    """A redirect URI on this machine must name the port the app listens on (the provider sends people there)."""
    from urllib.parse import urlparse

    uri = settings.redirect_uri
    if "{port}" in uri:  # Streamlit fills it in
        return
    parsed = urlparse(uri)
    try:
        given = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        return
    if parsed.hostname in ("localhost", "127.0.0.1", "::1") and given != port:
        raise ConfigError(f"{settings.where('redirect_uri')}: the redirect URI {uri!r} names port {given}, but the app "
                          f"listens on {port}.", hint=f"Use --port {given}, or change the redirect URI (and its "
                          "registration at the provider).")


@cli.command()
@click.option("--configs", type=click.Path(path_type=Path), default=None,
              help="Folder of scenario configs (*.yaml) to serve. Default: the nearest configs/ in this folder or a parent.")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. The default serves this machine only; 0.0.0.0 serves everyone "
                   "who can reach the port.")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Runs the app's own worker executes at once; further runs wait in the store's queue.")
@click.option("--no-worker", is_flag=True,
              help="Run nothing in the app: submissions wait in the store's queue for `livedocs worker` processes.")
@click.option("--auth", "auth_file", type=click.Path(dir_okay=False, path_type=Path), envvar="LIVEDOCS_AUTH",
              default=None, help="Sign-in with OpenID Connect: a TOML or YAML file with the provider's settings "
                                 "(see the README). Env: LIVEDOCS_AUTH.")
@click.option("--access", "access_file", type=click.Path(dir_okay=False, path_type=Path), envvar="LIVEDOCS_ACCESS",
              default=None, help="Roles per notebook (access.yaml); needs sign-in. Env: LIVEDOCS_ACCESS.")
@click.option("--auth-header", envvar="LIVEDOCS_AUTH_HEADER", default=None, metavar="NAME",
              help="Behind a sign-in proxy: the header naming the user (e.g. X-Forwarded-Email); needs "
                   "--trusted-proxy. Env: LIVEDOCS_AUTH_HEADER.")
@click.option("--trusted-proxy", envvar="LIVEDOCS_TRUSTED_PROXY", default=None, metavar="CIDR[,CIDR...]",
              help="Addresses of the proxy: the header is believed only on requests from them, others are "
                   "refused. Env: LIVEDOCS_TRUSTED_PROXY.")
@click.option("--auth-groups-header", envvar="LIVEDOCS_AUTH_GROUPS_HEADER", default=None, metavar="NAME",
              help="Behind a sign-in proxy: a header with the user's groups, comma-separated (e.g. X-Forwarded-Groups). "
                   "Env: LIVEDOCS_AUTH_GROUPS_HEADER.")
@click.pass_context
def app(ctx: click.Context, configs: Path | None, host: str, port: int, workers: int,
        auth_file: Path | None, access_file: Path | None, auth_header: str | None, trusted_proxy: str | None,
        auth_groups_header: str | None, no_worker: bool) -> None:
    """Start the web app: every config as a form to fill in, run, compare and share.

    The run store is found as every command finds it: --home, $LIVEDOCS_HOME, else the nearest .livedocs/.
    """
    if configs is None:
        from ..home import find_upward

        configs = find_upward(Path.cwd(), "configs") or Path("configs")
    if not configs.is_dir():
        raise ConfigError(f"configs folder {configs} does not exist.", hint="Give one with --configs DIR.")
    if not APP_SCRIPT.is_file():
        raise LivedocsError(f"cannot find the web app script {APP_SCRIPT}.",
                            hint="The app ships with the source checkout: install it with `pip install -e '.[app]'`.")
    if importlib.util.find_spec("streamlit") is None:
        raise LivedocsError("the web app needs Streamlit, which is not installed.",
                            hint="Install it with `pip install -e '.[app]'`.")
    home = home_of(ctx)
    prepared = prepare_auth(configs=configs, home=home, auth=auth_file, access=access_file,
                            header=auth_header, trusted=trusted_proxy, groups_header=auth_groups_header, port=port)
    argv, env = app_command(APP_SCRIPT, configs=configs, home=home, port=port, workers=workers, host=host,
                            auth_env=prepared.env, secrets_file=prepared.secrets_file, hide_env=prepared.hide_env,
                            worker=not no_worker, db=db_of(ctx))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {configs} on http://{shown}:{port}  (runs in {home}; Ctrl-C to stop)", err=True)
    click.echo(f"Access: {safe(prepared.summary)}", err=True)
    click.echo("Runs: queued in the store for `livedocs worker` processes (--no-worker)" if no_worker
               else f"Runs: {workers} at a time in the app's own worker (also serves runs queued by others)", err=True)
    sys.stdout.flush()
    os.execve(argv[0], argv, env)
