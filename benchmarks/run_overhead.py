"""What running the demo notebook costs, three ways (issue 2, point 11). Prints; never asserts.

    python benchmarks/run_overhead.py [N]        # N runs each (default 5)

1. the notebook as a plain Python script in a fresh interpreter (nbconvert --to script),
2. ``papermill.execute_notebook`` in a loop (fresh kernel each time),
3. ``livedocs run`` of a config with N scenarios (one CLI call; records, reports, warm pool).

Medians of the time per run, and ratios against papermill.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "credit_risk.ipynb"
PYTHON = sys.executable
LIVEDOCS = [PYTHON, "-m", "livedocs_runner.cli"]
ENV = {**os.environ, "MPLBACKEND": "agg", "PYTHONWARNINGS": "ignore"}


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def notebook_as_script(folder: Path) -> Path:
    """The demo notebook converted to a plain script (IPython-only lines dropped)."""
    from nbconvert import PythonExporter

    source, _ = PythonExporter().from_filename(str(NOTEBOOK))
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("get_ipython(", "%", "!"))]
    script = folder / "credit_risk.py"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return script


def plain_script_runs(n: int, folder: Path) -> list[float]:
    script = notebook_as_script(folder)
    return [timed(lambda: subprocess.run([PYTHON, str(script)], cwd=NOTEBOOK.parent, env=ENV, check=True,
                                         capture_output=True)) for _ in range(n)]


def papermill_runs(n: int, folder: Path) -> list[float]:
    import papermill

    def once(i: int) -> None:
        papermill.execute_notebook(str(NOTEBOOK), str(folder / f"pm-{i}.ipynb"), cwd=str(NOTEBOOK.parent),
                                   progress_bar=False, kernel_name="python3")

    once(-1)  # papermill's own imports are paid once, as in a long-lived loop
    return [timed(lambda i=i: once(i)) for i in range(n)]


def sweep_config(folder: Path, n: int, name: str = "sweep") -> Path:
    """A temp config on the demo notebook with an ``n``-point threshold sweep (distinct parameters)."""
    values = ", ".join(f"{0.30 + 0.40 * i / max(1, n - 1):.6f}" for i in range(n))
    config = folder / f"{name}.yaml"
    config.write_text(f"notebook: {NOTEBOOK}\nwarm_imports: [pandas, numpy, matplotlib.pyplot]\n"
                      f"sweeps:\n  t:\n    grid:\n      threshold: [{values}]\n", encoding="utf-8")
    return config


def livedocs(*args: str | Path, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LIVEDOCS, "--home", str(home), *map(str, args)], cwd=REPO, env=ENV, check=check,
                          capture_output=True, text=True)


def livedocs_batch_per_run(n: int, folder: Path, *extra: str) -> float:
    config = sweep_config(folder, n, name=f"sweep{n}")
    home = Path(tempfile.mkdtemp(dir=folder, prefix="home-"))
    return timed(lambda: livedocs("run", config, "--no-cache", *extra, home=home)) / n


def row(label: str, value: float, base: float | None) -> str:
    ratio = f"{value / base:6.2f}x" if base else ""
    return f"| {label:<46} | {value * 1000:9.0f} ms | {ratio:>12} |"


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 5
    with tempfile.TemporaryDirectory(prefix="livedocs-bench-") as tmp:
        folder = Path(tmp)
        plain = statistics.median(plain_script_runs(n, folder))
        paper = statistics.median(papermill_runs(n, folder))
        batch = livedocs_batch_per_run(n, folder, "--workers", "1")  # sequential, as the papermill loop
    print(f"Demo notebook {NOTEBOOK.relative_to(REPO)}, N={n}; {machine()}")
    print("| way                                            | per run      | vs papermill |")
    print("|------------------------------------------------|--------------|--------------|")
    print(row("plain script, fresh interpreter", plain, paper))
    print(row("papermill.execute_notebook loop", paper, paper))
    print(row(f"livedocs run, {n} scenarios (records, reports)", batch, paper))


if __name__ == "__main__":
    main(sys.argv[1:])
