"""Issue 12's speed targets on a small pandas notebook, in one process. Prints a table; never asserts.

    python benchmarks/speed.py [N] [BATCH] [BIG] [ROUNDS]
    # N repetitions (default 5), batch size (20), big batch (1000), rounds of the batch pair (1; the medians)

The benchmark notebook (written to a temp folder) builds a 20 000-row DataFrame, groups it, shows a
table and records two metrics: ~15-25 ms of its own CPU. Rows, all measured in this run:
the notebook's code in-process (the floor: an IPython shell, imports done); a sequential
``papermill.execute_notebook`` loop; ``livedocs run`` of a BATCH-scenario sweep with ``--workers 2``
(CPU per run system-wide: this process is a child subreaper and adds up the CPU of the CLI, its
kernel templates and every kernel, so nothing escapes the count; also the steady state, from a
batch twice as big; with ROUNDS > 1 the pair runs that often, alternating, and the rows are the
medians: one pair's steady state moves by a few ms between sittings); warm single-run latency (``execute_run`` on the app's forked kernel source,
kernel ready, no report); a BIG-scenario batch with the runner's RSS sampled (flat after warm-up)
and ``livedocs runs`` on that store; a cold single run; a CLI cache hit over interpreter start.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from run_overhead import ENV, LIVEDOCS, PYTHON, REPO, machine, timed

PR_SET_CHILD_SUBREAPER = 36
ENV = {**ENV, "PYTHONWARNINGS": "ignore"}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # timings with byte-code caching, as users run


def bench_notebook(folder: Path) -> Path:
    """The benchmark notebook: a 20 000-row pandas frame, a groupby table, two recorded metrics."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell("seed = 0\nthreshold = 0.5", metadata={"tags": ["parameters"]}),
             new_code_cell("import numpy as np\nimport pandas as pd\nfrom livedocs_runner import record"),
             new_code_cell("rng = np.random.default_rng(seed)\nn = 20_000\n"
                           "df = pd.DataFrame({'amount': rng.lognormal(8, 1, n), 'region': rng.integers(0, 8, n),\n"
                           "                   'score': rng.random(n)})\ndf['approved'] = df['score'] > threshold"),
             new_code_cell("summary = df.groupby('region').agg(loans=('amount', 'size'), total=('amount', 'sum'),\n"
                           "                                  approved=('approved', 'mean'))\nsummary"),
             new_code_cell("record('approval_rate', float(df['approved'].mean()))\n"
                           "record('total', float(df['amount'].sum()))")]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    path = folder / "bench_pandas.ipynb"
    nbformat.write(nb, path)
    return path


def sweep(folder: Path, notebook: Path, n: int) -> Path:
    """A config with an ``n``-point seed sweep over the benchmark notebook (distinct parameters)."""
    config = folder / f"bench{n}.yaml"
    config.write_text(f"notebook: {notebook}\nsweeps:\n  s:\n    grid:\n      seed: [{', '.join(map(str, range(n)))}]\n",
                      encoding="utf-8")
    return config


# --- CPU, system-wide ---------------------------------------------------------------------------

def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def reap_orphans(timeout: float = 30.0) -> None:
    """Wait for every descendant re-parented to this subreaper, so its CPU is in RUSAGE_CHILDREN."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


# ``livedocs`` as ``python -m livedocs_runner.cli``, noting the CPU of the CLI process alone (its threads, not the
# kernels and templates it starts) in $LIVEDOCS_BENCH_CPU_FILE at exit (a forked child never writes it)
_NOTE_OWN_CPU = """\
import atexit, os, resource, runpy, sys
_pid = os.getpid()
def _note():
    if os.getpid() == _pid:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(os.environ["LIVEDOCS_BENCH_CPU_FILE"], "w") as out:
            out.write(repr(usage.ru_utime + usage.ru_stime))
atexit.register(_note)
sys.argv[0] = "livedocs"
runpy.run_module("livedocs_runner.cli", run_name="__main__", alter_sys=True)
"""


def cli(*args: str | Path, home: Path, sample_rss: list[int] | None = None,
        own_cpu: list[float] | None = None) -> tuple[float, float]:
    """Run ``livedocs`` to the end: (wall seconds, CPU seconds of it and every process it started).
    ``own_cpu`` receives the CPU seconds of the CLI process alone (the runner side)."""
    before = children_cpu()
    command, env = [*LIVEDOCS], ENV
    if own_cpu is not None:
        note = home.with_name(home.name + ".cpu")
        command, env = [PYTHON, "-c", _NOTE_OWN_CPU], {**ENV, "LIVEDOCS_BENCH_CPU_FILE": str(note)}
    start = time.perf_counter()
    proc = subprocess.Popen([*command, "--home", str(home), *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    sampler = None
    if sample_rss is not None:
        sampler = threading.Thread(target=_sample_rss, args=(proc, sample_rss), daemon=True)
        sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    if sampler is not None:
        sampler.join()
    reap_orphans()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"livedocs {' '.join(map(str, args))} exited {proc.returncode}: {err[-2000:]}")
    if own_cpu is not None:
        own_cpu.append(float(note.read_text()))
    return wall, children_cpu() - before


def _sample_rss(proc: subprocess.Popen[str], samples: list[int]) -> None:
    import psutil

    with contextlib.suppress(psutil.Error):
        runner = psutil.Process(proc.pid)
        while proc.poll() is None:
            samples.append(runner.memory_info().rss)
            time.sleep(0.25)


# --- the rows -----------------------------------------------------------------------------------

def in_process_runs(n: int, notebook: Path) -> tuple[float, float]:
    """Median (wall, CPU) of the notebook's code cells run in this process by an IPython shell."""
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    cells = [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    shell = InteractiveShell.instance()
    shell.enable_gui = lambda gui=None: None  # type: ignore[method-assign]
    here = os.getcwd()
    os.chdir(notebook.parent)

    def once() -> tuple[float, float]:
        shell.reset(new_session=False)
        wall, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            for source in cells:
                result = shell.run_cell(source, store_history=False)
                if not result.success:
                    raise RuntimeError(result.error_in_exec or result.error_before_exec)
        return time.perf_counter() - wall, time.process_time() - cpu

    try:
        once()  # imports and first-use caches, as a warm kernel has them
        runs = [once() for _ in range(max(n, 9))]
    finally:
        os.chdir(here)
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def papermill_runs(n: int, notebook: Path, folder: Path) -> tuple[float, float]:
    """(wall, CPU) per run of a sequential ``papermill.execute_notebook`` loop (kernel CPU included)."""
    import papermill

    def once(i: int) -> None:
        papermill.execute_notebook(str(notebook), str(folder / f"pm-{i}.ipynb"), parameters={"seed": abs(i)},
                                   cwd=str(notebook.parent), progress_bar=False, kernel_name="python3")

    once(-1)  # papermill's own imports are paid once, as in a long-lived loop
    reap_orphans()
    cpu, wall = time.process_time() + children_cpu(), time.perf_counter()
    for i in range(n):
        once(i)
    reap_orphans()
    return (time.perf_counter() - wall) / n, (time.process_time() + children_cpu() - cpu) / n


def batch_runs(config: Path, folder: Path, n: int) -> tuple[float, float, float]:
    """(wall, CPU system-wide, CPU of the CLI process alone) per run of
    ``livedocs run CONFIG --workers 2 --no-cache --no-report``."""
    home = Path(tempfile.mkdtemp(dir=folder, prefix="home-"))
    own: list[float] = []
    wall, cpu = cli("run", config, "--workers", "2", "--no-cache", "--no-report", home=home, own_cpu=own)
    return wall / n, cpu / n, own[0] / n


def warm_runs(n: int, notebook: Path, folder: Path) -> float:
    """Median end-to-end ``execute_run`` latency on a ready forked kernel (record, execute, outputs; no report)."""
    from livedocs_runner._gc import collect_less_often
    from livedocs_runner.execute import RunOptions, execute_run
    from livedocs_runner.forkserver import warm_kernels
    from livedocs_runner.kernels import KernelRequest
    from livedocs_runner.plan import plan_runs
    from livedocs_runner.pool import REFILL_AFTER_S, PoolOptions
    from livedocs_runner.records.store import Store

    plan = plan_runs(notebook)[0]
    store = Store(folder / "warm-home")
    options = RunOptions(report=False, use_cache=False, trigger="app")
    request = KernelRequest(plan.kernel_name, plan.cwd, plan.warm_imports)
    times = []
    thresholds = gc.get_threshold()
    collect_less_often()  # as the app's process collects (livedocs_serve.py); the floor above ran with the defaults
    with warm_kernels(PoolOptions(size=1)) as pool:  # the app's kernel source
        for i in range(n + 1):
            pool.prewarm(request)
            deadline = time.monotonic() + 120
            while pool.stats()["idle"] < 1 and time.monotonic() < deadline:  # a stakeholder arrives later
                time.sleep(0.05)
            time.sleep(REFILL_AFTER_S + 0.2)  # ... asking for one run, not one of a stream (see pool.REFILL_AFTER_S)
            elapsed = timed(lambda: execute_run(plan, store, options=options, kernels=pool))
            if i:  # the first run pays this process's one-off imports (nbclient, zmq)
                times.append(elapsed)
    gc.set_threshold(*thresholds)
    return statistics.median(times)


def big_batch(notebook: Path, folder: Path, n: int) -> tuple[float, list[int], float]:
    """A ``n``-scenario batch: (wall per run, the runner's RSS samples, median ``livedocs runs`` wall)."""
    home = folder / "big-home"
    rss: list[int] = []
    wall, _ = cli("run", sweep(folder, notebook, n), "--workers", "2", "--no-cache", "--no-report", home=home,
                  sample_rss=rss)
    listing = statistics.median(cli("runs", home=home)[0] for _ in range(3))
    return wall / n, rss, listing


def cold_and_cached(n: int, notebook: Path, folder: Path) -> tuple[float, float, float]:
    """(cold single CLI run, CLI cache hit, bare interpreter start), medians."""
    config = sweep(folder, notebook, 1)
    home = folder / "cache-home"
    cold = statistics.median(cli("run", config, "--no-cache", home=home)[0] for _ in range(max(3, n // 2)))
    bare = statistics.median(timed(lambda: subprocess.run([PYTHON, "-c", "pass"], env=ENV, check=True))
                             for _ in range(max(5, n)))
    hits = statistics.median(cli("run", config, home=home)[0] for _ in range(max(5, n)))
    return cold, hits, bare


def flat(samples: list[int]) -> tuple[bool, int, int]:
    """Runner RSS after warm-up (median of the second fifth) and at the end (median of the last fifth):
    flat when the end is within 10 % (+ 8 MiB) of it."""
    if len(samples) < 10:
        return False, 0, 0
    fifth = len(samples) // 5
    warm, end = statistics.median(samples[fifth:2 * fifth]), statistics.median(samples[-fifth:])
    return end <= warm * 1.10 + 8 * 2**20, int(warm), int(end)


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 5
    batch = int(argv[1]) if len(argv) > 1 else 20
    big = int(argv[2]) if len(argv) > 2 else 1000
    rounds = max(1, int(argv[3])) if len(argv) > 3 else 1  # batch pairs: the steady state is their median
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphaned kernels come back to us: counted
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="livedocs-speed-") as tmp:
        folder = Path(tmp)
        notebook = bench_notebook(folder)
        floor_wall, floor_cpu = in_process_runs(n, notebook)
        paper_wall, paper_cpu = papermill_runs(n, notebook, folder)
        pairs = []
        for _ in range(rounds):  # one batch and one twice as long, alternating: each pair gives a steady state
            single = batch_runs(sweep(folder, notebook, batch), folder, batch)
            double = batch_runs(sweep(folder, notebook, 2 * batch), folder, 2 * batch)
            pairs.append((single, double, (double[1] * 2 * batch - single[1] * batch) / batch))
        batch_wall, batch_cpu = (statistics.median(p[0][i] for p in pairs) for i in (0, 1))
        runner_cpu = statistics.median(p[1][2] for p in pairs)
        steady_cpu = statistics.median(p[2] for p in pairs)  # the runs beyond the first batch
        warm = warm_runs(n, notebook, folder)
        big_wall, rss, listing = big_batch(notebook, folder, big)
        cold, hit_wall, bare = cold_and_cached(n, notebook, folder)
    hit = hit_wall - bare
    is_flat, rss_warm, rss_end = flat(rss)
    speedup = paper_wall / batch_wall

    print(f"Benchmark notebook: 20 000-row pandas frame, groupby table, 2 metrics; N={n}, batch={batch}, "
          f"big={big}, batch rounds={rounds}; {machine()}")
    print("| measure                                              | value        | target                 | met |")
    print("|------------------------------------------------------|--------------|------------------------|-----|")

    def line(label: str, value: str, target: str = "", met: bool | None = None) -> None:
        mark = "" if met is None else ("yes" if met else "NO")
        print(f"| {label:<52} | {value:>12} | {target:<22} | {mark:<3} |")

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    line("notebook in-process (the floor), wall", ms(floor_wall))
    line("notebook in-process (the floor), CPU", ms(floor_cpu))
    line("papermill loop, wall per run", ms(paper_wall))
    line("papermill loop, CPU per run (runner + kernel)", ms(paper_cpu))
    line(f"{batch}-scenario batch --workers 2, wall per run", ms(batch_wall))
    line(f"{batch}-scenario batch, CPU per run, system-wide", ms(batch_cpu),
         f"<= floor + 60 = {floor_cpu * 1000 + 60:.0f} ms", batch_cpu <= floor_cpu + 0.060)
    line(f"  steady state (runs {batch + 1}-{2 * batch} of a {2 * batch}-batch)", ms(steady_cpu),
         f"<= floor + 60 = {floor_cpu * 1000 + 60:.0f} ms", steady_cpu <= floor_cpu + 0.060)
    line(f"  of which the runner (the CLI process alone, {2 * batch}-batch)", ms(runner_cpu))
    line(f"{batch}-scenario batch throughput vs papermill loop", f"{speedup:.1f}x", ">= 10x", speedup >= 10)
    line("warm single-run latency (forked pool, no report)", ms(warm),
         f"<= floor + 40 = {floor_wall * 1000 + 40:.0f} ms", warm <= floor_wall + 0.040)
    line(f"{big}-scenario batch, wall per run", ms(big_wall))
    line(f"{big}-scenario batch, runner RSS warm -> end", f"{rss_warm / 2**20:.0f}->{rss_end / 2**20:.0f} MiB",
         "flat after warm-up", is_flat)
    line(f"`livedocs runs` on that {big}-run store", ms(listing), "< 1 s", listing < 1.0)
    line("livedocs run, cold (CLI, one run, report)", ms(cold))
    line("cache hit (CLI, minus interpreter start)", ms(hit), "< 100 ms", hit < 0.100)
    print(f"bare interpreter start: {bare * 1000:.0f} ms; runner RSS samples: {len(rss)} "
          f"(max {max(rss, default=0) / 2**20:.0f} MiB); load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (wall times stretch with it; CPU times much less)")


if __name__ == "__main__":
    main(sys.argv[1:])
    __import__("team_store").main([])  # issue 11: queue claim latency and `livedocs runs` on 100 000 runs
