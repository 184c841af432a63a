"""`livedocs` imports a command's module only when that command runs (COMMANDS in livedocs_runner/cli): every
command is still listed, found and documented, and `livedocs runs` loads neither the planner nor YAML."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import click

import livedocs_runner.cli as cli_package
from livedocs_runner.cli import COMMANDS, cli

from .test_architecture import loaded_after, top_level


def test_every_command_a_module_registers_is_in_commands_and_the_other_way_round() -> None:
    for module in pkgutil.iter_modules(cli_package.__path__):  # every module: a command it adds must be listed
        if module.name != "__main__":  # `python -m livedocs_runner.cli`: importing it runs the CLI
            __import__(f"livedocs_runner.cli.{module.name}")
    assert set(cli.commands) == set(COMMANDS)
    for name, module in COMMANDS.items():
        assert cli.commands[name].callback.__module__ == f"livedocs_runner.cli.{module}", name


def test_commands_are_found_and_listed_before_their_module_is_imported() -> None:
    code = """
import json, sys
import click
from livedocs_runner.cli import cli
ctx = click.Context(cli)
before = "livedocs_runner.cli.worker" in sys.modules
print(json.dumps({"before": before, "listed": cli.list_commands(ctx),
                  "worker": [p.name for p in cli.get_command(ctx, "worker").params]}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["before"] is False
    assert found["listed"] == sorted(COMMANDS)
    assert {"workers", "notebooks", "grace"} <= set(found["worker"])
    assert {"home", "db"} <= set(found["worker"])  # the options every command gets, added as it registers


def test_livedocs_runs_does_not_load_what_only_running_needs() -> None:
    modules = loaded_after("from livedocs_runner.cli import cli\nimport click\ncli.get_command(click.Context(cli), 'runs')")
    assert "livedocs_runner.cli.history" in modules  # the control: the command's module was imported
    assert {"livedocs_runner.scenarios", "livedocs_runner.execute", "livedocs_runner.plan",
            "livedocs_runner.cli.run", "livedocs_runner.cli.app"} & modules == set()
    assert {"yaml", "nbformat"} & top_level(modules) == set()


def test_an_unknown_command_is_still_refused_by_name() -> None:
    ctx = click.Context(cli)
    assert cli.get_command(ctx, "nope") is None
