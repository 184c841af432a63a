"""Issue 14's targets for the web app, measured in a real browser. Prints a table; never asserts.

    python benchmarks/app_speed.py [--runs 5] [--sessions 10] [--workers 2]

Serves a copy of the demo (configs/, notebooks/, data/ plus one ~2 s notebook of eight steps) with
``livedocs app`` on a fresh home and ``LIVEDOCS_DEBUG=1``, and drives Debian's /usr/bin/chromium with
Playwright (the launch flags of tests/test_browser.py). Figures (medians):

- click Run -> result tiles on screen, minus the run's own recorded duration (warm runs);
- progress updates per second: distinct progress texts shown while the ~2 s run runs;
- first run: the app's part of the time from the line where the server prints its URL to the first run's
  tiles on screen: URL printed -> the form on screen and settled, plus click -> tiles minus the notebook's
  own time (the median recorded duration of the warm runs); the user's time between seeing the form and
  clicking is left out. The browser is already open when the server starts and has the app's scripts from
  an earlier server at the same address, as a returning user's has after the app is restarted; a first
  visit's page load (nothing cached) is printed beside it;
- form interaction server time: the script reruns a slider step, a select and a scenario switch cause,
  from the server's timing log (``livedocs-timing script ...`` lines);
- the same with N sessions at once. With N sessions and fewer workers, runs wait in the queue: the
  "app latency" row leaves that wait out (click -> record created, plus record finished -> tiles on screen),
  and is split into the server's work (from its timing log: the click's callback began -> record created,
  record finished -> tiles sent) and the rest (the browsers: handling the click, painting the page).

A click is timed when the page gets it (a listener in the page), not when Playwright is asked to click:
with ten pages at once, Playwright's checks before a click take seconds of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
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


async def mixed_wiggle(browser, server: Server, sessions: int, rounds: int) -> None:
    """``sessions`` sessions move the threshold slider one step and back ``rounds`` times, 0.3 s apart:
    one Chromium page (arrow keys) and ``sessions - 1`` protocol sessions."""
    from streamlit_client import ProtocolSession

    context = await browser.new_context(viewport={"width": 1400, "height": 1200})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    others = [ProtocolSession(server.url) for _ in range(sessions - 1)]

    async def in_chromium() -> None:
        await open_form(page, server.url, "notebook=credit_risk")
        for n in range(rounds):
            await page.get_by_role("slider", name="Approval threshold").focus()
            await page.keyboard.press("ArrowRight" if n % 2 == 0 else "ArrowLeft")
            await settled(page)
            await asyncio.sleep(0.3)
            await settled(page)

    async def in_protocol(session: ProtocolSession) -> None:
        await session.open("notebook=credit_risk")
        await session.until(lambda: session.finished >= 1, WAIT_MS / 1000)
        for n in range(rounds):
            done = session.finished
            await session.slide("Approval threshold", 0.51 if n % 2 == 0 else 0.5)
            await session.until(lambda: session.finished > done, WAIT_MS / 1000)
            await asyncio.sleep(0.3)

    try:
        await asyncio.gather(in_chromium(), *(in_protocol(session) for session in others))
    finally:
        await asyncio.gather(*(session.close() for session in others))
        await context.close()


async def mixed_round(browser, server: Server, sessions: int, threshold: float) -> list[Run]:
    """``sessions`` sessions click Run at once, each with its own threshold (never a cached result): one
    Chromium page (the first Run returned) and ``sessions - 1`` protocol sessions (streamlit_client: the
    server's work for a browser session, without a browser rendering on this machine's cores)."""
    from streamlit_client import ProtocolSession

    context = await browser.new_context(viewport={"width": 1400, "height": 1200})
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    others = [ProtocolSession(server.url) for _ in range(sessions - 1)]

    async def protocol_run(session: ProtocolSession) -> Run:
        clicked = await session.click("Run")
        await session.until(lambda: session.tiles_at > 0, WAIT_MS / 1000)
        return recorded(server.home, session.query.rsplit("=", 1)[1], clicked, session.tiles_at)

    try:
        await open_form(page, server.url, f"notebook=credit_risk&threshold={threshold:.2f}")
        await asyncio.gather(*(session.open(f"notebook=credit_risk&threshold={threshold + (n + 1) / 100:.2f}")
                               for n, session in enumerate(others)))
        await asyncio.gather(*(session.until(lambda s=session: "Run" in s.seen.buttons) for session in others))
        return list(await asyncio.gather(run_once(page, server.url, "", server.home, opened=True),
                                         *(protocol_run(session) for session in others)))
    finally:
        await asyncio.gather(*(session.close() for session in others))
        await context.close()


async def progress_rate(page, url: str, home: Path) -> tuple[float, int, float]:
    """Distinct progress texts per second of running, their count, the run's duration."""
    await open_form(page, url, "notebook=slow_steps")
    await page.evaluate(WATCH_PROGRESS)
    run = await run_once(page, url, "", home, tiles=1, opened=True)
    texts = await page.evaluate("window.__progress")
    running = [t for t in texts if t[1].startswith("Running")]
    return len(running) / run.duration, len(running), run.duration


async def interactions(page, url: str, server: Server, rounds: int) -> dict[str, list[float]]:
    """Server time (ms, all script reruns it caused) of a slider step, a select and a scenario switch."""
    out: dict[str, list[float]] = {"slider": [], "select": [], "scenario": []}
    await open_form(page, url, "notebook=credit_risk")

    async def measure(what: str, action) -> None:
        mark = len(server.lines())
        await action()
        await settled(page)
        await asyncio.sleep(0.3)  # a rerun the change queued has started by now (then settled waits for it)
        await settled(page)
        out[what].append(sum(ms for _, ms in server.timings(mark)))

    for n in range(rounds):
        async def slider() -> None:
            await page.get_by_role("slider", name="Approval threshold").focus()
            await page.keyboard.press("ArrowRight" if n % 2 == 0 else "ArrowLeft")

        async def select() -> None:
            await page.get_by_role("combobox", name="Quarter of applications").click()
            await page.get_by_role("option", name="2025 Q1" if n % 2 == 0 else "2026 Q3").click()

        async def scenario() -> None:
            await page.get_by_role("combobox", name="Start from scenario").click()
            await page.get_by_role("option", name=re.compile("^stress" if n % 2 == 0 else "^baseline")).click()

        await measure("slider", slider)
        await measure("select", select)
        await measure("scenario", scenario)
    return out


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def line(name: str, value: str, target: str, met: bool | None) -> None:
    verdict = "" if met is None else ("met" if met else "NOT MET")
    print(f"  {name:<54} {value:>12}   target {target:<16} {verdict}")


async def bench(args: argparse.Namespace, root: Path) -> None:
    from playwright.async_api import async_playwright

    configs = make_project(root / "project")
    home = (root / "home").resolve()
    server = None
    try:
        async with async_playwright() as pw:
            # the browser is open before the server starts, as a user's is: its start-up is not the app's time
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = await browser.new_context(viewport={"width": 1400, "height": 1200})
            page = await context.new_page()
            page.set_default_timeout(WAIT_MS)
            port = free_port()
            # a returning user: their browser has the app's scripts from an earlier visit (a server before this
            # one, same address), so what is measured is the new server's start, not a first visit's downloads
            earlier = Server(configs, (root / "earlier-home").resolve(), root / "earlier.log", args.workers, port)
            try:
                earlier.wait_for_url()
                await run_once(page, earlier.url, "notebook=credit_risk&threshold=0.45", earlier.home)
            finally:
                earlier.stop()
            await page.goto("about:blank")
            server = Server(configs, home, root / "server.log", args.workers, port)
            printed = server.wait_for_url()
            await open_form(page, server.url, "notebook=credit_risk&threshold=0.45")
            ready = time.time()  # the form is on screen and settled: from here on the user's own time, until the click
            first = await run_once(page, server.url, "", home, opened=True)
            visitor = await browser.new_context(viewport={"width": 1400, "height": 1200})  # nothing cached
            fresh = await visitor.new_page()
            fresh.set_default_timeout(WAIT_MS)
            opened_at = time.time()
            await open_form(fresh, server.url, "notebook=credit_risk&threshold=0.46")
            first_visit = time.time() - opened_at
            await visitor.close()
            warm = [await run_once(page, server.url, f"notebook=credit_risk&threshold={0.40 + n / 100:.2f}", home)
                    for n in range(args.runs)]
            rate, updates, slow = await progress_rate(page, server.url, home)
            inter = await interactions(page, server.url, server, args.rounds)
            await context.close()

            many: list[Run] = []
            mixed: list[Run] = []
            form_many: list[float] = []
            split: dict[str, float] = {}
            if args.sessions:
                for round_ in range(args.session_rounds):  # one Chromium page among protocol sessions
                    mixed += await mixed_round(browser, server, args.sessions, 0.50 + round_ / 10)
                contexts = [await browser.new_context(viewport={"width": 1400, "height": 1200}) for _ in range(args.sessions)]
                pages = [await c.new_page() for c in contexts]
                for p in pages:
                    p.set_default_timeout(WAIT_MS)
                await asyncio.gather(*(open_form(p, server.url, f"notebook=credit_risk&threshold={0.80 + n / 100:.2f}")
                                       for n, p in enumerate(pages)))
                before = cpu_split(server.proc.pid)
                began = time.time()
                many = await asyncio.gather(*(run_once(p, server.url, "", home, opened=True) for p in pages))
                split = {k: v - before.get(k, 0.0) for k, v in cpu_split(server.proc.pid).items()}
                split["wall"] = time.time() - began
                for c in contexts:
                    await c.close()
                mark = len(server.lines())
                await mixed_wiggle(browser, server, args.sessions, args.rounds)
                form_many = [ms for name, ms in server.timings(mark) if name == "notebook"]
            await browser.close()
    finally:
        if server is not None:
            server.stop()

    marks = server.marks()
    warm = [r.with_marks(marks) for r in warm]
    many = [r.with_marks(marks) for r in many]
    notebook_time = median([r.duration for r in warm])
    click = median([r.overhead for r in warm])
    first_over = (ready - printed) + (first.tiles - first.click - notebook_time)
    load = os.getloadavg()[0]
    print(f"livedocs app speed: demo credit_risk, {os.cpu_count()} cores (load average {load:.1f} at the end), "
          f"{args.workers} workers, fresh home")
    print(f"  (server start to URL printed: {printed - server.started:.1f} s; warm runs recorded at "
          f"{min(r.duration for r in warm):.2f}-{max(r.duration for r in warm):.2f} s; median of {args.runs})")
    line("click Run -> tiles, minus the run's duration", f"+{click:.2f} s", "<= +0.30 s", click <= 0.3)
    line(f"  (click -> tiles, median)", f"{median([r.tiles - r.click for r in warm]):.2f} s", "", None)
    line("  (click -> run recorded as queued)", f"{median([r.created - r.click for r in warm]):.2f} s", "", None)
    line("  (queued -> finished, minus the recorded duration)",
         f"{median([r.finished - r.created - r.duration for r in warm]):.2f} s", "", None)
    line("  (finished -> tiles on screen)", f"{median([r.tiles - r.finished for r in warm]):.2f} s", "", None)
    line(f"progress updates while running ({updates} in {slow:.1f} s)", f"{rate:.1f} /s", ">= 4 /s", rate >= 4)
    line("first run: URL printed -> tiles, minus notebook time", f"+{first_over:.2f} s", "<= +1.50 s", first_over <= 1.5)
    line("  (of which: URL printed -> the form on screen, settled)", f"{ready - printed:.2f} s", "", None)
    line("  (a first visit, nothing cached: the form on screen in)", f"{first_visit:.2f} s", "", None)
    line("  (and: click -> tiles, minus the notebook time)", f"+{first.tiles - first.click - notebook_time:.2f} s", "",
         None)
    for what, values in inter.items():
        ms = median(values)
        line(f"form interaction server time: {what}", f"{ms:.0f} ms", "<= 150 ms", ms <= 150)
    if not args.sessions:
        return
    sessions = args.sessions
    mixed = [r.with_marks(marks) for r in mixed]
    chromium_runs = mixed[::sessions]  # each round's first: the Chromium page
    print(f"with {sessions} sessions at once: one Chromium page and {sessions - 1} protocol sessions "
          f"(streamlit_client.py), {args.session_rounds} rounds (targets: 2x)")
    app_chromium = median([r.app_latency for r in chromium_runs])
    app_all = median([r.app_latency for r in mixed])
    line("app latency: click -> queued + finished -> tiles, Chromium", f"{app_chromium:.2f} s", "<= 0.60 s",
         app_chromium <= 0.6)
    line("  the same, all sessions (protocol: tiles received)", f"{app_all:.2f} s", "<= 0.60 s", app_all <= 0.6)
    line("  (of which the server's work, all sessions)", f"{median([r.server_part for r in mixed]):.2f} s", "", None)
    line("  (Chromium: click -> tiles, minus the run; queue wait incl.)",
         f"+{median([r.overhead for r in chromium_runs]):.2f} s", "", None)
    line(f"  (single session app latency; the server's work)",
         f"{median([r.app_latency for r in warm]):.2f}; {median([r.server_part for r in warm]):.2f} s", "", None)
    print(f"with {sessions} sessions at once, all in Chromium on this machine (the browsers' rendering shares "
          "the server's cores):")
    line("app latency: click -> queued + finished -> tiles", f"{median([r.app_latency for r in many]):.2f} s",
         "(2x: 0.60 s)", None)
    line("  (finished -> tiles on screen)", f"{median([r.tiles - r.finished for r in many]):.2f} s", "", None)
    line("  (of the app latency, the server's work)", f"{median([r.server_part for r in many]):.2f} s", "", None)
    print(f"  CPU while the {sessions} runs ran ({split['wall']:.1f} s): Chromium {split['chromium']:.1f} s "
          f"(renderers {split['renderer']:.1f} s), livedocs app with its kernels {split['app']:.1f} s, "
          f"other {split['other']:.1f} s")
    ms = median(form_many)
    line(f"form interaction server time, one Chromium page and {sessions - 1} protocol sessions: slider "
         f"({len(form_many)} reruns)", f"{ms:.0f} ms", "<= 300 ms", ms <= 300)
    line(f"  (90th percentile)", f"{statistics.quantiles(form_many, n=10)[-1]:.0f} ms" if len(form_many) > 1 else "-",
         "", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs (median)")
    parser.add_argument("--rounds", type=int, default=4, help="repetitions of each form interaction")
    parser.add_argument("--sessions", type=int, default=10, help="sessions at once")
    parser.add_argument("--session-rounds", type=int, default=3,
                        help="rounds of one Chromium session among protocol sessions")
    parser.add_argument("--workers", type=int, default=2, help="runs at once (livedocs app --workers)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (server.log) and say where")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium).")
    root = Path(tempfile.mkdtemp(prefix="livedocs-app-speed-"))
    try:
        asyncio.run(bench(args, root))
    finally:
        if args.keep:
            print(f"server log: {root / 'server.log'}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
