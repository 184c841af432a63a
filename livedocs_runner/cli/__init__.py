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
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import LivedocsError
from .format import SafeStream, error_text

if TYPE_CHECKING:
    from ..records.store import Store

HOME_HELP = ("Run store folder (or $LIVEDOCS_HOME). Default: the nearest .livedocs/ in this folder or a parent, "
             "else a new one next to configs/ or pyproject.toml.")


DB_HELP = ("Where the run records are kept (or $LIVEDOCS_DB): a PostgreSQL URL, postgresql://USER@HOST:PORT/DATABASE "
           "(password in ~/.pgpass). Default: SQLite (runs.db) in the home folder. Run files stay in the home folder.")


def _lift_db(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--db`` given after a command name: kept on the root context (the last one given wins)."""
    if value is not None:
        ctx.find_root().meta["livedocs.db"] = value
        os.environ["LIVEDOCS_DB"] = value  # the app and workers started from here open the same store


def _lift_home(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """``--home`` given after a command name: kept on the root context (the last one given wins)."""
    if value is not None:
        ctx.find_root().meta["livedocs.home"] = value


class HomeGroup(click.Group):
    """A group whose commands (and sub-groups' commands) all accept ``--home`` too, so
    ``livedocs runs --home X`` means ``livedocs --home X runs``."""

    group_class = type  # sub-groups (``audit``) are HomeGroups as well

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any("--home" in getattr(p, "opts", ()) for p in cmd.params):
            cmd.params.append(click.Option(["--home"], type=click.Path(file_okay=False, path_type=Path),
                                           expose_value=False, callback=_lift_home, metavar="DIR", help=HOME_HELP))
        if not any("--db" in getattr(p, "opts", ()) for p in cmd.params):
            cmd.params.append(click.Option(["--db"], expose_value=False, callback=_lift_db, metavar="URL", help=DB_HELP))
        super().add_command(cmd, name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A command of ``livedocs`` is imported when asked for (see :data:`COMMANDS`)."""
        if self is cli and cmd_name in COMMANDS and cmd_name not in self.commands:
            import importlib

            importlib.import_module(f"{__name__}.{COMMANDS[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | (set(COMMANDS) if self is cli else set()))


@click.group(cls=HomeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), envvar="LIVEDOCS_HOME", default=None,
              metavar="DIR", help=HOME_HELP)
@click.option("--db", envvar="LIVEDOCS_DB", default=None, metavar="URL", help=DB_HELP)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="livedocs-runner")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, db: str | None, debug: bool) -> None:
    """Run Jupyter notebooks as parameterized, recorded, reproducible jobs."""
    ctx.obj = {"home": home, "db": db or None, "debug": debug}
    if db:
        os.environ["LIVEDOCS_DB"] = db  # the app and workers started from here open the same store


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the command, map errors to messages and exit codes."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("LIVEDOCS_DEBUG"))
    signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM cancels like Ctrl-C
    from .._imports import skip_unused_optional_imports

    skip_unused_optional_imports()  # ~0.8 s of CPU off every run that executes (see _imports.py)
    from .._gc import collect_less_often

    collect_less_often()  # ~2 ms of the runner's CPU off every run (see _gc.py)
    for name in ("stdout", "stderr"):
        if not isinstance(getattr(sys, name), SafeStream):
            setattr(sys, name, SafeStream(getattr(sys, name)))
    try:
        code = cli.main(args=args, prog_name="livedocs", standalone_mode=False)
        if isinstance(code, int) and code:  # ctx.exit(1): e.g. `diff` found a difference (no error message)
            sys.exit(code)
    except LivedocsError as exc:
        if debug:
            import traceback  # here: loads textwrap and linecache, only for --debug

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
    """The run store folder: ``--home`` (after or before the command), ``$LIVEDOCS_HOME``, else found from the
    working directory (see :mod:`livedocs_runner.home`); a new one is made and announced on stderr once."""
    root = ctx.find_root()
    if "livedocs.home" not in root.meta:
        home = root.obj.get("home") if root.obj else None
        if home is None:
            from ..home import create_home, discover_home

            location = discover_home(Path.cwd())
            if not location.exists and create_home(location):
                click.echo(f"New run store: {location.path} ({location.reason}; livedocs finds it from "
                           f"{location.path.parent} and every folder below).", err=True)
            home = location.path
        root.meta["livedocs.home"] = home
    return root.meta["livedocs.home"]


def db_of(ctx: click.Context) -> str | None:
    """The store URL: ``--db`` (after or before the command) or ``$LIVEDOCS_DB``; None: SQLite in the home folder."""
    root = ctx.find_root()
    if "livedocs.db" in root.meta:
        return root.meta["livedocs.db"] or None
    return (root.obj or {}).get("db") or None


def store_of(ctx: click.Context) -> Store:
    """The run store this command works on (records where ``--db`` says, run files in the home folder)."""
    from ..records.store import open_store

    return open_store(home_of(ctx), db_of(ctx))


# Each command's module (below livedocs_runner.cli) is imported when that command runs, so `livedocs runs` does not
# load the planner, the run machinery or YAML (~35 ms); its commands register themselves on `cli` when imported.
# `livedocs --help` imports them all. Look commands up with cli.get_command(ctx, name): cli.commands holds those
# imported so far.
COMMANDS = {"app": "app", "audit": "audit", "cancel": "cancel", "compare": "compare", "diff": "diff", "env": "env",
            "inspect": "inspect", "validate": "inspect", "run": "run", "rerun": "run", "runs": "history",
            "show": "history", "report": "history", "verify": "verify", "worker": "worker"}

__all__ = ["cli", "main", "app", "audit", "diff", "env", "history", "inspect", "run", "verify"]
