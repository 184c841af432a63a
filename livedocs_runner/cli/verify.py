"""``livedocs verify``: check the run journal, every final record and every file against it (read-only)."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from ..errors import InputError
from . import cli, db_of, home_of
from .format import safe


def _date(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"--from {value!r} is not a date.", hint="Write it as YYYY-MM-DD, e.g. --from 2026-01-01.") from None
    return value


@cli.command()
@click.option("--from", "since", metavar="DATE", help="Check only records created on or after DATE (YYYY-MM-DD).")
@click.option("--run", "run_id", metavar="ID", help="Check only this run (id or prefix).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line: each finding, then a summary.")
@click.pass_context
def verify(ctx: click.Context, since: str | None, run_id: str | None, as_json: bool) -> None:
    """Recompute the journal's hash chain and each record's and file's hash; exit 1 if anything is off."""
    since = _date(since)
    if run_id is not None and (not run_id.strip() or any(c not in "0123456789abcdef" for c in run_id.lower())):
        raise InputError(f"{run_id!r} is not a run id.", hint="Run ids are hex, e.g. from `livedocs runs`.")
    from ..records import journal  # lazy: stays off other commands
    from ..records.verify import Summary, verify as verify_home

    summary = Summary()
    progress = (lambda text: click.echo(f"verify: {text}...", err=True)) if sys.stderr.isatty() or not as_json else None
    for finding in verify_home(home_of(ctx), since=since, run=run_id, key=journal.journal_key(),
                               summary=summary, progress=progress, db_url=db_of(ctx)):
        click.echo(json.dumps(finding.to_json(), ensure_ascii=False) if as_json else safe(finding.message))
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        counted = f"{summary.runs} runs, {summary.entries} journal entries, {summary.keying()}"
        verdict = "everything matches the journal" if summary.clean else f"{summary.findings} problem(s) found"
        click.echo(safe(f"Verified {counted}: {verdict}."))
    if not summary.clean:
        ctx.exit(1)
