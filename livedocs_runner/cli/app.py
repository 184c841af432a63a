"""``livedocs app``: serve every config as a web form (Streamlit runs ``apps/livedocs_app.py``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import click

from ..errors import ConfigError, LivedocsError
from . import cli, home_of

APP_SCRIPT = Path(__file__).resolve().parents[2] / "apps" / "livedocs_app.py"


DEFAULT_HOST = "127.0.0.1"  # only this machine: serving others is a decision (--host 0.0.0.0)


def app_command(script: Path, *, configs: Path, home: Path, port: int, workers: int,
                host: str = DEFAULT_HOST) -> tuple[list[str], dict[str, str]]:
    """The Streamlit command line and environment that serve the app (pure: used by tests too).

    Tracebacks never reach the browser (``client.showErrorDetails none``): the app shows a short
    message with a reference id and logs the details on the server.
    """
    argv = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", host,
            "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
            "--client.showErrorDetails", "none"]
    env = {**os.environ, "LIVEDOCS_CONFIGS": str(configs.resolve()), "LIVEDOCS_HOME": str(home.resolve()),
           "LIVEDOCS_WORKERS": str(workers)}
    return argv, env


@cli.command()
@click.option("--configs", type=click.Path(path_type=Path), default=None,
              help="Folder of scenario configs (*.yaml) to serve. Default: the nearest configs/ in this folder or a parent.")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to listen on. The default serves this machine only; 0.0.0.0 serves everyone "
                   "who can reach the port.")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Runs executed at once; further runs wait in a queue.")
@click.pass_context
def app(ctx: click.Context, configs: Path | None, host: str, port: int, workers: int) -> None:
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
    argv, env = app_command(APP_SCRIPT, configs=configs, home=home, port=port, workers=workers, host=host)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {configs} on http://{shown}:{port}  (runs in {home}; Ctrl-C to stop)", err=True)
    sys.stdout.flush()
    os.execve(argv[0], argv, env)
