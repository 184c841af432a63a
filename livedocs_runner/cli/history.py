"""``livedocs runs|show|compare|report``: find, open and compare past runs."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..errors import InputError, StoreWarning
from ..outputs import is_table
from ..records.store import STATUSES, Store
from . import cli, home_of, store_of
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


_FIELDS = {  # the columns `runs` knows besides parameters and results: header, shown value, CSV value
    "id": ("ID", lambda r: r.id, lambda r: r.id),
    "status": ("STATUS", lambda r: r.status + (" (cached)" if r.cache_of else ""), lambda r: r.status),
    "scenario": ("SCENARIO", lambda r: r.scenario, lambda r: r.scenario),
    "notebook": ("NOTEBOOK", lambda r: Path(r.notebook).name, lambda r: r.notebook),
    "config": ("CONFIG", lambda r: Path(r.config).name if r.config else None, lambda r: r.config),
    "started": ("STARTED (UTC)", lambda r: (r.started_at or r.created_at)[:19].replace("T", " "),
                lambda r: r.started_at or r.created_at),
    "duration": ("DURATION", lambda r: f"{r.duration_s:.2f}s" if r.duration_s is not None else "-",
                 lambda r: r.duration_s),
    "trigger": ("TRIGGER", lambda r: r.trigger, lambda r: r.trigger),
    "user": ("USER", lambda r: r.user, lambda r: r.user),
    "cache_of": ("CACHED FROM", lambda r: r.cache_of, lambda r: r.cache_of),
    "rerun_of": ("RERUN OF", lambda r: r.rerun_of, lambda r: r.rerun_of),
}
_DEFAULT = ["id", "status", "scenario", "notebook", "started", "duration", "trigger", "user"]
_CSV = _DEFAULT + ["config", "cache_of", "rerun_of"]


def param_values(items: tuple[str, ...]) -> dict[str, list[Any]]:
    """``-p NAME=VALUE`` (repeatable; a name given twice: either value) as the values to accept: the text,
    the JSON value it spells (``0.4``, ``true``, ``["a"]``) and, for a file that exists, its absolute path."""
    wanted: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"-p {item[:40]!r} is not NAME=VALUE.", hint="For example: -p threshold=0.4")
        values = wanted.setdefault(name.strip(), [])
        values.append(text)
        try:
            values.append(json.loads(text))
        except ValueError:
            pass
        with contextlib.suppress(OSError, ValueError):
            if text and Path(text).exists():
                values.append(str(Path(text).resolve()))
    return wanted


def _column(name: str, records: list[Any], *, raw: bool = False) -> tuple[str, Any]:
    """A column's header and value function: a field, else a parameter, else a result."""
    if name in _FIELDS:
        header, shown, value = _FIELDS[name]
        return (name, value) if raw else (header, shown)
    if any(name in r.parameters for r in records):
        return name, lambda r: r.parameters.get(name)
    if any(name in r.metrics for r in records) or not records:
        return name, lambda r: r.metrics.get(name)
    from ..errors import did_you_mean

    known = list(_FIELDS) + list(dict.fromkeys(k for r in records for k in [*r.parameters, *r.metrics]))
    raise InputError(f"--columns: no field, parameter or result {name!r} in these runs.",
                     hint=did_you_mean(name, known) or f"Columns: {', '.join(known)}.")


@cli.command()
@click.option("--notebook", metavar="PATH",
              help="Only runs of this notebook: a path (exactly that file) or a file name (any folder; case-sensitive).")
@click.option("--config", metavar="PATH", help="Only runs of this config file.")
@click.option("--scenario", metavar="NAME", help="Only runs of this scenario.")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--since", metavar="WHEN", help="Only runs created on or after WHEN: a date (2026-11-20), a UTC time "
                                               "(2026-11-20T14:30) or how long ago (30m, 12h, 7d, 2w).")
@click.option("--until", metavar="WHEN", help="Only runs created before WHEN (a date: up to the end of that day).")
@click.option("--user", "users", multiple=True, metavar="NAME", help="Only runs by this user (repeatable).")
@click.option("--trigger", "triggers", multiple=True, metavar="NAME",
              help="Only runs started this way: cli, app, rerun, ... (repeatable).")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Only runs with this parameter value (repeatable; the same name twice: either value).")
@click.option("--columns", metavar="NAME,...", help="Columns to show: id, status, scenario, notebook, config, started, "
                                                   "duration, trigger, user, cache_of, rerun_of, and any parameter or "
                                                   "result name.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--csv", "csv_to", is_flag=False, flag_value="-", default=None, metavar="[FILE]",
              help="Write CSV to FILE, or to stdout (default columns: the fields, every parameter and result).")
@click.option("--json", "as_json", is_flag=True, help="Print the records as a JSON list.")
@click.pass_context
def runs(ctx: click.Context, notebook: str | None, config: str | None, scenario: str | None, status: str | None,
         since: str | None, until: str | None, users: tuple[str, ...], triggers: tuple[str, ...],
         params: tuple[str, ...], columns: str | None, limit: int, csv_to: str | None, as_json: bool) -> None:
    """List past runs, newest first."""
    from ..records.query import RunQuery, when

    query = RunQuery(notebook=notebook, config=config, scenarios=(scenario,) if scenario else (),
                     statuses=(status,) if status else (), since=when(since) if since else None,
                     until=when(until, end=True) if until else None, users=users, triggers=triggers,
                     params=param_values(params), limit=limit)
    store = store_of(ctx)
    with store_warnings():
        store.abandon_stale()
        records = store.query(query)
    if as_json:
        click.echo(json.dumps([record_json(r) for r in records], indent=2, ensure_ascii=False))
        return
    if columns:
        names = [c.strip() for c in columns.split(",") if c.strip()]
    elif csv_to:
        names = _CSV + list(dict.fromkeys(k for r in records for k in r.parameters))
        names += [m for m in dict.fromkeys(k for r in records for k in r.metrics) if m not in names]
    else:
        names = _DEFAULT
    chosen = [_column(n, records, raw=bool(csv_to)) for n in names]
    if csv_to:
        from .compare import write_csv

        write_csv(csv_to, names, [[_csv_value(get(r)) for _, get in chosen] for r in records])
        return
    if not records:
        click.echo(f"No runs in {relative(store.home)}" + (" match." if query != RunQuery(limit=limit) else "."), err=True)
        return
    rows = [[_text(get(r)) for _, get in chosen] for r in records]
    click.echo(table(rows, [h for h, _ in chosen]))


def _csv_value(value: Any) -> Any:
    return f"(table, {len(value['data'])} rows)" if is_table(value) else value


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else show_value(value, 30)


_HOW_USER = {"none": " (not verified: the OS user or a name typed in; auth none)",
             "oidc": " (verified: OpenID Connect sign-in; auth oidc)", "proxy": " (verified: trusted proxy; auth proxy)"}


@cli.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the full record as JSON.")
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run's record (RUN_ID may be any unambiguous prefix)."""
    record = store_of(ctx).get(run_id)
    if as_json:
        click.echo(json.dumps(record_json(record), indent=2, ensure_ascii=False))
        return
    fields = [("Run", record.id), ("Status", record.status), ("Title", record.title), ("Scenario", record.scenario),
              ("Notebook", record.notebook), ("Notebook SHA-256", record.notebook_sha256),
              ("Config", record.config or "-"), ("Trigger", record.trigger), ("User", record.user + _HOW_USER.get(record.auth, "")),
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
@click.argument("run_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the HTML here.")
@click.option("--with-code", is_flag=True, help="Show the notebook's code too.")
@click.pass_context
def report(ctx: click.Context, run_id: str, output: Path | None, with_code: bool) -> None:
    """Write a run's HTML report (parameters, status, timing and provenance on top; code hidden)."""
    record = store_of(ctx).get(run_id)
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
