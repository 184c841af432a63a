"""``livedocs inspect`` and ``livedocs validate``: look at schemas and configs, run nothing."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import ConfigError, LivedocsError
from ..scenarios import load_config, load_target
from . import cli
from .format import error_text, safe, table


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the schema as JSON.")
def inspect(target: Path, as_json: bool) -> None:
    """Show the parameters of a notebook (or of a config's notebook, with its refinements)."""
    config = load_target(target)
    schema = config.schema
    language, kernel = config.notebook.language, config.kernel or config.notebook.kernel_name
    if as_json:
        data = schema.to_json()
        data = {"notebook": data.pop("notebook"), "language": language, "kernel": kernel, **data}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo(safe(schema.notebook))
    click.echo(f"  language: {safe(language)} (kernel {safe(kernel)})")
    if not schema.has_parameters_cell:
        click.echo("  no cell tagged 'parameters': the notebook takes no parameters.")
        return
    rows = [[p.name, p.type + (" (inferred)" if p.inferred_path else ""), json.dumps(p.default, ensure_ascii=False), _constraints(p), p.help] for p in schema.params]
    lines = table(rows, ["NAME", "TYPE", "DEFAULT", "CONSTRAINTS", "HELP"]).splitlines()
    click.echo("\n".join("  " + line for line in lines))
    for p in schema.params:
        if p.inferred_path:
            click.echo(f"  {safe(p.name)}: its default names a file next to the notebook, so it is taken as an "
                       "input file: hashed and snapshotted by runs (with a config, its `type:` decides).")
    if config.path:
        click.echo(f"Scenarios: {', '.join(safe(s.name) for s in config.scenarios)}")


def _constraints(spec) -> str:
    parts = []
    if spec.min is not None:
        parts.append(f">= {spec.min}")
    if spec.max is not None:
        parts.append(f"<= {spec.max}")
    if spec.choices:
        labels = spec.choice_labels or [None] * len(spec.choices)  # a config's `choices: {value: label}`
        parts.append("one of " + "|".join(str(c) + (f" ({label})" if label and label != str(c) else "")
                                          for c, label in zip(spec.choices, labels)))
    if spec.pattern:
        parts.append(f"matches {spec.pattern}")
    if spec.within:
        parts.append(f"in {spec.within}")
    if spec.required:
        parts.append("required")
    if not spec.snapshot:
        parts.append("not snapshotted")
    return ", ".join(parts) or "-"


@cli.command()
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(configs: tuple[Path, ...]) -> None:
    """Check configs against their notebooks' schemas without running anything (exit 2 if invalid)."""
    bad = 0
    for path in configs:
        try:
            config = load_config(path)
        except LivedocsError as exc:
            bad += 1
            click.echo(error_text(exc.message, exc.hint), err=True)
            continue
        click.echo(f"OK {safe(path)}: {len(config.scenarios)} scenario(s) for {safe(config.notebook.path)}")
    if bad:
        raise ConfigError(f"{bad} of {len(configs)} config(s) invalid.")
