"""``livedocs cancel``: cancel a queued or running run of the queue, wherever its worker is."""

from __future__ import annotations

import click

from . import cli, store_of
from .format import safe


@cli.command()
@click.argument("run_id")
@click.pass_context
def cancel(ctx: click.Context, run_id: str) -> None:
    """Cancel RUN_ID (id or unambiguous prefix): a queued run never starts; a running one is stopped by its
    worker at its next heartbeat (its partial output is kept).

    Exit code: 0 cancelled or cancel requested, 2 no such run, or it has ended or runs outside the queue.
    """
    from ..submit import cancel as cancel_run

    record = cancel_run(store_of(ctx), run_id)
    if record.status == "cancelled":
        click.echo(f"Cancelled {record.id} ({safe(record.scenario)}): it will not run.")
    else:
        click.echo(f"Cancel requested for {record.id} ({safe(record.scenario)}): its worker stops it at its next "
                   "heartbeat; see `livedocs show " + record.id + "`.")
