"""``livedocs diff``: did a run reproduce another? A verdict line, then only what differs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import InputError
from ..records.environments import EnvDiff
from ..records.store import Store
from . import cli, home_of, store_of
from .env import env_diff_lines
from .format import safe

if TYPE_CHECKING:
    from ..records.verdicts import RunDiff

_ABSENT = "(absent)"


@cli.command()
@click.argument("run_a")
@click.argument("run_b", required=False)
@click.option("--notebook", "notebook", type=click.Choice(["current"]),
              help="Compare RUN_A's notebook with the file at its recorded path today.")
@click.option("--rtol", type=float, default=1e-9, show_default=True, help="Relative tolerance for float metrics.")
@click.option("--atol", type=float, default=0.0, show_default=True, help="Absolute tolerance for float metrics.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict and differences as JSON.")
@click.pass_context
def diff(ctx: click.Context, run_a: str, run_b: str | None, notebook: str | None, rtol: float, atol: float,
         as_json: bool) -> None:
    """Did RUN_B reproduce RUN_A? Prints REPRODUCED, REPRODUCED, ENVIRONMENT CHANGED or DIFFERENT, then what
    differs. Exit 0 when reproduced, 1 when different, 2 for bad input."""
    from ..records.verdicts import Tolerances, diff_notebook_files, diff_runs  # lazy: nbdime stays off `run`

    store = store_of(ctx)
    if notebook == "current":
        if run_b is not None:
            raise InputError("--notebook current compares one run with today's notebook.",
                             hint=f"Write `livedocs diff {run_a} --notebook current`.")
        record = store.get(run_a)
        current = Path(record.notebook)
        if not current.is_file():
            raise InputError(f"the notebook of run {record.id}, {record.notebook}, no longer exists.",
                             hint=f"Restore it there, or see the run's own copy with `livedocs show {record.id}`.")
        cells = diff_notebook_files(Path(record.notebook_copy), current, record.id)
        if as_json:
            click.echo(json.dumps({"run": record.id, "notebook": record.notebook, "changed": bool(cells),
                                   "cells": cells}, indent=2, ensure_ascii=False))
        else:
            click.echo(f"NOTEBOOK {'CHANGED' if cells else 'UNCHANGED'} since run {record.id}: {safe(record.notebook)}")
            _echo_cells(cells)
        ctx.exit(1 if cells else 0)
    if run_b is None:
        raise InputError("diff needs two runs (or --notebook current).",
                         hint=f"Write `livedocs diff {run_a} OTHER_RUN` or `livedocs diff {run_a} --notebook current`.")
    result = diff_runs(store, run_a, run_b, Tolerances(rtol=rtol, atol=atol))
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False, default=str))
    else:
        echo_run_diff(result)
    ctx.exit(0 if result.reproduced else 1)


def echo_run_diff(result: RunDiff) -> None:
    """Print a :class:`RunDiff` as ``livedocs diff`` does: the verdict line, then what differs
    (for other commands too, e.g. a rerun that verifies itself)."""
    click.echo(result.verdict)
    click.echo(f"Run {result.runs[0]} -> run {result.runs[1]}")
    _echo_sections(result.sections)
    for note in result.notes:
        click.echo(safe(f"Note: {note}"))


def _echo_sections(sections: dict[str, Any]) -> None:
    from ..records.verdicts import readable

    if "notebook" in sections:
        click.echo(f"\nNotebook: {sections['notebook']['old'][:12]} -> {sections['notebook']['new'][:12]}")
        if not sections["notebook"]["cells"]:
            click.echo("  no cell's source changed (only cell ids, metadata or stored outputs)")
        _echo_cells(sections["notebook"]["cells"])
    if "parameters" in sections:
        click.echo("\nParameters:")
        for name, change in sections["parameters"].items():
            click.echo(safe(f"  {name}: {_param(change['old'])} -> {_param(change['new'])}"))
    if "inputs" in sections:
        click.echo("\nInputs:")
        for item in sections["inputs"]:
            click.echo(safe(f"  {item['parameter']}:"))
            for side in ("old", "new"):
                click.echo(safe(f"    {side}: {_input(item[side])}"))
            old, new = item["old"] or {}, item["new"] or {}
            if isinstance(old.get("columns"), list) and isinstance(new.get("columns"), list):
                added = [c for c in new["columns"] if c not in old["columns"]]
                removed = [c for c in old["columns"] if c not in new["columns"]]
                if added:
                    click.echo(safe(f"    columns added: {', '.join(added)}"))
                if removed:
                    click.echo(safe(f"    columns removed: {', '.join(removed)}"))
            if item.get("note"):
                click.echo(safe(f"    {item['note']}"))
    if "environment" in sections:
        env = sections["environment"]
        click.echo("\nEnvironment:")
        diff = EnvDiff(added=env["added"], removed=env["removed"],
                       changed={k: (v["old"], v["new"]) for k, v in env["changed"].items()},
                       other={k: (v["old"], v["new"]) for k, v in env["other"].items()},
                       variables={k: (v["old"], v["new"]) for k, v in env["variables"].items()})
        click.echo("\n".join(env_diff_lines(diff)))
    if "metrics" in sections:
        click.echo("\nMetrics:")
        for item in sections["metrics"]:
            name = item["metric"]
            if item["change"] == "removed":
                click.echo(safe(f"  {name}: {readable(item['old'])} -> (not recorded)"))
            elif item["change"] == "added":
                click.echo(safe(f"  {name}: (not recorded) -> {readable(item['new'])}"))
            elif item["change"] == "changed":
                line = f"  {name}: {readable(item['old'])} -> {readable(item['new'])}"
                if "abs_change" in item:
                    rel = item["rel_change"]
                    line += f"  (change {item['abs_change']:+.6g}" + (f", {rel:+.3%})" if rel is not None else ")")
                click.echo(safe(line))
            else:
                _echo_table(name, item)
    if "figures" in sections:
        click.echo("\nFigures (not part of the verdict):")
        for item in sections["figures"]:
            click.echo(safe(f"  figure {item['figure']} ({item['file']}): {(item['old'] or '(none)')[:12]} -> "
                            f"{(item['new'] or '(none)')[:12]}"))
    if "status" in sections:
        s = sections["status"]
        click.echo(safe(f"\nStatus: {s['old']} -> {s['new']}"))
        if s["old_error"] != s["new_error"]:
            click.echo(safe(f"  error: {s['old_error'] or '(none)'} -> {s['new_error'] or '(none)'}"))


def _echo_table(name: str, item: dict[str, Any]) -> None:
    from ..records.verdicts import readable

    click.echo(safe(f"  {name} (table):"))
    if item.get("columns_added"):
        click.echo(safe(f"    columns added: {', '.join(item['columns_added'])}"))
    if item.get("columns_removed"):
        click.echo(safe(f"    columns removed: {', '.join(item['columns_removed'])}"))
    if "rows" in item:
        click.echo(f"    rows: {item['rows']['old']} -> {item['rows']['new']}")
    if item.get("cells_changed"):
        click.echo(f"    {item['cells_changed']} cell(s) changed:")
        for cell in item["cells"]:
            row = f"row {cell['row'] + 1}" + (f" ({cell['row_label']})" if cell.get("row_label") else "")
            click.echo(safe(f"      {row}, column {cell['column']}: {readable(cell['old'])} -> {readable(cell['new'])}"))
        if item["cells_changed"] > len(item["cells"]):
            click.echo(f"      ... and {item['cells_changed'] - len(item['cells'])} more (see --json)")


def _echo_cells(cells: list[dict[str, Any]]) -> None:
    for cell in cells:
        if cell["change"] == "added":
            head = f"  cell {cell['new_cell']} added ({cell['cell_type']})"
        elif cell["change"] == "removed":
            head = f"  cell {cell['old_cell']} removed ({cell['cell_type']})"
        else:
            where = str(cell["old_cell"]) if cell["old_cell"] == cell["new_cell"] else \
                f"{cell['old_cell']} (now {cell['new_cell']})"
            head = f"  cell {where} modified ({cell['cell_type']})"
        click.echo(safe(head))
        for line in cell["lines"]:
            click.echo("      " + safe(line))


def _param(value: Any) -> str:
    if isinstance(value, dict) and value == {"absent": True}:
        return _ABSENT
    return json.dumps(value, ensure_ascii=False, default=str)


def _input(facts: dict[str, Any] | None) -> str:
    if facts is None:
        return _ABSENT
    text = f"{facts.get('path')} ({facts.get('size')} bytes, sha256 {str(facts.get('sha256'))[:12]})"
    if "rows" in facts:
        text += f", {facts['rows']} rows, columns {', '.join(facts['columns'])}"
    elif "csv" in facts:
        text += f"; rows and columns: {facts['csv']}"
    return text
