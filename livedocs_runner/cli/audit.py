"""``livedocs audit export`` (a self-contained evidence bundle of chosen runs) and ``livedocs audit verify``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from ..errors import InputError
from ..records.store import STATUSES, Store
from . import cli, home_of, store_of
from .format import safe


def _date(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r} is not a date.", hint=f"Write it as YYYY-MM-DD, e.g. {option} 2026-01-01.") from None
    return value


@cli.group()
def audit() -> None:
    """Evidence bundles for auditors: export chosen runs, check a bundle offline."""


@audit.command("export")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (e.g. evidence.zip).")
@click.option("--notebook", help="Only runs of this notebook (file name, or full path).")
@click.option("--config", help="Only runs of this config file.")
@click.option("--from", "since", metavar="DATE", help="Only runs created on or after DATE (YYYY-MM-DD).")
@click.option("--to", "until", metavar="DATE", help="Only runs created on or before DATE (YYYY-MM-DD).")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.pass_context
def export_command(ctx: click.Context, output: Path, notebook: str | None, config: str | None, since: str | None,
                   until: str | None, status: str | None) -> None:
    """Write a self-contained bundle: index.html, runs.csv/jsonl, each run's files, journal, MANIFEST.sha256."""
    from ..records.audit import Selection, export  # lazy: jinja2 and zipfile stay off other commands

    selection = Selection(notebook=notebook, config=str(Path(config).resolve()) if config else None, status=status,
                          since=_date("--from", since), until=_date("--to", until))
    runs, files = export(store_of(ctx), output, selection)
    click.echo(safe(f"Exported {runs} runs ({files} files) to {output}. Check it with: livedocs audit verify {output}"))


@audit.command("verify")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def verify_command(ctx: click.Context, bundle: Path) -> None:
    """Check a bundle offline: every file against MANIFEST.sha256, records and files against the journal entries."""
    problems = 0
    from ..records import journal
    from ..records.audit import check

    for line in check(bundle, journal.journal_key()):
        problems += 1
        click.echo(safe(line))
    if problems:
        click.echo(safe(f"{bundle}: {problems} problem(s) found."))
        ctx.exit(1)
    click.echo(safe(f"{bundle}: every file matches MANIFEST.sha256 and the journal entries."))
