"""Shared fixtures: a temporary run store, the real ``livedocs`` entry point in a subprocess,
test data paths, and small builders for notebooks and configs written into tmp folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import nbformat
import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DATA = TESTS / "data"
NOTEBOOKS = DATA / "notebooks"
CONFIGS = DATA / "configs"
CLI = [sys.executable, "-m", "livedocs_runner.cli"]


class CliResult(NamedTuple):
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def until(check: Callable[[], Any], what: str, timeout: float = 180.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy (and return that); fail after ``timeout`` s.

    Generous by default: a loaded CI machine starts kernels slowly. Never used to time anything.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def cli_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_")}
    env.update({"LIVEDOCS_HOME": str(home), "LIVEDOCS_USER": "tester", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def cli_runner(home: Path) -> Callable[..., CliResult]:
    """``run(*args, cwd=DATA, timeout=180)`` runs ``livedocs`` against ``home``; returns (code, stdout, stderr)."""

    def run(*args: str | Path, cwd: Path = DATA, timeout: float = 180, env: dict[str, str] | None = None) -> CliResult:
        proc = subprocess.run([*CLI, *map(str, args)], cwd=cwd, env=cli_env(home, env), capture_output=True,
                              text=True, timeout=timeout)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def popen_cli(home: Path, *args: str | Path, cwd: Path = DATA) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *map(str, args)], cwd=cwd, env=cli_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty run store folder (passed to the CLI as ``LIVEDOCS_HOME``)."""
    return tmp_path / "home"


@pytest.fixture
def run_cli(home: Path) -> Callable[..., CliResult]:
    return cli_runner(home)


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run store shared by the tests of one module (so executed runs are reused)."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def module_cli(module_home: Path) -> Callable[..., CliResult]:
    return cli_runner(module_home)


def run_records(home: Path) -> list[dict[str, Any]]:
    """Every record in ``home`` (read straight from SQLite), oldest first; [] when there is no store."""
    db = home / "runs.db"
    if not db.exists():
        return []
    import sqlite3
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY created_at")]


def assert_nothing_ran(home: Path) -> None:
    assert run_records(home) == []
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def write_notebook(path: Path, cells: Sequence[str | tuple[str, Iterable[str]]]) -> Path:
    """A python3 notebook whose code cells are ``source`` or ``(source, tags)``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    for cell in cells:
        source, tags = (cell, ()) if isinstance(cell, str) else cell
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)} if tags else {}))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def copy_notebook(name: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(NOTEBOOKS / name, dest / name))


@pytest.fixture
def path_project(tmp_path: Path) -> Path:
    """A notebook reading a CSV given by a ``path`` parameter confined to ``data/``; returns the config."""
    return make_path_project(tmp_path / "project")


def make_path_project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "rows.csv").write_text("x\n1\n2\n3\n", encoding="utf-8")
    (root / "outside.csv").write_text("x\n9\n", encoding="utf-8")
    write_notebook(root / "nb" / "count_rows.ipynb", [
        ('data_file = "../data/rows.csv"  # the CSV to count', ["parameters"]),
        "from livedocs_runner import record\n"
        "with open(data_file) as handle:\n"
        "    rows = len(handle.read().splitlines()) - 1\n"
        "record('rows', rows)",
    ])
    config = root / "count.yaml"
    config.write_text(
        "notebook: nb/count_rows.ipynb\n"
        "parameters:\n"
        "  data_file: {type: path, within: data}\n"
        "scenarios:\n"
        "  all: {}\n", encoding="utf-8")
    return config


@pytest.fixture(autouse=True)
def stop_app_workers():
    """After each test, stop the app's in-process queue workers (and their kernels) that AppTest pages built:
    an idle worker polls the store, which must not outlive its test (nor count against a later one's fds)."""
    yield
    services = sys.modules.get("livedocs_ui.services")
    if services is not None and hasattr(services, "stop_all"):
        services.stop_all()


def in_forked_child(child: Callable[[], bytes]) -> tuple[bytes, int]:
    """Run ``child`` in a forked process that leaves without running any exit handler; returns what it
    returned and the process's exit code (1 when it raised: an assert in ``child`` fails the test)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read)
            os.write(write, child())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read()
    _, status = os.waitpid(pid, 0)
    return said, os.waitstatus_to_exitcode(status)
