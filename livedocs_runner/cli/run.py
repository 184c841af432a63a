"""``livedocs run`` and ``livedocs rerun``: execute, record, report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import InputError, RunError, RunFailed
from ..execute import RunOptions
from ..params import quote
from ..plan import RunPlan, parse_overrides, plan_runs
from ..records.store import RunRecord, Store
from . import cli, home_of, store_of

if TYPE_CHECKING:
    from ..profiling import Profiler
    from ..records.verdicts import Tolerances
from .format import record_json, relative, safe
from ..results import specs_for
from ..result_format import summary
from .progress import ProgressView, cache_note


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("-s", "--scenario", "scenarios", multiple=True, metavar="NAME",
              help="Scenario or sweep to run (repeatable). Default: all of the config's, or the notebook's defaults.")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter; the value is converted by the parameter's type.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Scenarios run in parallel, each in its own kernel process. Default: the number of CPUs, at most "
                   "one per scenario.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Time limit for each run, from its first cell; the kernel is killed and the run recorded failed.")
@click.option("--failed-only", is_flag=True,
              help="Only the chosen scenarios (and sweep points) whose latest run failed, timed out or was cancelled.")
@click.option("-v", "--verbose", is_flag=True, help="Without a terminal, print a progress line per cell, not per state change.")
@click.option("--no-cache", is_flag=True, help="Execute even when an identical earlier run succeeded.")
@click.option("--no-report", is_flag=True, help="Skip the HTML report (faster).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where runs execute: kernels on this machine, or a Dask distributed cluster.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Dask scheduler address for --executor dask, e.g. tcp://HOST:8786 (the home must be shared).")
@click.option("--json", "as_json", is_flag=True, help="Print the run records as a JSON list on stdout.")
@click.option("--profile", is_flag=True,
              help="Then print where each run's time went (prepare, acquire, execute, release, outputs, report, "
                   "store), per run and summed, on stderr.")
@click.option("--queue", "to_queue", is_flag=True,
              help="Queue the runs in the store for `livedocs worker` processes (or the app's worker) instead of "
                   "running them here: prints each run id and its place, exit 0.")
@click.pass_context
def run(ctx: click.Context, target: Path, scenarios: tuple[str, ...], params: tuple[str, ...], workers: int | None,
        timeout: float | None, failed_only: bool, verbose: bool, no_cache: bool, no_report: bool, executor: str,
        scheduler: str | None, as_json: bool, profile: bool, to_queue: bool) -> None:
    """Run a config's scenarios (or a notebook) and record every run.

    TARGET is a config (configs/*.yaml) or a notebook (.ipynb).
    Exit code: 0 all succeeded (with --queue: all queued), 1 any failed, 2 bad input (nothing executed), 130 interrupted.
    """
    if executor == "dask" and not scheduler:
        raise InputError("--executor dask needs --scheduler ADDRESS.", hint="E.g. --scheduler tcp://HOST:8786.")
    if executor == "dask" and profile:
        raise InputError("--profile times runs on this machine; it does not combine with --executor dask.",
                         hint="Drop --profile, or run locally (--executor local).")
    if to_queue and executor == "dask":
        raise InputError("--queue and --executor dask both say where runs execute.",
                         hint="Queue them for `livedocs worker` processes (--queue), or run them on Dask, not both.")
    if to_queue and profile:
        raise InputError("--profile times runs executed here; queued runs execute in `livedocs worker` processes.",
                         hint="Drop --profile, or run them here (without --queue).")
    plans = plan_runs(target, scenarios=list(scenarios), overrides=parse_overrides(list(params)))
    store = store_of(ctx)  # after planning: bad input is refused before a store is made
    if failed_only:
        plans = only_failed(store, plans, target)
        if not plans:
            if as_json:
                click.echo("[]")
            return
    options = RunOptions(timeout=timeout, trigger="cli", use_cache=not no_cache, report=not no_report)
    if to_queue:
        queue_plans(plans, options, store, as_json)
        return
    profiler = None
    if profile:
        from ..profiling import Profiler

        profiler = Profiler()
    records = execute_plans(ctx, plans, options, workers, scheduler=scheduler if executor == "dask" else None,
                            verbose=verbose, store=store, profiler=profiler)
    try:
        finish(records, as_json, store)
    finally:
        if profiler is not None:  # after the results, also when a run failed
            echo_profile(profiler)


def only_failed(store: Store, plans: list[RunPlan], target: Path) -> list[RunPlan]:
    """The plans whose scenario's latest run did not succeed, said on stderr (with why there are none)."""
    from ..retry import describe, latest_runs

    store.abandon_stale()  # a run whose process died counts as cancelled, so it is due again
    latest = latest_runs(store, plans)
    due = [item for item in latest if item.due]
    if not due:
        click.echo(f"Nothing to run again: of the {len(plans)} chosen scenario(s) of {relative(target)}, "
                   f"{describe(latest)}.", err=True)
        return []
    shown = ", ".join(f"{item.scenario} ({item.record.status})" for item in due if item.record)
    click.echo(f"Running again {len(due)} of {len(plans)} scenario(s), whose latest run did not succeed: {shown}.",
               err=True)
    return [plan for plan, item in zip(plans, latest) if item.due]


def queue_plans(plans: list[RunPlan], options: RunOptions, store: Store, as_json: bool) -> None:
    """Queue ``plans`` (checked first, as a run would be: bad input queues nothing) and print id and place of each."""
    from ..execute import check_kernels
    from ..submit import enqueue

    for notebook in {id(p.notebook): p.notebook for p in plans}.values():
        notebook.validate()
    check_kernels(plans)
    records = [enqueue(plan, store, options) for plan in plans]
    places = {r.id: store.queue_place(r.id) for r in records}
    if as_json:
        click.echo(json.dumps([{**record_json(r), "place": places[r.id]} for r in records], indent=2,
                              ensure_ascii=False))
        return
    click.echo(f"Queued {len(records)} run(s) in {store.home}:")
    for record in records:
        place = f"place {places[record.id]}" if places[record.id] else "already taken by a worker"
        click.echo(f"  {record.id}  {safe(record.scenario)}  {place}")
    click.echo("Workers run them (`livedocs worker`, or `livedocs app`); follow them with `livedocs runs`, "
               "cancel one with `livedocs cancel RUN_ID`.", err=True)


def default_workers(runs: int) -> int:
    """One worker per CPU this process may use, at most one per run (and at least one)."""
    count = getattr(os, "process_cpu_count", None)
    cpus = count() if count else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    return max(1, min(cpus or 1, runs, 64))


def execute_plans(ctx: click.Context, plans: list[RunPlan], options: RunOptions, workers: int | None, *,
                  scheduler: str | None = None, verbose: bool = False, store: Store | None = None,
                  profiler: Profiler | None = None) -> list[RunRecord]:
    """Run ``plans`` locally (a warm pool of ``workers`` kernels for a batch; None: one per CPU) or on a
    Dask cluster."""
    store = store or store_of(ctx)
    workers = workers or default_workers(len(plans))
    view = ProgressView(workers=min(workers, len(plans)), verbose=verbose, store=store)
    try:
        if scheduler is not None:
            from ..dask_executor import run_on_dask
            return run_on_dask(plans, store, scheduler=scheduler, options=options, progress=view, on_record=view.queued)
        from ..batch import run_batch
        return run_batch(plans, store, options=options, workers=workers, progress=view, on_record=view.queued,
                         profiler=profiler)
    finally:
        view.close()


def echo_profile(profiler: Profiler) -> None:
    """Where each run's time went, in milliseconds, one line per run and a summed line, on stderr."""
    from ..profiling import PHASES

    runs = profiler.runs()
    if not runs:
        click.echo("Profile: no run was executed.", err=True)
        return
    click.echo("Profile (ms of wall time per run; kernel start happened ahead of the run, in the background):",
               err=True)
    width = min(24, max(len("scenario"), *(len(r.scenario) for r in runs)))
    click.echo(f"{'run':<8} {'scenario':<{width}} " + " ".join(f"{name:>8}" for name in PHASES)
               + f" {'total':>8} {'kernel start':>12}", err=True)
    for item in [*runs, profiler.summed()]:
        start = f"{item.kernel_start * 1000:12.1f}" if item.kernel_start is not None else f"{'-':>12}"
        click.echo(f"{item.run_id[:8]:<8} {safe(item.scenario)[:width]:<{width}} "
                   + " ".join(f"{item.phases[name] * 1000:8.1f}" for name in PHASES)
                   + f" {item.total * 1000:8.1f} {start}", err=True)


def finish(records: list[RunRecord], as_json: bool, store: Store) -> None:
    """Print what happened (records as JSON on stdout, or one line each, then every report's path) and set the
    exit code."""
    if as_json:
        click.echo(json.dumps([record_json(r) for r in records], indent=2, ensure_ascii=False))
    for record in records:
        if record.status == "succeeded":
            took = cache_note(store, record.cache_of) if record.cache_of else f"{record.duration_s:.2f}s"
            line = f"✓ {record.id}  {record.scenario}  {took}  {safe(summary(record.metrics, specs_for(record)))}"
            click.echo(line, err=as_json)
        else:
            click.echo(failure_line(record), err=True)
    if not as_json:
        echo_reports(records)
    failed = [r for r in records if r.status != "succeeded"]
    if failed:
        raise RunFailed(f"{len(failed)} of {len(records)} run(s) did not succeed.",
                        hint="See `livedocs show RUN_ID` for details.")


def echo_reports(records: list[RunRecord]) -> None:
    """``Report: PATH`` for one run; for several, one ``  SCENARIO  PATH`` line each (a cache hit's is its original's)."""
    reports = [(r.scenario, r.report_html) for r in records if r.report_html]
    if len(reports) == 1:
        click.echo(f"Report: {relative(reports[0][1])}")
    elif reports:
        width = min(30, max(len(name) for name, _ in reports))
        click.echo("Reports:")
        for name, path in reports:
            click.echo(f"  {name:<{width}}  {relative(path)}")


def failure_line(record: RunRecord) -> str:
    """``✗ Run 3f2a9c1 (stress) failed in code cell 5 of 7 ("Score applications"): ZeroDivisionError: division by
    zero. Partial output: ...`` (cells counted in the analyst's notebook, see ``livedocs_runner.cells``).

    One line whatever the error holds (the CLI's only rendering of a :class:`RunError`; ``show`` uses it too).
    """
    from ..cells import record_error

    partial = f" Partial output: {relative(record.output_notebook)}" if record.output_notebook else ""
    return f"✗ Run {record.id} ({record.scenario}) {record.status}{failure_text(record_error(record))}.{partial}"


def failure_text(err: RunError | None) -> str:
    """`` in code cell 5 of 7 ("Score applications"): ZeroDivisionError: division by zero``, or
    `` (DiskFull: ...)`` for a failure outside the notebook's cells: on one line, after the status."""
    if err is not None and err.where:
        return " " + " ".join(err.describe().split())
    return f" ({error_summary(err)})"


def error_summary(err: RunError | None) -> str:
    """``ZeroDivisionError: division by zero`` on one line (newlines in the value folded)."""
    return " ".join(err.summary().split()) if err else "no detail"


@cli.command()
@click.argument("run_ids", nargs=-1, metavar="[RUN_ID]...")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Change a parameter (e.g. another quarter's data file); converted by the parameter's type.")
@click.option("--inputs", type=click.Choice(["recorded", "current"]), default="recorded", show_default=True,
              help="recorded: the snapshots of the files the run read; current: today's files (changes are named).")
@click.option("--notebook", "notebook_opts", multiple=True, metavar="recorded|current|NAME",
              help="recorded (default): the notebook copy the run executed; current: today's notebook at the run's "
                   "path. Any other value (a .ipynb path or file name) selects the runs of that notebook.")
@click.option("--from", "since", metavar="DATE", help="Rerun runs created on or after DATE (YYYY-MM-DD[THH:MM]).")
@click.option("--to", "until", metavar="DATE", help="Rerun runs created on or before DATE.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Reruns in parallel, each in its own kernel process. Default: the number of CPUs, at most one per rerun.")
@click.option("-v", "--verbose", is_flag=True, help="Without a terminal, print a progress line per cell, not per state change.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS")
@click.option("--verify", is_flag=True,
              help="Then compare each rerun with its original, as `livedocs diff` does: exit 0 only if all reproduced.")
@click.option("--rtol", type=float, default=1e-9, show_default=True, help="With --verify: relative tolerance for floats.")
@click.option("--atol", type=float, default=0.0, show_default=True, help="With --verify: absolute tolerance for floats.")
@click.option("--json", "as_json", is_flag=True, help="Print the new run records as a JSON list on stdout.")
@click.pass_context
def rerun(ctx: click.Context, run_ids: tuple[str, ...], params: tuple[str, ...], inputs: str,
          notebook_opts: tuple[str, ...], since: str | None, until: str | None, workers: int | None, verbose: bool,
          timeout: float | None, verify: bool, rtol: float, atol: float, as_json: bool) -> None:
    """Run past runs again, exactly (recorded notebook copy, input snapshots, parameters) or with one thing changed.

    Give RUN_IDs, or select finished runs (not reruns) with --from/--to/--notebook NAME. Each rerun is recorded with rerun_of and its
    variant (exact, params, inputs-current, notebook-current).
    With --verify, each rerun is then compared with its original and the verdict printed (REPRODUCED,
    REPRODUCED, ENVIRONMENT CHANGED or DIFFERENT, then what differs).
    Exit code: 0 all succeeded (and, with --verify, reproduced), 1 any failed or differed, 2 bad input (nothing
    run), 130 interrupted.
    """
    from ..rerun import RerunOptions, plan_reruns

    if verify and as_json:
        raise InputError("--verify prints verdicts as text; it does not combine with --json.",
                         hint="Rerun with --json, then compare with `livedocs diff ORIGINAL RERUN --json`.")
    tolerances = None
    if verify:
        from ..records.verdicts import Tolerances  # lazy: nbdime stays off `run`

        tolerances = Tolerances(rtol=rtol, atol=atol)  # a bad tolerance is refused before anything runs

    variants = [v for v in notebook_opts if v in ("recorded", "current")]
    filters = [v for v in notebook_opts if v not in ("recorded", "current")]
    if len(set(variants)) > 1 or len(filters) > 1:
        raise InputError(f"--notebook given {len(notebook_opts)} times: {', '.join(map(quote, notebook_opts))}.",
                         hint="Give at most one of recorded/current and at most one notebook NAME.")
    notebook = variants[0] if variants else "recorded"
    of_notebook = filters[0] if filters else None
    store = store_of(ctx)
    ids = list(run_ids) + select_runs(store, since, until, of_notebook)
    if not ids:
        raise InputError("no run to rerun.", hint="Give a RUN_ID (see `livedocs runs`) or --from/--to/--notebook NAME.")
    options = RerunOptions(params=parse_overrides(list(params)), inputs=inputs, notebook=notebook)
    planned = plan_reruns(store, list(dict.fromkeys(ids)), options)
    for item in planned:
        for warning in item.warnings:
            click.echo(f"Warning: {warning}", err=True)
    run_options = RunOptions(timeout=timeout, trigger="rerun", use_cache=False)
    records = execute_plans(ctx, [p.plan for p in planned], run_options, workers, verbose=verbose, store=store)
    finish(records, as_json, store)
    if tolerances is not None:
        verify_reruns(ctx, store, records, tolerances)


def verify_reruns(ctx: click.Context, store: Store, records: list[RunRecord], tolerances: Tolerances) -> None:
    """Print each rerun's verdict against its original; exit 1 unless every one reproduced it."""
    from ..records.verdicts import diff_runs
    from .diff import echo_run_diff

    reproduced = True
    for record in records:
        click.echo("")
        result = diff_runs(store, record.rerun_of or record.id, record.id, tolerances)
        echo_run_diff(result)
        reproduced = reproduced and result.reproduced
    ctx.exit(0 if reproduced else 1)


def select_runs(store: Store, since: str | None, until: str | None, notebook: str | None) -> list[str]:
    """Ids of finished runs that are not themselves reruns (oldest first), created within [since, until], of
    ``notebook``; [] with no filter."""
    if not (since or until or notebook):
        return []
    bounds = [_date(since, "--from"), _date(until, "--to", end=True)]
    records = store.list(notebook=notebook, limit=None)
    chosen = [r for r in records if r.status in ("succeeded", "failed") and not r.rerun_of
              and (not bounds[0] or r.created_at >= bounds[0]) and (not bounds[1] or r.created_at <= bounds[1])]
    if not chosen:
        raise InputError("no finished run matches --from/--to/--notebook.", hint="List runs with `livedocs runs`.")
    return [r.id for r in reversed(chosen)]


def _date(value: str | None, option: str, *, end: bool = False) -> str | None:
    """A ``YYYY-MM-DD[THH:MM[:SS]]`` bound (UTC unless it names a zone) as the ISO text records are compared
    by; an end date without a time covers its whole day."""
    if not value:
        return None
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{option} {quote(value)} is not a date.", hint=f"Write e.g. {option} 2026-04-01.") from None
    if parsed.tzinfo is not None:  # records are stamped in UTC
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    text = parsed.isoformat(timespec="milliseconds")
    if end and len(value.strip()) <= 10:
        text = text[:10] + "T23:59:59.999"
    return text[:23]
