"""Names, values and errors printed by the CLI cannot act on the terminal (issue 7, point 6).

A scenario name like ``evil\\x1b]0;pwned\\x07\\x1b[2J`` would retitle the terminal and clear it; a
bidi override would reorder what is shown. Every byte the CLI writes goes through
``cli.format.safe``: such characters are shown as visible, JSON-compatible escapes (``\\u001b``).
"""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from livedocs_runner.cli.format import SafeStream, error_text, safe, table
from livedocs_runner.cli.progress import ProgressView
from livedocs_runner.execute import Progress
from livedocs_runner.records.store import RunRecord
from tests.conftest import CLI, DATA, NOTEBOOKS, CliResult, assert_nothing_ran, cli_env

EVIL = "evil\x1b]0;pwned\x07\x1b[2J"
SHOWN = "evil\\u001b]0;pwned\\u0007\\u001b[2J"
CONTROLS = ["\x1b", "\x07", "\x9b", "\r", "\b", "\u202e", "\u2066", "\x7f"]


def has_no_controls(text: str) -> bool:
    return not any(c in text for c in CONTROLS)


@pytest.fixture
def evil_config(tmp_path: Path) -> Path:
    """A config whose scenario names carry an OSC title change, a clear-screen and a bidi override."""
    path = tmp_path / "evil.yaml"
    path.write_text(f"notebook: {NOTEBOOKS / 'simple.ipynb'}\n"
                    "scenarios:\n"
                    '  "evil\\e]0;pwned\\a\\e[2J": {a: 2}\n'
                    '  "abc\\u202Edcba": {a: 3}\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("text, shown", [
    (EVIL, SHOWN),
    ("a\rb\bc\td\ne", "a\\rb\\bc\\td\\ne"),
    ("csi\x9b2J del\x7f", "csi\\u009b2J del\\u007f"),
    ("abc\u202edcba \u2066x\u2069 \u200f", "abc\\u202edcba \\u2066x\\u2069 \\u200f"),
    ("lone \ud800", "lone \\ud800"),
    ("plain é 中文 👨‍👩‍👧 \u00a0", "plain é 中文 👨‍👩‍👧 \u00a0"),  # printable text, joiners and nbsp stay as they are
])
def test_safe_escapes_controls_visibly(text: str, shown: str) -> None:
    assert safe(text) == shown
    assert has_no_controls(safe(text))


def test_escapes_keep_json_output_valid_and_lossless() -> None:
    data = {"scenario": EVIL + "\x9b\u202e\ud800", "n": 1}
    out = io.StringIO()
    SafeStream(out).write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    assert has_no_controls(out.getvalue())
    assert json.loads(out.getvalue()) == data


def test_error_text_is_one_line_plus_the_hint() -> None:
    assert error_text(f"bad {EVIL}\nsecond line", "hint\x1b[2J") == f"Error: bad {SHOWN}\\nsecond line\nhint\\u001b[2J"


def test_table_cells_are_escaped_and_aligned() -> None:
    text = table([[EVIL, "x"], ["ok", "y"]], ["NAME", "V"])
    assert has_no_controls(text)
    lines = text.splitlines()
    assert lines[1] == f"{SHOWN}  x" and lines[2] == "ok" + " " * (len(SHOWN) - 2) + "  y"


def test_progress_names_are_escaped_live_and_plain() -> None:
    for live in (False, True):
        out = io.StringIO()
        view = ProgressView(workers=1, stream=out, live=live)
        view.queued(RunRecord(id="aaa", notebook="n.ipynb", notebook_sha256="0" * 64, scenario=EVIL))
        view(Progress("aaa", EVIL, "running", 1, 2, 0.1))
        view(Progress("aaa", EVIL, "succeeded", 2, 2, 0.2))
        view.close()
        text = out.getvalue()
        assert SHOWN in text
        assert has_no_controls(text.replace("\r\x1b[2K", ""))  # only the live line's own cursor control


def test_progress_writes_its_cursor_control_under_the_safe_stream() -> None:
    out = io.StringIO()
    view = ProgressView(workers=1, stream=SafeStream(out), live=True)  # as `main` installs it on stderr
    view(Progress("aaa", EVIL, "running", 1, 2, 0.1))
    assert out.getvalue().startswith("\r\x1b[2K[")
    assert SHOWN in out.getvalue() and has_no_controls(out.getvalue().replace("\r\x1b[2K", ""))


def test_names_in_inspect_and_errors(run_cli: Callable[..., CliResult], home: Path, evil_config: Path) -> None:
    result = run_cli("inspect", evil_config)
    assert result.code == 0, result.stderr
    assert f"Scenarios: {SHOWN}, abc\\u202edcba" in result.stdout
    assert has_no_controls(result.stdout + result.stderr)
    result = run_cli("run", evil_config, "-p", f"a={EVIL}")
    assert result.code == 2
    assert result.stderr.startswith(f"Error: {evil_config} (-p): parameter 'a' expects an int, "
                                    f"got 'evil\\x1b]0;pwned\\x07\\x1b[2J'.")
    assert has_no_controls(result.stderr)
    result = run_cli("run", evil_config, "-s", EVIL + "x")
    assert result.code == 2 and has_no_controls(result.stderr), result.stderr
    assert_nothing_ran(home)


def on_a_terminal(*args: str | Path, home: Path) -> bytes:
    """Run ``livedocs`` with stdout and stderr on a pseudo-terminal; return every byte it wrote there."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([*CLI, *map(str, args)], cwd=DATA, env=cli_env(home), stdin=subprocess.DEVNULL,
                            stdout=terminal, stderr=terminal)
    os.close(terminal)
    output = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 180)
        assert ready, "no output from livedocs for 180 s"
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    proc.wait(timeout=60)
    return output


def test_nothing_reaches_a_real_terminal_raw(home: Path, evil_config: Path) -> None:
    """On a TTY click strips nothing, so this is where an escape would act: it must arrive escaped."""
    output = on_a_terminal("inspect", evil_config, home=home).decode("utf-8")
    assert SHOWN in output
    assert has_no_controls(output.replace("\r\n", "\n"))  # the terminal's own newline translation


@pytest.mark.kernel
def test_a_run_of_evil_names_prints_nothing_raw(run_cli: Callable[..., CliResult], home: Path, evil_config: Path) -> None:
    result = run_cli("run", evil_config, "--no-report")
    assert result.code == 0, result.stderr
    assert f"{SHOWN}: succeeded" in result.stderr  # the progress lines
    assert has_no_controls(result.stdout + result.stderr)
    listing = run_cli("runs")
    assert SHOWN in listing.stdout and has_no_controls(listing.stdout)
    records = run_cli("runs", "--json").json()
    assert {r["scenario"] for r in records} == {EVIL, "abc\u202edcba"}  # escapes decode back to the real name
    shown = run_cli("show", records[0]["id"])
    assert has_no_controls(shown.stdout) and "Scenario:" in shown.stdout
    compared = run_cli("compare", records[0]["id"], records[1]["id"])
    assert has_no_controls(compared.stdout) and SHOWN in compared.stdout
    live = on_a_terminal("run", evil_config, "--no-report", "--no-cache", home=home).decode("utf-8")
    assert SHOWN in live
    assert has_no_controls(live.replace("\r\x1b[2K", "").replace("\r\n", "\n"))
