"""Regenerate docs/app-results.png: a real screenshot of the app's results page.

Runs the credit-risk baseline from the CLI into a temporary store, serves `livedocs app` on a free
port, runs the stress scenario with a changed threshold from the form, and photographs the result
(metric tiles with their change against the baseline, the table, the figure) in Debian's Chromium.

    .venv/bin/python docs/take_screenshot.py
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "app-results.png"
LIVEDOCS = str(Path(sys.executable).with_name("livedocs"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"livedocs app exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(url + "_stcore/health", timeout=5).read() == b"ok":
                return
        time.sleep(0.2)
    raise SystemExit(f"livedocs app did not answer on {url}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="livedocs-shot-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "LIVEDOCS_USER": "ana"}
        subprocess.run([LIVEDOCS, "--home", str(home), "run", "configs/credit_risk.yaml", "-s", "baseline"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        port = free_port()
        proc = subprocess.Popen([LIVEDOCS, "app", "--home", str(home), "--port", str(port)], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_healthy(url, proc)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1900}, device_scale_factor=1)
                page.set_default_timeout(180_000)
                page.goto(url + "?notebook=credit_risk&scenario=stress&threshold=0.45")
                page.get_by_role("button", name="Run", exact=True).click()
                page.wait_for_url(re.compile(r"\?run=[0-9a-f]{12}$"))
                page.get_by_text("Succeeded").wait_for()
                page.get_by_test_id("stMetricValue").first.wait_for()
                page.get_by_test_id("stImage").first.wait_for()
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(1500)  # let the table and image finish painting
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    print(OUT.relative_to(ROOT))


if __name__ == "__main__":
    main()
