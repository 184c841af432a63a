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
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from app_harness import (CHROMIUM, CHROMIUM_ARGS, WAIT_MS, WATCH_PROGRESS, Run, Server, cpu_split, free_port,
                         make_project, open_form, recorded, run_once, settled)


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
    parser.add_argument("--sessions", type=int, default=10, choices=range(0, 11),
                        help="sessions at once (0: none; at most 10, each with its own threshold)")
    parser.add_argument("--session-rounds", type=int, default=3, choices=range(1, 4),  # thresholds 0.50-0.79
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
