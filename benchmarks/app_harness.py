"""What benchmarks/app_speed.py drives: a copy of the demo served by ``livedocs app`` with its timing log
(``Server``), Chromium pages that note in-page when a click arrived and when the result tiles were painted
(``open_form``, ``run_once``), and the records' own moments (``Run``)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
WAIT_MS = int(os.environ.get("APP_SPEED_WAIT_MS", "180000"))
TIMING = re.compile(r"^livedocs-timing (\w+) (\S+) ms=([0-9.]+)(?: at=([0-9.]+))?$")

SLOW_NOTEBOOK_STEPS = 8
SLOW_CONFIG = """notebook: ../notebooks/slow_steps.ipynb
title: Eight steps
description: Eight steps of a quarter second each (for measuring progress updates).
scenarios:
  baseline: {}
"""

WATCH_TILES = """(n) => {
    window.__tilesAt = 0;  // when n result tiles (not stale) were first on screen, Date.now() on this machine
    window.__clickAt = 0;  // when the page got the click (Playwright's own checks before it are not the app's)
    document.addEventListener('click', () => { window.__clickAt = Date.now(); }, {capture: true, once: true});
    const check = () => {
        const tiles = [...document.querySelectorAll('[data-testid="stMetricValue"]')]
            .filter(e => !e.closest('[data-stale="true"]'));
        if (tiles.length >= n && !window.__tilesAt) { window.__tilesAt = Date.now(); observer.disconnect(); }
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""
SETTLED = """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], [data-stale="true"]')"""
WATCH_PROGRESS = """() => {
    window.__progress = [];
    const seen = () => {
        for (const el of document.querySelectorAll('[data-testid="stAlert"]')) {
            const t = el.innerText.trim();
            if (/^(Running|Waiting)/.test(t)) {
                const last = window.__progress[window.__progress.length - 1];
                if (!last || last[1] !== t) window.__progress.push([performance.now(), t]);
            }
        }
    };
    new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def make_project(root: Path) -> Path:
    """A copy of the demo and one slow notebook; returns its configs folder."""
    import nbformat

    for part in ("configs", "notebooks", "data"):
        shutil.copytree(REPO / part, root / part)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells.append(nbformat.v4.new_code_cell("pause = 0.25  # seconds per step", metadata={"tags": ["parameters"]}))
    nb.cells.append(nbformat.v4.new_code_cell("import time\nfrom livedocs_runner import record"))
    for step in range(SLOW_NOTEBOOK_STEPS):
        nb.cells.append(nbformat.v4.new_code_cell(f"# step {step + 1}\ntime.sleep(pause)"))
    nb.cells.append(nbformat.v4.new_code_cell(f"record('steps', {SLOW_NOTEBOOK_STEPS})"))
    nbformat.write(nb, root / "notebooks" / "slow_steps.ipynb")
    (root / "configs" / "slow_steps.yaml").write_text(SLOW_CONFIG, encoding="utf-8")
    return root / "configs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``livedocs app`` with ``LIVEDOCS_DEBUG=1``; its output (and timing log) in a file."""

    def __init__(self, configs: Path, home: Path, log: Path, workers: int, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.home, self.log_path = home, log
        self.log = open(log, "w+", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDOCS_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update({"LIVEDOCS_DEBUG": "1", "LIVEDOCS_USER": "bench", "PYTHONUNBUFFERED": "1"})
        livedocs = Path(sys.executable).with_name("livedocs")
        self.started = time.time()
        self.proc = subprocess.Popen([str(livedocs), "app", "--configs", str(configs), "--home", str(home),
                                      "--port", str(self.port), "--workers", str(workers)], cwd=configs.parent,
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def wait_for_url(self) -> float:
        """When the server printed its URL (Streamlit's ``URL: http://...`` line), as time.time()."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("livedocs app exited:\n" + "\n".join(self.lines()))
            if any("URL: http" in line for line in self.lines()):
                printed = time.time()
                with contextlib.suppress(OSError):
                    if urllib.request.urlopen(self.url + "_stcore/health", timeout=5).read() == b"ok":
                        return printed
            time.sleep(0.02)
        raise SystemExit("livedocs app did not print its URL")

    def timings(self, since: int, kind: str = "script") -> list[tuple[str, float]]:
        out = []
        for line in self.lines()[since:]:
            if (m := TIMING.match(line.strip())) and m[1] == kind:
                out.append((m[2], float(m[3])))
        return out

    def marks(self) -> dict[str, float]:
        """The server's moments (``livedocs-timing mark WHAT``): WHAT -> time.time()."""
        return {m[2]: float(m[4]) for line in self.lines() if (m := TIMING.match(line.strip())) and m[1] == "mark"}

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def cpu_split(app_pid: int) -> dict[str, float]:
    """CPU seconds so far of Chromium's processes (and its renderers), of the app's process tree, and the rest."""
    import psutil

    out = {"chromium": 0.0, "renderer": 0.0, "app": 0.0, "other": 0.0}
    try:
        root = psutil.Process(app_pid)
        app = {app_pid} | {c.pid for c in root.children(recursive=True)}
    except psutil.Error:
        app = set()
    for proc in psutil.process_iter(["pid", "name", "cpu_times", "cmdline"]):
        times = proc.info["cpu_times"]
        if times is None:
            continue
        used = times.user + times.system
        if proc.info["pid"] in app:
            out["app"] += used
        elif "chrom" in (proc.info["name"] or ""):
            out["chromium"] += used
            out["renderer"] += used if "--type=renderer" in (proc.info["cmdline"] or []) else 0.0
        else:
            out["other"] += used
    return out


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass
class Run:
    click: float
    tiles: float
    run_id: str
    duration: float
    created: float
    finished: float
    clicked_server: float = float("nan")  # the server's moments (its timing log): the click's callback began,
    tiles_server: float = float("nan")  # and the tiles were sent

    @property
    def overhead(self) -> float:
        """click -> tiles minus the run's own recorded duration."""
        return self.tiles - self.click - self.duration

    @property
    def app_latency(self) -> float:
        """What the app adds outside the queue and the run: click -> record created, finished -> tiles."""
        return (self.created - self.click) + (self.tiles - self.finished)

    @property
    def server_part(self) -> float:
        """Of the app latency, the server's work: click callback -> record created, finished -> tiles sent."""
        return (self.created - self.clicked_server) + (self.tiles_server - self.finished)

    def with_marks(self, marks: dict[str, float]) -> Run:
        return replace(self, clicked_server=marks.get(f"clicked-{self.run_id}", float("nan")),
                       tiles_server=marks.get(f"tiles-{self.run_id}", float("nan")))


async def settled(page) -> None:
    await page.wait_for_function(SETTLED, timeout=WAIT_MS, polling=100)  # cheap with ten pages at once


async def open_form(page, url: str, query: str) -> None:
    await page.goto(f"{url}?{query}")
    await page.get_by_text("Link to this form with these values:").wait_for(timeout=WAIT_MS)
    await page.get_by_role("button", name="Run", exact=True).wait_for(timeout=WAIT_MS)
    await settled(page)


async def run_once(page, url: str, query: str, home: Path, tiles: int = 4, opened: bool = False) -> Run:
    """Open the form with ``query`` (unless ``opened``), click Run, wait for the result tiles."""
    if not opened:
        await open_form(page, url, query)
    await page.evaluate(WATCH_TILES, tiles)  # the page notes the moments itself: no tight polling from here
    await page.get_by_role("button", name="Run", exact=True).click()
    await page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"), timeout=WAIT_MS)
    try:
        # the page notes the moment itself (WATCH_TILES): polling slowly costs ten pages at once no accuracy
        await page.wait_for_function("window.__tilesAt > 0", timeout=WAIT_MS, polling=500)
    except Exception:
        shot = Path(tempfile.gettempdir()) / f"app-speed-stuck-{time.time():.0f}.png"
        await page.screenshot(path=str(shot), full_page=True)
        raise SystemExit(f"no result tiles on {page.url} (screenshot {shot}):\n" + await page.inner_text("body"))
    shown = await page.evaluate("window.__tilesAt") / 1000
    click = await page.evaluate("window.__clickAt") / 1000
    return recorded(home, page.url.rsplit("=", 1)[1], click, shown)


def recorded(home: Path, run_id: str, click: float, tiles: float) -> Run:
    """The Run for a click at ``click`` whose tiles came at ``tiles``, with the record's own moments."""
    from livedocs_runner.records.store import Store

    record = Store(home).get(run_id)
    if record.status != "succeeded" or record.cache_of:
        raise SystemExit(f"run {run_id} {record.status}{' (a cached result)' if record.cache_of else ''}: {record.error}")
    return Run(click, tiles, run_id, record.duration_s or 0.0, wall(record.created_at), wall(record.finished_at))
