"""``livedocs worker``: run queued runs from the store until stopped (SIGTERM or Ctrl-C)."""

from __future__ import annotations

import time

import click

from ..records.store import RunRecord
from . import cli, store_of
from .format import safe

GRACE_HELP = ("On SIGTERM or Ctrl-C: seconds running runs get to finish before they are cancelled (a second "
              "Ctrl-C cancels them at once). Queued runs stay queued for the next worker.")


@cli.command()
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Runs this worker executes at once, each in its own warm kernel.")
@click.option("--notebook", "notebooks", metavar="GLOB", default=None,
              help="Only claim runs of notebooks whose file name matches GLOB (e.g. 'credit_*.ipynb').")
@click.option("--grace", type=click.FloatRange(min=0), default=30.0, show_default=True, metavar="SECONDS",
              help=GRACE_HELP)
@click.pass_context
def worker(ctx: click.Context, workers: int, notebooks: str | None, grace: float) -> None:
    """Execute runs queued in the store (by `livedocs run --queue` or `livedocs app --no-worker`).

    Start any number of workers, on any machine that shares the store and the home folder. Each claims the
    next run in the queue's fair order, heartbeats every $LIVEDOCS_HEARTBEAT_S seconds (default 5) while it
    runs, and requeues or fails runs of workers that died (no heartbeat for three times that).
    """
    from ..worker import Worker, heartbeat_seconds

    heartbeat = heartbeat_seconds()  # a bad value is refused before anything is claimed
    store = store_of(ctx)
    running = Worker(store, slots=workers, notebooks=notebooks, heartbeat_s=heartbeat, on_event=_echo)
    only = f", notebooks {safe(notebooks)}" if notebooks else ""
    click.echo(f"Worker {running.name}: {workers} at a time{only}; runs from {safe(store.location)}, files in {store.home} "
               f"(heartbeat {heartbeat:g} s; Ctrl-C or SIGTERM to stop)", err=True)
    running.start()
    try:
        try:
            while True:
                time.sleep(3600)  # the worker's threads do the work; signals arrive here
        except KeyboardInterrupt:
            left = len(running.running_ids())
            click.echo(f"Stopping: no new runs; {left} running run(s) get up to {grace:g} s to finish "
                       "(Ctrl-C again cancels them).", err=True)
            running.stop_claiming()
            try:
                running.wait_idle(grace)
            except KeyboardInterrupt:
                pass
    finally:
        running.stop(grace=0.0)
    click.echo(f"Worker {running.name} stopped.", err=True)


def _echo(kind: str, record: RunRecord) -> None:
    """One line per run started, finished or recovered (the worker's log)."""
    name = safe(f"{record.title or record.notebook} · {record.scenario}")
    if kind == "started":
        click.echo(f"→ {record.id}  {name}  (by {safe(record.user or 'unknown')})", err=True)
    elif kind == "finished":
        took = f" in {record.duration_s:.2f}s" if record.duration_s else ""
        error = f": {safe((record.error or {}).get('ename', ''))}" if record.error else ""
        click.echo(f"{'✓' if record.status == 'succeeded' else '✗'} {record.id}  {name}  {record.status}{took}{error}",
                   err=True)
    else:
        click.echo(f"! {record.id}  {name}  its worker was lost: {record.status}", err=True)
