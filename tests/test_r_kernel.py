"""R notebooks through a real R kernel (Debian's r-cran-irkernel, kernelspec ``ir``): hostile values
injected and echoed back exactly, refusals, the demo config with two workers, records and timeouts.

Without R these tests skip on a developer machine and fail under CI (``CI`` set), which installs it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from livedocs_runner.provenance import find_kernelspec

from .conftest import REPO, CliResult, assert_nothing_ran, popen_cli, run_records, until
from .test_r_language import write_r_notebook

pytestmark = pytest.mark.kernel
INSTALL = "apt-get install r-base-core r-cran-irkernel"


@pytest.fixture(scope="module", autouse=True)
def r_kernel() -> None:
    if find_kernelspec("ir") is None:
        message = f"the R kernel 'ir' is not installed ({INSTALL}; see `jupyter kernelspec list`)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must install it (.ci/run does).")
        pytest.skip(message)


NASTY = {
    "s_quotes": "double \" and single ' quotes",
    "s_backslash": "back\\slash, \\n not a newline, \\\\ two, trailing \\",
    "s_lines": "line1\nline2\r\n\ttabbed",
    "s_shell": "${HOME} $(id) `id` ${x} #{y} %s %%",
    "s_break_out": "\"); system(\"touch pwned\"); (\"",
    "s_break_out2": "'); cat('pwned'); x <- ('",
    "s_unicode": "Ā 中文 😀 \u2028 \u200b \U0010fffd",
    "s_escapes": "\\u00e9 \\x41 \\U0001F600 \\0",
    "s_controls": "\x01\x1f\x7f",
    "s_empty": "",
}
ECHO_CELL = """\
source(Sys.getenv("LIVEDOCS_R_HELPER"))
for (name in ls(pattern = "^[snfbv]_")) {
  value <- get(name)
  record(name, value)
  record(paste0(name, ".class"), class(value))
  if (is.character(value)) {
    record(paste0(name, ".codepoints"), as.list(utf8ToInt(value)))
    record(paste0(name, ".valid"), validUTF8(value))
  }
}
record("f_exact.text", sprintf("%.17g", f_exact))
record("n_big.text", sprintf("%.0f", n_big))"""


def echo_notebook(folder: Path) -> Path:
    defaults = "\n".join(f'{name} <- "default"' for name in NASTY)
    defaults += "\nn_count <- 1L\nf_exact <- 0.5\nn_big <- 1\nb_flag <- TRUE\nv_list <- c(\"x\")"
    return write_r_notebook(folder / "echo.ipynb", defaults, ECHO_CELL)


def test_nasty_values_echo_back_exactly(tmp_path: Path, home: Path, run_cli: Callable[..., CliResult]) -> None:
    nb = echo_notebook(tmp_path)
    args: list[str] = []
    for name, value in NASTY.items():
        args += ["-p", f"{name}={value}"]
    args += ["-p", "n_count=123456789", "-p", "f_exact=0.1", "-p", f"n_big={2 ** 53}", "-p", "b_flag=false",
             "-p", 'v_list=["a\\"b", "😀", "${x}"]']
    result = run_cli("run", nb, *args, "--json", "--no-report")
    assert result.code == 0, result.stderr + result.stdout
    [record] = result.json()
    metrics: dict[str, Any] = record["metrics"]
    assert not (tmp_path / "pwned").exists()
    for name, value in NASTY.items():
        assert metrics[name] == value, name
        assert metrics[f"{name}.class"] == "character"
        assert metrics[f"{name}.codepoints"] == [ord(c) for c in value], name  # the characters R holds
        assert metrics[f"{name}.valid"] is True
    assert (metrics["n_count"], metrics["n_count.class"]) == (123456789, "numeric")  # bare numbers are doubles in R
    assert float(metrics["f_exact.text"]) == 0.1
    assert metrics["n_big.text"] == str(2 ** 53)
    assert (metrics["b_flag"], metrics["b_flag.class"]) == (False, "logical")
    assert (metrics["v_list"], metrics["v_list.class"]) == (['a"b', "😀", "${x}"], "list")
    assert record["environment"]["kernel_language"] == "R"
    assert record["environment"]["kernel_language_version"].startswith(("3.", "4."))
    output = json.loads(Path(record["output_notebook"]).read_text(encoding="utf-8"))
    injected = [c for c in output["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "".join(injected[0]["source"]).startswith("# Parameters injected by livedocs-runner\n")
    assert output["cells"].index(injected[0]) == 1  # right after the parameters cell


def test_the_holes_refused_are_real() -> None:
    """papermill would write 'é' as "\\xe9": in R that is a Latin-1 byte, not the character; and a
    control character next to a wide one as "\\x01\\u0100", which R refuses to parse."""
    done = subprocess.run(["Rscript", "-e", 'x <- "\\xe9"; cat(validUTF8(x), identical(x, "\\u00e9"))'],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "FALSE FALSE", done.stderr
    done = subprocess.run(["Rscript", "-e", 'x <- "\\x01\\u0100"'], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "mixing Unicode and octal/hex escapes" in done.stderr, done.stderr


@pytest.mark.parametrize("param, value, message", [
    ("s_unicode", "café", "U+00E9"),
    ("n_count", str(2 ** 60), "exact only up to 2**53"),  # an int (10L); as a float it would be exact
])
def test_refused_values_run_nothing(tmp_path: Path, home: Path, run_cli: Callable[..., CliResult],
                                    param: str, value: str, message: str) -> None:
    result = run_cli("run", echo_notebook(tmp_path), "-p", f"{param}={value}")
    assert result.code == 2, result.stderr
    assert result.stderr.startswith(f"Error: parameter '{param}': the value ")
    assert "cannot be injected into an R notebook" in result.stderr and message in result.stderr
    assert_nothing_ran(home)


def test_demo_config_runs_with_two_workers(home: Path, run_cli: Callable[..., CliResult]) -> None:
    config = REPO / "configs" / "credit_risk_r.yaml"
    result = run_cli("run", config, "--workers", "2", "--json", cwd=REPO)
    assert result.code == 0, result.stderr
    records = {r["scenario"]: r for r in result.json()}
    assert set(records) == {"baseline", "stress", "q1_2025", "north_only"}
    assert all(r["status"] == "succeeded" for r in records.values())
    baseline = records["baseline"]
    # the same scorecard as the Python demo, on the same file: the same numbers (README, credit_risk.yaml)
    assert {k: baseline["metrics"][k] for k in ("n_applications", "approval_rate", "default_rate", "expected_loss")} == {
        "n_applications": 1292, "approval_rate": 0.8978, "default_rate": 0.1233, "expected_loss": 3886781.89}
    table = baseline["metrics"]["by_region"]
    assert table["type"] == "table" and table["columns"] == ["region", "applications", "approval_rate", "default_rate"]
    assert [row[0] for row in table["data"]] == ["east", "north", "south", "west"]
    assert sum(row[1] for row in table["data"]) == 1292
    assert records["north_only"]["metrics"]["by_region"]["data"][0][0] == "north"
    assert records["stress"]["metrics"]["approval_rate"] < baseline["metrics"]["approval_rate"]
    for record in records.values():
        env = record["environment"]
        assert (env["kernel"], env["kernel_language"]) == ("ir", "R")
        assert env["kernel_language_version"].count(".") == 2
        assert env["implementation"] == f"R {env['kernel_language_version']}"  # asked of R before the run
        assert set(env["packages"]) == {"IRkernel", "IRdisplay", "jsonlite"}
        assert any(o.endswith(".png") for o in record["outputs"]), record["outputs"]
        assert Path(record["report_html"]).is_file()
        assert record["inputs"][0]["snapshot"]
    assert [r["status"] for r in run_records(home)] == ["succeeded"] * 4
    show = run_cli("show", baseline["id"])
    assert show.code == 0 and "approval_rate = 0.8978" in show.stdout
    rerun = run_cli("rerun", baseline["id"], "--verify", cwd=REPO)  # the stored notebook on the snapshotted input
    assert rerun.code == 0, rerun.stderr
    assert "\nREPRODUCED\n" in rerun.stdout


class RefusingKernels:
    """A kernel source that hands out nothing: a run that asks it fails."""

    def acquire(self, request: Any) -> Any:
        raise RuntimeError(f"asked the warm source for {request.kernel_name}")

    def release(self, km: Any) -> None:
        raise AssertionError("nothing to release")


def test_r_runs_use_a_fresh_kernel_not_the_warm_source(tmp_path: Path) -> None:
    from livedocs_runner.execute import RunOptions, execute_run
    from livedocs_runner.plan import plan_runs
    from livedocs_runner.records.store import Store

    store = Store(tmp_path / "home")
    r_nb = write_r_notebook(tmp_path / "r.ipynb", "x <- 1L", 'source(Sys.getenv("LIVEDOCS_R_HELPER"))\nrecord("x", x + 1L)')
    plan = plan_runs(r_nb, overrides={"x": "41"})[0]
    record = execute_run(plan, store, options=RunOptions(report=False), kernels=RefusingKernels())
    assert (record.status, record.metrics) == ("succeeded", {"x": 42}), record.error
    # the same source for a Python notebook is asked (so the R run above really bypassed it)
    from .conftest import write_notebook

    py_nb = write_notebook(tmp_path / "py.ipynb", [("x = 1", ["parameters"])])
    record = execute_run(plan_runs(py_nb)[0], store, options=RunOptions(report=False), kernels=RefusingKernels())
    assert record.status == "failed" and "asked the warm source for python3" in record.error["evalue"]


def test_an_r_run_times_out_and_its_kernel_is_stopped(tmp_path: Path, home: Path,
                                                      run_cli: Callable[..., CliResult]) -> None:
    nb = write_r_notebook(tmp_path / "slow.ipynb", "seconds <- 600", "Sys.sleep(seconds)")
    result = run_cli("run", nb, "--timeout", "2", "--json", "--no-report")
    assert result.code == 1
    [record] = result.json()
    assert record["status"] == "failed" and record["error"]["ename"] == "Timeout"
    assert [r["status"] for r in run_records(home)] == ["failed"]


@pytest.fixture
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for name, value in {"LIVEDOCS_CONFIGS": REPO / "configs", "LIVEDOCS_HOME": home, "LIVEDOCS_WORKERS": 2,
                        "LIVEDOCS_USER": "tester"}.items():
        monkeypatch.setenv(name, str(value))
    return home


def test_the_app_shows_the_r_form_and_its_results(app_home: Path) -> None:
    from livedocs_runner.records.store import Store

    from .test_app import app, run_until_done, shown, texts

    at = app(notebook="credit_risk_r")
    assert at.slider(key="field:credit_risk_r:threshold").value == 0.5
    assert at.multiselect(key="field:credit_risk_r:segments").value == ["north", "south", "east", "west"]
    at.slider(key="field:credit_risk_r:threshold").set_value(0.45).run()
    at.button(key="run:credit_risk_r").click().run()
    run_id = at.query_params["run"]
    at = run_until_done(at)
    assert texts(at.success)[0].startswith("Succeeded"), texts(at.error)
    assert [shown(m.label) for m in at.metric][:4] == ["Applications", "Approval rate", "Default rate", "Expected loss"]
    assert [shown(m.value) for m in at.metric][2] == "11.59 %"  # the config's results: block formats R's results too
    assert at.dataframe  # the by-region table recorded by R's record()
    record = Store(app_home).get(run_id)
    assert (record.trigger, record.parameters["threshold"]) == ("app", 0.45)
    assert (record.environment["kernel"], record.environment["kernel_language"]) == ("ir", "R")
    assert any(p.endswith(".png") for p in record.outputs)


def random_texts(count: int, seed: int = 15) -> list[str]:
    """Seeded random text over every plane R accepts: ASCII (controls too, not NUL), U+0100..U+FFFF
    (no surrogates) and astral code points; U+0080..U+00FF are refused by design (see test_r_language)."""
    import random

    rng = random.Random(seed)
    ranges = [(1, 0x7F), (0x100, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF), (0x20, 0x7E), (0x20, 0x7E)]
    texts = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(0, 24)):
            low, high = rng.choice(ranges)
            chars.append(chr(rng.randint(low, high)))
        texts.append("".join(chars))
    return texts


def test_random_text_echoes_back_exactly(tmp_path: Path, run_cli: Callable[..., CliResult]) -> None:
    """Whatever the injection accepts arrives in R exactly (what it refuses: test_r_language's properties)."""
    from livedocs_runner.errors import ParameterError
    from livedocs_runner.inject import injected_source

    def accepted(text: str) -> bool:
        try:
            injected_source({"x": text}, "R", "ir")
            return True
        except ParameterError:
            return False

    texts = [t for t in random_texts(120) if accepted(t)]
    assert len(texts) >= 40  # the seeded draw keeps enough of every plane to mean something
    names = [f"s_{i}" for i in range(len(texts))]
    nb = write_r_notebook(tmp_path / "random.ipynb", "\n".join(f'{n} <- ""' for n in names), """\
source(Sys.getenv("LIVEDOCS_R_HELPER"))
for (name in ls(pattern = "^s_")) record(name, as.list(utf8ToInt(get(name))))""")
    args = [a for n, t in zip(names, texts) for a in ("-p", f"{n}={t}")]
    result = run_cli("run", nb, *args, "--json", "--no-report")
    assert result.code == 0, result.stderr
    [record] = result.json()
    assert {n: record["metrics"][n] for n in names} == {n: [ord(c) for c in t] for n, t in zip(names, texts)}


def test_cancelling_an_r_run_stops_its_kernel_and_what_it_started(home: Path) -> None:
    nb = write_r_notebook(home.parent / "slow.ipynb", "seconds <- 600",
                          'system("sleep 600", wait = FALSE)\ncat("started\\n")', "Sys.sleep(seconds)")
    proc = popen_cli(home, "run", nb, "--no-report", "-v")  # -v: a line per cell without a terminal
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:  # the last cell (whether or not the injected cell is counted)
        until(lambda: any(re.search(r"cell (\d+) of \1\b", line.strip()) for line in stderr), "the sleeping cell to start")
    except AssertionError:
        proc.send_signal(signal.SIGINT)  # a failed test leaves no runner (and kernel) behind
        raise
    descendants = psutil.Process(proc.pid).children(recursive=True)
    assert any("IRkernel::main()" in " ".join(p.cmdline()) for p in descendants)
    assert any(p.cmdline()[:2] == ["sleep", "600"] for p in descendants)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    reader.join(timeout=60)

    def gone(process: psutil.Process) -> bool:
        try:
            return process.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    until(lambda: all(gone(p) for p in descendants), "the R kernel and its sleep to go", timeout=15)
    assert [r["status"] for r in run_records(home)] == ["cancelled"]
