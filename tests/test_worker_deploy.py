"""The deployment examples in deploy/ are valid: the systemd units pass `systemd-analyze verify` (else parse as
unit files), and the docker-compose file parses and runs only real livedocs commands and options."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from livedocs_runner.cli import cli

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = ["livedocs-app.service", "livedocs-worker@.service"]
LIVEDOCS = Path(sys.executable).with_name("livedocs")


def livedocs_args(argv: list[str]) -> tuple[str, list[str]]:
    """(command, its options) of a `livedocs COMMAND ...` line, checked against the real click commands."""
    assert Path(argv[0]).name == "livedocs", argv
    command = cli.get_command(click.Context(cli), argv[1])  # a command's module is imported when asked for
    assert command is not None, f"livedocs has no command {argv[1]!r}"
    known = {opt for param in command.params for opt in getattr(param, "opts", ())}
    flags = {opt for param in command.params if getattr(param, "is_flag", False) for opt in param.opts}
    options = [a for a in argv[2:] if a.startswith("--")]
    for option in options:
        assert option in known, f"livedocs {argv[1]} has no option {option}"
    with pytest.raises(SystemExit) as done:  # the real parser: types and ranges of the values
        command.main(args=[*argv[2:], "--help"], prog_name="livedocs", standalone_mode=True)
    assert done.value.code == 0
    values = [a for a in argv[2:] if not a.startswith("--")]
    assert len(values) == len([o for o in options if o not in flags]), argv
    return argv[1], options


def exec_start(unit: Path) -> list[str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)  # systemd repeats keys (Environment=)
    parser.optionxform = str
    parser.read_string(unit.read_text(encoding="utf-8"))
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    return parser["Service"]["ExecStart"].split()


@pytest.mark.parametrize("name", UNITS)
def test_systemd_unit_is_valid_and_runs_a_real_command(name, tmp_path):
    unit = DEPLOY / name
    command, options = livedocs_args(exec_start(unit))
    assert (command, options[0]) in (("app", "--no-worker"), ("worker", "--workers"))
    if shutil.which("systemd-analyze") is None:
        return  # parsed above; systemd-analyze is what a systemd machine checks it with
    text = unit.read_text(encoding="utf-8")
    text = (text.replace("/srv/livedocs/venv/bin/livedocs", str(LIVEDOCS)).replace("/srv/livedocs/project", str(tmp_path))
            .replace("User=livedocs", "User=root").replace("Group=livedocs", "Group=root"))
    local = tmp_path / name.replace("@.", "@1.")
    local.write_text(text, encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in done.stderr.splitlines() if local.name in line]
    assert done.returncode == 0 and problems == [], done.stderr


def test_compose_file_parses_and_runs_real_livedocs_commands():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "app", "worker"}
    assert livedocs_args(services["app"]["command"]) == ("app", ["--no-worker", "--host", "--port", "--configs"])
    assert livedocs_args(services["worker"]["command"])[0] == "worker"
    for name in ("app", "worker"):
        env = services[name]["environment"]
        assert env["LIVEDOCS_DB"].startswith("postgresql://") and env["LIVEDOCS_HOME"]
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["worker"]["volumes"] == services["app"]["volumes"]  # one shared home folder
    assert set(compose["volumes"]) >= {"pgdata", "home"}
