"""The ``livedocs`` command: thin click commands over the core; the only click importer.

Errors: any :class:`LivedocsError` becomes ``Error: <message>`` on stderr and its exit code
(2 bad input, 1 failed run, 130 interrupted); ``--debug`` shows the traceback instead.
Everything printed goes through :class:`~livedocs_runner.cli.format.SafeStream`: names and
values from notebooks and configs cannot act on the terminal.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

import click

from ..errors import LivedocsError
from .format import SafeStream, error_text

DEFAULT_HOME = ".livedocs"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="LIVEDOCS_HOME",
              default=DEFAULT_HOME, show_default=True, help="Run store folder (or $LIVEDOCS_HOME).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="livedocs-runner")
@click.pass_context
def cli(ctx: click.Context, home: Path, debug: bool) -> None:
    """Run Jupyter notebooks as parameterized, recorded, reproducible jobs."""
    ctx.obj = {"home": home, "debug": debug}


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the command, map errors to messages and exit codes."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("LIVEDOCS_DEBUG"))
    signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM cancels like Ctrl-C
    for name in ("stdout", "stderr"):
        if not isinstance(getattr(sys, name), SafeStream):
            setattr(sys, name, SafeStream(getattr(sys, name)))
    try:
        code = cli.main(args=args, prog_name="livedocs", standalone_mode=False)
        if isinstance(code, int) and code:  # ctx.exit(1): e.g. `diff` found a difference (no error message)
            sys.exit(code)
    except LivedocsError as exc:
        if debug:
            traceback.print_exc()
        click.echo(error_text(exc.message, exc.hint), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)


def home_of(ctx: click.Context) -> Path:
    return ctx.find_root().obj["home"]


from . import app, audit, diff, env, history, inspect, run, verify  # noqa: E402  (commands register themselves on `cli`)
from . import compare  # noqa: E402,F401  (`livedocs compare`)

__all__ = ["cli", "main", "app", "audit", "diff", "env", "history", "inspect", "run", "verify"]
