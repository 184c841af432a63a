"""``livedocs compare``: runs (or a sweep's points) as one row each, the inputs that vary and the results;
and the sheet helpers ``runs`` shares (cells, CSV, a table fitted to the terminal's width)."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from ..outputs import is_table
from ..records.query import RunQuery
from ..records.store import RunRecord, Store
from . import cli, home_of, store_of
from .format import relative, safe, show_value

MAX_CELL = 14  # characters a value may take in a fitted table (the full value is in --csv / --json)


def cell(value: Any, width: int = MAX_CELL) -> str:
    """A value for a fitted table: numbers short (4 significant digits, separators from 10 000), text cut."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isfinite(value):
        text = f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**15:
        text = f"{value:,}" if abs(value) >= 10_000 else str(value)
    else:
        text = show_value(value, 1000)
    text = safe(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def csv_cell(value: Any) -> str:
    """A value for CSV: numbers and text as they are, anything else as JSON; text that a spreadsheet would
    run as a formula (=, +, -, @ first) gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return str(value)


def write_csv(target: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """CSV to stdout (``-``) or to a file (the file's path is printed on stderr)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[csv_cell(v) for v in row] for row in rows])
    if target == "-":
        click.echo(buffer.getvalue(), nl=False)
        return
    try:
        Path(target).write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the CSV to {target} ({exc.strerror or exc}).",
                         hint="Give a file in a folder you can write, or --csv alone for stdout.") from exc
    click.echo(f"Wrote {len(rows)} rows to {relative(target)}.", err=True)


def terminal_width() -> int:
    """The terminal's columns ($COLUMNS first); 80 when there is no terminal."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def fitted(header: Sequence[str], rows: Sequence[Sequence[str]], width: int, *, keep: int = 1) -> tuple[str, list[str], int]:
    """An aligned table no wider than ``width``: cells already cut by :func:`cell`, headers cut to their
    column (``thresh…``) with their full names returned for a key, columns beyond the width left out
    (the first ``keep`` always stay). Returns the table, the key lines and how many columns were left out."""
    cells = [max([len(r[i]) for r in rows] + [3]) for i in range(len(header))]
    widths = [max(c, min(len(safe(header[i])), MAX_CELL)) for i, c in enumerate(cells)]

    def shrink(columns: list[int], cut: list[int]) -> None:  # cut the longest header wider than its values
        while sum(widths[i] for i in columns) + 2 * (len(columns) - 1) > width:
            wide = [i for i in cut if widths[i] > max(cells[i], 4)]
            if not wide:
                return
            widths[max(wide, key=lambda i: widths[i])] -= 1

    everything = list(range(len(header)))
    shrink(everything, everything[keep:])  # results' headers first: the inputs that identify a run keep theirs
    shown, used = [], -2
    for i, w in enumerate(widths):
        if i >= keep and used + 2 + w > width:
            break
        shown.append(i)
        used += 2 + w
    shrink(shown, shown)
    names, key = [], []
    for i in shown:
        name = safe(header[i])
        if len(name) > widths[i]:
            short = name[: widths[i] - 1] + "…"
            key.append(f"{short} = {name}")
            name = short
        names.append(name)
    lines = ["  ".join(n.ljust(widths[i]) for n, i in zip(names, shown)).rstrip()]
    lines += ["  ".join(r[i].ljust(widths[i]) for i in shown).rstrip() for r in rows]
    return "\n".join(lines), wrap(key, width), len(header) - len(shown)


def wrap(items: Sequence[str], width: int, sep: str = "; ") -> list[str]:
    """``items`` joined on lines no wider than ``width`` (an item longer than a line is cut)."""
    lines: list[str] = []
    for item in items:
        item = item if len(item) <= width else item[: width - 1] + "…"
        if lines and len(lines[-1]) + len(sep) + len(item) <= width:
            lines[-1] += sep + item
        else:
            lines.append(item)
    return lines


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def sweep_runs(store: Store, sweep: str, config: str | None) -> list[RunRecord]:
    """The latest run of each point of ``sweep``, in the order of the values swept."""
    latest: dict[tuple[str | None, str], RunRecord] = {}
    for record in store.query(RunQuery(sweep=sweep, config=config, limit=None)):
        latest.setdefault((record.config, record.scenario), record)  # newest first: the first is the latest
    if not latest:
        where = f" of {relative(config)}" if config else ""
        raise InputError(f"no runs of sweep {sweep!r}{where} in {relative(store.home)}.",
                         hint=f"Run its points first: livedocs run CONFIG --scenario {sweep}")
    configs = sorted({r.config or "-" for r in latest.values()})
    if len(configs) > 1:
        raise InputError(f"sweep {sweep!r} has runs from {len(configs)} configs ({', '.join(map(relative, configs))}).",
                         hint="Pick one with --config PATH.")
    records = list(latest.values())
    from ..compare import compare as compare_runs

    varying = list(compare_runs(records).differing)
    return sorted(records, key=lambda r: [_sort_key(r.parameters.get(n)) for n in varying] + [(1, r.scenario)])


@cli.command()
@click.argument("run_ids", nargs=-1, metavar="[RUN_ID]...")
@click.option("--sweep", metavar="NAME", help="The latest run of each point of this sweep (a config's `sweeps:` name).")
@click.option("--config", type=click.Path(dir_okay=False), metavar="PATH",
              help="With --sweep: only runs of this config (when several configs have a sweep of that name).")
@click.option("--columns", metavar="NAME,...", help="Results to show (comma-separated; default: all, those that vary first).")
@click.option("--csv", "csv_to", is_flag=False, flag_value="-", default=None, metavar="[FILE]",
              help="Write CSV (one row per run, every varying input and result) to FILE, or to stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_context
def compare(ctx: click.Context, run_ids: tuple[str, ...], sweep: str | None, config: str | None,
            columns: str | None, csv_to: str | None, as_json: bool) -> None:
    """Compare runs, one row each: the inputs that vary and the results (RUN_IDs or --sweep NAME)."""
    from ..compare import change, choose_view
    from ..result_format import format_delta
    from ..compare import compare as compare_runs  # lazy: keeps `livedocs run` start-up light

    store = store_of(ctx)
    if sweep and run_ids:
        raise click.UsageError("give run ids or --sweep NAME, not both.")
    if sweep:
        records = sweep_runs(store, sweep, config)
    else:
        if len(run_ids) < 2:
            raise click.UsageError("give at least two run ids to compare, or --sweep NAME.")
        records = [store.get(r) for r in run_ids]
    result = compare_runs(records)
    view = choose_view(result)
    metrics = _chosen(columns, result.varying_metrics + [m for m in result.metrics if m not in result.varying_metrics],
                      result.metrics)
    params = list(result.differing)
    if as_json:
        rows = [{"id": r.id, "scenario": r.scenario, "status": r.status, "cache_of": r.cache_of,
                 "parameters": {p: r.parameters.get(p) for p in params},
                 "metrics": {m: r.metrics.get(m) for m in metrics if not is_table(r.metrics.get(m))}} for r in records]
        click.echo(json.dumps({**result.to_json(), "view": view.to_json(), "rows": rows}, indent=2, ensure_ascii=False))
        return
    if csv_to:
        header = ["id", "scenario", "status", *params, *metrics]
        write_csv(csv_to, header, [[r.id, r.scenario, r.status, *(r.parameters.get(p) for p in params),
                                    *(_scalar(r.metrics.get(m)) for m in metrics)] for r in records])
        return
    width = terminal_width()
    status = any(r.status != "succeeded" or r.cache_of for r in records)
    scenario = not sweep and len(set(result.scenarios)) > 1  # a sweep's point names repeat its inputs
    header = ["run", *(["status"] if status else []), *(["scenario"] if scenario else []), *params, *metrics]
    specs = _specs(records)
    short = _short_ids([r.id for r in records])
    rows = [[short[r.id], *([cell("cached" if r.cache_of else r.status)] if status else []),
             *([cell(r.scenario, 40)] if scenario else []),
             *(cell(r.parameters.get(p, "—")) for p in params), *(_result(r.metrics.get(m), specs.get(m)) for m in metrics)]
            for r in records]
    text, key, left_out = fitted(header, rows, width, keep=1 + status + scenario + len(params))
    click.echo(text)
    notes = list(key)
    if left_out:
        notes += wrap([f"{left_out} more columns did not fit in {width}: pick some with --columns, or use --csv/--json."], width)
    if result.same:
        same = [f"{k}={relative(v) if _is_path(v) else show_value(v, 24)}" for k, v in result.same.items()]
        notes += wrap(["Same in all runs:", *(f"{item}," for item in same[:-1]), same[-1]], width, sep=" ")
    if len(records) == 2:
        for m in result.varying_metrics:
            moved = change(records[1].metrics.get(m), records[0].metrics.get(m))
            if moved is not None:
                pct = f" ({moved.relative:+.1%})" if moved.relative is not None else ""
                sign = "+" if moved.difference > 0 else ""
                delta = format_delta(records[1].metrics.get(m), records[0].metrics.get(m), specs.get(m))
                shown = f"{delta.text} ({delta.relative})" if delta and delta.relative else delta.text or \
                    f"{sign}{cell(moved.difference)}{pct}"
                notes += wrap([f"{m}: {shown} from {short[records[0].id]} to {short[records[1].id]}"], width)
    for line in notes:
        click.echo(line)


def _specs(records: list[RunRecord]) -> dict[str, Any]:
    """How each result is shown (label, unit, format): what the runs stored, under their config's ``results:``
    when they share one config that still loads."""
    from ..errors import LivedocsError
    from ..results import specs_for

    config = None
    paths = {r.config for r in records}
    if len(paths) == 1 and (path := paths.pop()) and Path(path).is_file():
        try:
            from ..scenarios import load_config

            config = load_config(path)
        except LivedocsError:
            config = None
    specs: dict[str, Any] = {}
    for record in records:
        specs = {**specs_for(record, config), **specs}  # the first run's spec wins for a name
    return specs


def _result(value: Any, spec: Any) -> str:
    """A result for the fitted table: formatted like everywhere else (``53.1 %``, ``€3.29 M``), then cut."""
    if value is None or is_table(value) or not isinstance(value, int | float) or isinstance(value, bool):
        return cell(_scalar(value))
    from ..result_format import format_value

    return cell(format_value(value, spec))


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/") and "\n" not in value and len(value) < 4096


def _short_ids(ids: list[str]) -> dict[str, str]:
    """Each id cut to the shortest prefix (7 characters or more) that tells these runs apart."""
    for size in range(7, 33):
        if len({i[:size] for i in ids}) == len(set(ids)):
            return {i: i[:size] for i in ids}
    return {i: i for i in ids}


def _scalar(value: Any) -> Any:
    return f"(table, {len(value['data'])} rows)" if is_table(value) else value


def _chosen(columns: str | None, ordered: list[str], known: dict[str, Any]) -> list[str]:
    if not columns:
        return ordered
    from ..errors import did_you_mean

    names = [c.strip() for c in columns.split(",") if c.strip()]
    for name in names:
        if name not in known:
            raise InputError(f"no result {name!r} in these runs.",
                             hint=did_you_mean(name, known) or f"Results: {', '.join(known) or 'none'}.")
    return names
