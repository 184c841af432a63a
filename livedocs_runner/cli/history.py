"""``livedocs runs|show|compare|report``: find, open and compare past runs."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import click

from ..errors import InputError, StoreWarning
from ..records.store import STATUSES, Store
from . import cli, home_of
from .format import record_json, relative, show_value, table


@contextlib.contextmanager
def store_warnings() -> Iterator[None]:
    """Show the store's warnings (a damaged record left out) as ``Warning: ...`` lines on stderr."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StoreWarning)
            yield
    finally:
        shown: set[str] = set()
        for warning in caught:  # outside catch_warnings: anything else is shown as Python would
            if issubclass(warning.category, StoreWarning):
                if str(warning.message) not in shown:  # a damaged running run is met by abandon_stale too
                    shown.add(str(warning.message))
                    click.echo(f"Warning: {warning.message}", err=True)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


@cli.command()
@click.option("--notebook", metavar="PATH",
              help="Only runs of this notebook: a path (exactly that file) or a file name (any folder; case-sensitive).")
@click.option("--scenario", metavar="NAME", help="Only runs of this scenario.")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the records as a JSON list.")
@click.pass_context
def runs(ctx: click.Context, notebook: str | None, scenario: str | None, status: str | None, limit: int,
         as_json: bool) -> None:
    """List past runs, newest first."""
    store = Store(home_of(ctx))
    with store_warnings():
        store.abandon_stale()
        records = store.list(notebook=notebook, scenario=scenario, status=status, limit=limit)
    if as_json:
        click.echo(json.dumps([record_json(r) for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        click.echo(f"No runs in {relative(store.home)}.", err=True)
        return
    rows = [[r.id, r.status + (" (cached)" if r.cache_of else ""), r.scenario, Path(r.notebook).name,
             (r.started_at or r.created_at)[:19].replace("T", " "),
             f"{r.duration_s:.2f}s" if r.duration_s is not None else "-", r.trigger, r.user] for r in records]
    click.echo(table(rows, ["ID", "STATUS", "SCENARIO", "NOTEBOOK", "STARTED (UTC)", "DURATION", "TRIGGER", "USER"]))


@cli.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the full record as JSON.")
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run's record (RUN_ID may be any unambiguous prefix)."""
    record = Store(home_of(ctx)).get(run_id)
    if as_json:
        click.echo(json.dumps(record_json(record), indent=2, ensure_ascii=False))
        return
    fields = [("Run", record.id), ("Status", record.status), ("Title", record.title), ("Scenario", record.scenario),
              ("Notebook", record.notebook), ("Notebook SHA-256", record.notebook_sha256),
              ("Config", record.config or "-"), ("Trigger", record.trigger), ("User", record.user),
              ("Started", record.started_at or "-"), ("Finished", record.finished_at or "-"),
              ("Duration", f"{record.duration_s:.3f}s" if record.duration_s is not None else "-")]
    if record.rerun_of:
        fields.append(("Rerun of", record.rerun_of + (f" ({record.rerun_variant})" if record.rerun_variant else "")))
    if record.cache_of:
        fields.append(("Cached from", record.cache_of))
    if record.error:
        from ..cells import record_error
        from .run import failure_text

        fields.append(("Error", f"{record.status}{failure_text(record_error(record))}"))
    for key, value in fields:
        click.echo(f"{key + ':':<18}{value}")
    click.echo("Parameters:")
    for name, value in record.parameters.items():
        click.echo(f"  {name} = {json.dumps(value, ensure_ascii=False)}")
    if record.metrics:
        click.echo("Metrics:")
        for name, value in record.metrics.items():
            click.echo(f"  {name} = {show_value(value, 60)}")
    for item in record.inputs:
        kept = ("snapshot kept" if item.get("snapshot") else f"no snapshot: {item['why']}" if item.get("why")
                else "no snapshot")
        click.echo(f"Input: {item['path']} ({item.get('size')} bytes, sha256 {item.get('sha256')}, {kept})")
    click.echo(f"Output notebook:  {relative(record.output_notebook)}")
    click.echo(f"Report:           {relative(record.report_html)}")


@cli.command()
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_context
def compare(ctx: click.Context, run_ids: tuple[str, ...], as_json: bool) -> None:
    """Compare runs: parameters that differ, and metrics side by side."""
    if len(run_ids) < 2:
        raise click.UsageError("give at least two run ids to compare.")
    store = Store(home_of(ctx))
    from ..compare import compare as compare_runs  # lazy: keeps `livedocs run` start-up light

    result = compare_runs([store.get(r) for r in run_ids])
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    header = [""] + [f"{rid} ({sc})" for rid, sc in zip(result.runs, result.scenarios)]
    click.echo("Parameters that differ:" if result.differing else "All parameters are the same.")
    if result.differing:
        click.echo(table([[k] + [show_value(v) for v in vs] for k, vs in result.differing.items()], header))
    if result.metrics:
        click.echo("Metrics:")
        click.echo(table([[k] + [show_value(v) for v in vs] for k, vs in result.metrics.items()], header))


@cli.command()
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML here.")
@click.option("--with-code", is_flag=True, help="Show the notebook's code too.")
@click.pass_context
def report(ctx: click.Context, run_id: str, output: Path | None, with_code: bool) -> None:
    """Write a run's HTML report (parameters, status, timing and provenance on top; code hidden)."""
    record = Store(home_of(ctx)).get(run_id)
    if not record.output_notebook or not Path(record.output_notebook).exists():
        raise InputError(f"run {record.id} has no executed notebook to report on (status {record.status}).",
                         hint="Pick a run that started, e.g. from `livedocs runs --status succeeded`.")
    target = output or Path(record.run_dir) / ("report-with-code.html" if with_code else "report.html")
    from ..report import write_report  # lazy: nbconvert alone costs ~0.3 s to import

    try:
        write_report(record, None, target, with_code=with_code)
    except OSError as exc:  # a read-only store, a full disk, a missing folder: say where, and how to go on
        raise InputError(f"cannot write the report to {target} ({exc.strerror or exc}).",
                         hint=f"Write it elsewhere with -o, e.g. `livedocs report {record.id} -o report.html`.") from exc
    click.echo(relative(target))
