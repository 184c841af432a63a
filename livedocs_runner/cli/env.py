"""``livedocs env``: a run's stored kernel environment, as a listing, a requirements file or a difference."""

from __future__ import annotations

import json

import click

from ..errors import InputError
from ..records.environments import EnvDiff, diff_environments, environment_of, requirements, shown_variable
from ..records.store import Store
from . import cli, home_of, store_of
from .format import safe


@cli.command()
@click.argument("run_a")
@click.argument("run_b", required=False)
@click.option("--requirements", "as_requirements", is_flag=True,
              help="Print a pip requirements file (exact pins) that recreates the package set.")
@click.option("--json", "as_json", is_flag=True, help="Print the environment (or the difference) as JSON.")
@click.pass_context
def env(ctx: click.Context, run_a: str, run_b: str | None, as_requirements: bool, as_json: bool) -> None:
    """Show the kernel environment a run used; with RUN_B, what differs between the two runs'."""
    store = store_of(ctx)
    first = store.get(run_a)
    doc_a = environment_of(store.home, first)
    if run_b is None:
        if as_requirements:
            click.echo(requirements(doc_a, f"Requirements of run {first.id} (environment "
                                           f"{first.environment['environment_id'][:12]})"), nl=False)
        elif as_json:
            click.echo(json.dumps({"id": first.environment["environment_id"], **doc_a}, indent=2, ensure_ascii=False))
        else:
            show_environment(first.id, first.environment["environment_id"], doc_a)
        return
    if as_requirements:
        raise InputError("--requirements takes one run.", hint=f"Write `livedocs env {run_a} --requirements`.")
    second = store.get(run_b)
    diff = diff_environments(doc_a, environment_of(store.home, second))
    if as_json:
        click.echo(json.dumps(diff.to_json(), indent=2, ensure_ascii=False))
        return
    if diff.same:
        click.echo(f"Runs {first.id} and {second.id} used the same environment.")
        return
    click.echo(f"Environment of run {first.id} -> run {second.id}:")
    click.echo("\n".join(env_diff_lines(diff)))


def show_environment(run_id: str, env_id: str, doc: dict) -> None:
    kernelspec = doc.get("kernelspec") or {}
    fields = [("Run", run_id), ("Environment", env_id), ("Kernel", doc.get("kernel")),
              ("Kernel command", " ".join(kernelspec.get("argv") or []) or "-"),
              ("Language", kernelspec.get("language") or "-"), ("Interpreter", doc.get("executable") or "-"),
              ("Python", f"{doc.get('python') or '-'} ({doc.get('implementation') or '-'})"),
              ("Platform", doc.get("platform") or "-")]
    for key, value in fields:
        click.echo(safe(f"{key + ':':<16}{value}"))
    variables = doc.get("variables") or {}
    if variables:
        click.echo("Variables:")
        for name, value in variables.items():
            click.echo(safe(f"  {name} = {shown_variable(value)}"))
    installs = doc.get("installs") or {}
    packages = doc.get("packages") or {}
    click.echo(f"Packages ({len(packages)}):")
    for name, version in packages.items():
        how = installs.get(name)
        click.echo(safe(f"  {name}=={version}" + (f"  ({how['kind']}: {how.get('url')})" if how else "")))


def env_diff_lines(diff: EnvDiff) -> list[str]:
    """The readable lines of an environment difference (used by ``env`` and ``diff``)."""
    lines = []
    for key, (old, new) in diff.other.items():
        lines.append(safe(f"  {key}: {_plain(old)} -> {_plain(new)}"))
    for name, (old, new) in diff.changed.items():
        lines.append(safe(f"  changed  {name} {old} -> {new}"))
    for name, version in diff.added.items():
        lines.append(safe(f"  added    {name}=={version}"))
    for name, version in diff.removed.items():
        lines.append(safe(f"  removed  {name}=={version}"))
    for name, (old, new) in diff.variables.items():
        lines.append(safe(f"  variable {name}: {old} -> {new}"))
    return lines


def _plain(value: object) -> str:
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "-" if value is None else str(value)
