"""``livedocs run`` and ``livedocs rerun``: execute, record, report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import InputError, RunError, RunFailed
from ..execute import RunOptions
from ..plan import RunPlan, parse_overrides, plan_runs
from ..records.store import RunRecord, Store
from . import cli, home_of
from .format import metric_summary, relative
from .progress import ProgressView


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("-s", "--scenario", "scenarios", multiple=True, metavar="NAME",
              help="Scenario or sweep to run (repeatable). Default: all of the config's, or the notebook's defaults.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter; the value is converted by the parameter's type.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Scenarios run in parallel, each in its own kernel process.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Time limit for each run, from its first cell; the kernel is killed and the run recorded failed.")
@click.option("--no-cache", is_flag=True, help="Execute even when an identical earlier run succeeded.")
@click.option("--no-report", is_flag=True, help="Skip the HTML report (faster).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where runs execute: kernels on this machine, or a Dask distributed cluster.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Dask scheduler address for --executor dask, e.g. tcp://HOST:8786 (the home must be shared).")
@click.option("--json", "as_json", is_flag=True, help="Print the run records as a JSON list on stdout.")
@click.pass_context
def run(ctx: click.Context, target: Path, scenarios: tuple[str, ...], params: tuple[str, ...], workers: int,
        timeout: float | None, no_cache: bool, no_report: bool, executor: str, scheduler: str | None,
        as_json: bool) -> None:
    """Run a config's scenarios (or a notebook) and record every run.

    TARGET is a config (configs/*.yaml) or a notebook (.ipynb).
    Exit code: 0 all succeeded, 1 any failed, 2 bad input (nothing executed), 130 interrupted.
    """
    if executor == "dask" and not scheduler:
        raise InputError("--executor dask needs --scheduler ADDRESS.", hint="E.g. --scheduler tcp://HOST:8786.")
    plans = plan_runs(target, scenarios=list(scenarios), overrides=parse_overrides(list(params)))
    options = RunOptions(timeout=timeout, trigger="cli", use_cache=not no_cache, report=not no_report)
    records = execute_plans(ctx, plans, options, workers, scheduler=scheduler if executor == "dask" else None)
    finish(records, as_json)


def execute_plans(ctx: click.Context, plans: list[RunPlan], options: RunOptions, workers: int, *,
                  scheduler: str | None = None) -> list[RunRecord]:
    """Run ``plans`` locally (a warm pool of ``workers`` kernels for a batch) or on a Dask cluster."""
    store = Store(home_of(ctx))
    view = ProgressView(workers=min(workers, len(plans)))
    try:
        if scheduler is not None:
            from ..dask_executor import run_on_dask
            return run_on_dask(plans, store, scheduler=scheduler, options=options, progress=view, on_record=view.queued)
        from ..batch import run_batch
        return run_batch(plans, store, options=options, workers=workers, progress=view, on_record=view.queued)
    finally:
        view.close()


def finish(records: list[RunRecord], as_json: bool) -> None:
    """Print what happened (records as JSON on stdout, or one line each) and set the exit code."""
    if as_json:
        click.echo(json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=False))
    for record in records:
        if record.status == "succeeded":
            cached = f" (cached from {record.cache_of})" if record.cache_of else ""
            line = f"✓ {record.id}  {record.scenario}  {record.duration_s:.2f}s{cached}  {metric_summary(record.metrics)}"
            click.echo(line, err=as_json)
        else:
            click.echo(failure_line(record), err=True)
    reports = [r.report_html for r in records if r.report_html]
    if reports and not as_json:
        click.echo(f"Reports: {relative(Path(reports[0]).parent.parent)}/<run id>/report.html"
                   if len(reports) > 1 else f"Report: {relative(reports[0])}")
    failed = [r for r in records if r.status != "succeeded"]
    if failed:
        raise RunFailed(f"{len(failed)} of {len(records)} run(s) did not succeed.",
                        hint="See `livedocs show RUN_ID` for details.")


def failure_line(record: RunRecord) -> str:
    """``✗ Run 3f2a9c1 (stress) failed in cell 7 (ZeroDivisionError: division by zero). Partial output: ...``

    One line whatever the error holds (the CLI's only rendering of a :class:`RunError`; ``show`` uses it too).
    """
    err = RunError.from_json(record.error)
    where = f" {err.where}" if err and err.where else ""
    what = error_summary(err)
    partial = f" Partial output: {relative(record.output_notebook)}" if record.output_notebook else ""
    return f"✗ Run {record.id} ({record.scenario}) {record.status}{where} ({what}).{partial}"


def error_summary(err: RunError | None) -> str:
    """``ZeroDivisionError: division by zero`` on one line (newlines in the value folded)."""
    return " ".join(err.summary().split()) if err else "no detail"


@cli.command()
@click.argument("run_id")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS")
@click.option("--json", "as_json", is_flag=True, help="Print the new run record as a JSON list on stdout.")
@click.pass_context
def rerun(ctx: click.Context, run_id: str, timeout: float | None, as_json: bool) -> None:
    """Run a past run again: its stored notebook copy, same parameters, linked to the original."""
    from ..batch import plan_rerun

    planned = plan_rerun(Store(home_of(ctx)), run_id)
    for warning in planned.warnings:
        click.echo(f"Warning: {warning}", err=True)
    options = RunOptions(timeout=timeout, trigger="rerun", use_cache=False)
    finish(execute_plans(ctx, [planned.plan], options, 1), as_json)
